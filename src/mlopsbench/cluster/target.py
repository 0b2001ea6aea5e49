"""The cluster a study runs on, as its configuration's ``kubernetes`` section names it, built once.

``ClusterTarget`` holds the API clients, where and how pods run (namespace, image, selectors,
resources, storage), what the cluster offers (Prometheus, the container runtime's clock, the
object store) and, for the ``vm`` and ``pod`` upload setups, ``kubernetes.upload``. The CLI
builds it from the loaded configuration (whose defaults the schema filled in) and hands the
same object to the kubernetes backend and to the cluster upload setups.

With ``kubernetes.local: true`` it points at the cluster of ``mlopsbench cluster up``: the
runner's namespaced credentials (never the admin's), its Prometheus, its runtime's clock
(crictl), and its object store at the store's Service address for both setups (this machine
reaches Service addresses through kube-proxy, as pods do), with the credentials ``cluster up``
made for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import partial
from typing import Callable

from ..errors import InputError
from ..upload.objectstore import Endpoint, endpoint_from_environment
from .kube import KubeClients, connect
from .node import Layout


@dataclass(frozen=True)
class UploadOptions:
    """``kubernetes.upload``: how the vm and pod upload setups use the cluster."""

    service_endpoint: str           # the store as a pod reaches it
    # The store as this machine reaches it, with its credentials: resolved only when a setup
    # uploads from here (a pipeline run on the same cluster needs no store credentials).
    vm_store: Callable[[], Endpoint]
    credentials_secret: str         # the Secret the uploader Job reads the store's keys from
    job_node_selector: dict
    job_resources: dict
    job_timeout_s: float
    netem: bool
    netem_manifest: str
    netem_image: str
    netem_node_selector: dict
    netem_namespace: str
    netem_interface: str


@dataclass(frozen=True)
class ClusterTarget:
    clients: KubeClients
    namespace: str
    image: str
    image_pull_policy: str
    service_account: str            # what step and uploader pods run as (no API rights)
    node_selector: dict
    resources: dict
    storage_class: str | None
    read_write_many: bool
    volume_size: str
    prometheus_url: str | None
    scrape_interval_s: float
    cri: list[str] | None           # crictl's command line, where this machine is the node
    api_silence_s: float            # the API server may not answer this long before a run fails
    node_silence_s: float           # a step's node may not report this long before a run fails
    upload: UploadOptions | None


RUN_KEYS = tuple(f.name for f in fields(ClusterTarget) if f.name not in ("clients", "upload"))
UPLOAD_KEYS = tuple(f.name for f in fields(UploadOptions) if f.name != "vm_store")
# What a vm or pod setup needs to know (the schema requires them where those setups run).
WHERE_THE_STORE_IS = ("vm_endpoint", "service_endpoint", "credentials_secret")


def _local(section: dict) -> dict:
    """``section`` with the running local cluster's addresses filled in."""
    from . import lifecycle, objects
    from .cri import crictl_command

    cluster = lifecycle.status()
    if cluster is None:
        raise InputError("kubernetes.local: the local cluster is not up; run `mlopsbench cluster up` (as root)")
    resolved = section | {"kubeconfig": cluster.runner_kubeconfig, "context": None, "namespace": cluster.namespace,
                          "prometheus_url": cluster.prometheus_url, "scrape_interval_s": cluster.scrape_interval_s,
                          "cri": crictl_command(Layout.default())}
    if section.get("upload"):
        resolved["upload"] = section["upload"] | {"vm_endpoint": cluster.store_address,
                                                  "service_endpoint": cluster.store_address,
                                                  "credentials_secret": objects.STORE_SECRET}
    return resolved


def local_store(address: str) -> Endpoint:
    """The local cluster's store as this machine reaches it, with the credentials ``cluster up`` made."""
    credentials = json.loads((Layout.default().conf / "store-credentials.json").read_text())
    host, _, port = address.rpartition(":")
    return Endpoint(host, int(port), credentials["access_key"], credentials["secret_key"], kind="cluster")


def target_from_config(section: dict, clients: KubeClients | None = None) -> ClusterTarget:
    """The target of a loaded ``kubernetes`` section; connects unless given clients (a unit
    test's fake API)."""
    if section.get("local"):
        section = _local(section)
    upload = section.get("upload") or {}
    options = None
    if all(key in upload for key in WHERE_THE_STORE_IS):  # else no vm or pod setup can run here
        vm_store = partial(local_store, upload["vm_endpoint"]) if section.get("local") else \
            partial(endpoint_from_environment, upload["vm_endpoint"], False)
        options = UploadOptions(vm_store=vm_store, **{key: upload[key] for key in UPLOAD_KEYS})
    return ClusterTarget(clients=clients or connect(section), upload=options,
                         **{key: section[key] for key in RUN_KEYS})
