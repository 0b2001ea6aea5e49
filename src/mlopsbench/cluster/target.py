"""A configuration's ``kubernetes`` section pointed at the local cluster (``kubernetes.local: true``).

The runner then uses the local cluster's namespaced credentials (never the admin's), its
Prometheus, its container runtime's clock (crictl), and its object store: the store's Service address for both the ``vm`` and the
``pod`` upload setups (this machine reaches Service addresses through kube-proxy, as
pods do), with the credentials ``cluster up`` made for it.
"""

from __future__ import annotations

import json


from ..errors import InputError
from ..objectstore import Endpoint
from . import lifecycle
from .cri import crictl_command
from .node import Layout


def resolve(section: dict) -> dict:
    """``section`` with the running local cluster's addresses filled in, when it asks for it."""
    if not section.get("local"):
        return section
    cluster = lifecycle.status()
    if cluster is None:
        raise InputError("kubernetes.local: the local cluster is not up; run `mlopsbench cluster up` (as root)")
    resolved = section | {"kubeconfig": cluster.runner_kubeconfig, "context": None, "namespace": cluster.namespace,
                          "prometheus_url": cluster.prometheus_url, "scrape_interval_s": cluster.scrape_interval_s,
                          "cri": crictl_command(Layout.default())}
    if "upload" in section:
        resolved["upload"] = section["upload"] | {"vm_endpoint": cluster.store_address,
                                                  "service_endpoint": cluster.store_address,
                                                  "credentials_secret": lifecycle.STORE_SECRET}
    return resolved


def store_endpoint(address: str) -> Endpoint:
    """The local store as this machine reaches it, with the credentials ``cluster up`` made."""
    credentials = json.loads((Layout.default().conf / "store-credentials.json").read_text())
    host, _, port = address.rpartition(":")
    return Endpoint(host, int(port), credentials["access_key"], credentials["secret_key"], kind="cluster")


