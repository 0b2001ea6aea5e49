"""vm: this host uploads to the cluster's store as it reaches it from outside (the thesis's VM to VM,
``kubernetes.upload.vm_endpoint``), through the delay proxy or behind the edge node's netem."""

from __future__ import annotations

from ...cluster.target import target_from_config
from ..plan import CellSpec, local_plan
from ..transfer import Sink, upload_from_here
from . import Setup, always_available
from ._cluster import cluster_latency, options_of


def store_kind(spec: CellSpec) -> str:
    return "cluster"


def run(spec: CellSpec, plan: list[dict], sink: Sink) -> None:
    endpoint = options_of(spec).upload.vm_store()
    with cluster_latency(spec) as emulation:
        upload_from_here(spec, plan, endpoint, store_kind(spec), emulation, sink)


SETUP = Setup(
    name="vm", thesis_role="vm", peer="pod",
    path="vm: this machine uploads to the cluster's store through the address it reaches from outside "
         "(the thesis's VM to VM).",
    unavailable=always_available, store=store_kind, plan=local_plan, run=run,
    cluster_target=target_from_config,
)
