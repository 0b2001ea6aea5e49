"""vm: this host uploads to the cluster's store as it reaches it from outside (the thesis's VM to VM,
``kubernetes.upload.vm_endpoint``), through the kernel-path delay at the store, the edge node's
netem, or the delay proxy."""

from __future__ import annotations

from ...cluster.target import target_from_config
from ...rawdirs import CellDir
from ...store.on_cluster import cluster_latency
from ..plan import CellSpec, local_plan
from ..transfer import Sink, upload_from_here
from . import Setup, always_available


def store_kind(spec: CellSpec) -> str:
    return "cluster"


def run(spec: CellSpec, plan: list[dict], sink: Sink) -> None:
    cluster, store = spec.on_cluster()
    endpoint = store.vm_store()
    with cluster_latency(cluster, store, spec.latency_ms, CellDir(spec.out_dir).delay) as emulation:
        upload_from_here(spec, plan, endpoint, store_kind(spec), emulation, sink)


SETUP = Setup(
    name="vm", thesis_role="vm", peer="pod",
    path="vm: this machine uploads to the cluster's store through the address it reaches from outside "
         "(the thesis's VM to VM).",
    unavailable=always_available, store=store_kind, plan=local_plan, run=run,
    cluster_target=target_from_config,
)
