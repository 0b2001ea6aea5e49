"""The cluster a study runs on, as its configuration's ``kubernetes`` section names it, built once.

``ClusterTarget`` holds the API clients, where and how pods run (namespace, image, selectors,
resources, storage) and what the cluster offers (Prometheus, the container runtime's clock). The
CLI builds it from the loaded configuration (whose defaults the schema filled in) and hands the
same object to the kubernetes backend and to the setups on the cluster (the store there,
``kubernetes.upload``, is ``store.on_cluster``'s).

With ``kubernetes.local: true`` it points at the cluster of ``mlopsbench cluster up``: the
runner's namespaced credentials (never the admin's), its Prometheus, its first node's runtime
clock (crictl), its own account of a stopped daemon, which a failed run's message adds, and,
where the edge is a node of its own, the edge's network namespace (where its link's latency is
added).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from ..errors import InputError
from .kube import KubeClients, connect
from .node import Layout


@dataclass(frozen=True)
class ClusterTarget:
    clients: KubeClients
    namespace: str
    image: str
    image_pull_policy: str
    service_account: str            # what step and uploader pods run as (no API rights)
    node_selector: dict
    resources: dict
    cpu_limit: bool                 # a step's cores are its CPU limit too (a CFS quota), not only its request
    storage_class: str | None
    read_write_many: bool
    volume_size: str
    prometheus_url: str | None
    scrape_interval_s: float
    cri: list[str] | None           # crictl's command line, where this machine is the node
    api_silence_s: float            # the API server may not answer this long before a run fails
    node_silence_s: float           # a step's node may not report this long before a run fails
    scheduler_silence_s: float      # no scheduler may look at a step's pod this long before a run fails
    kubelet: str | None = None      # the local cluster's kubelet build (stock or a variant); None: not known
    problems: Callable[[], list[str]] | None = None  # the local cluster's own account of what is wrong
    edge_network: str | None = None  # the local cluster's edge node's network namespace (a path); None: no such node


LOCAL_KEYS = ("kubelet", "problems", "edge_network")   # what only the local cluster tells
RUN_KEYS = tuple(f.name for f in fields(ClusterTarget) if f.name not in ("clients", *LOCAL_KEYS))


def _local(section: dict) -> dict:
    """``section`` with the running local cluster's addresses filled in."""
    from . import lifecycle
    from .cri import crictl_command

    cluster = lifecycle.status()
    if cluster is None:
        raise InputError("kubernetes.local: the local cluster is not up; run `mlopsbench cluster up` (as root)")
    edge = cluster.edge()
    return section | {"kubeconfig": cluster.runner_kubeconfig, "context": None, "namespace": cluster.namespace,
                      "prometheus_url": cluster.prometheus_url, "scrape_interval_s": cluster.scrape_interval_s,
                      "cri": crictl_command(Layout.default()), "kubelet": cluster.kubelet_variant,
                      "problems": lifecycle.problems,
                      "edge_network": f"/run/netns/{edge['netns']}" if edge else None}


def target_from_config(section: dict, clients: KubeClients | None = None) -> ClusterTarget:
    """The target of a loaded ``kubernetes`` section; connects unless given clients (a unit
    test's fake API)."""
    if section.get("local"):
        section = _local(section)
    return ClusterTarget(clients=clients or connect(section), **{key: section.get(key) for key in LOCAL_KEYS},
                         **{key: section[key] for key in RUN_KEYS})
