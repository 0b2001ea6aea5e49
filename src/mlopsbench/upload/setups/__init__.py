"""The registry of upload setups: one module each, behind one small interface.

A setup module defines ``SETUP``, a :class:`Setup`, named like the module: where the
uploader sits and how its traffic reaches the store. It is imported when first asked for. The CLI's choices, the schema's check, Snakemake's wildcards,
DVC's stages, the analysis (claims C7-C9 per setup, the thesis's VM-against-pod
comparison) and the report ask this registry instead of naming setups, so adding one
touches its own module and the schema's enum only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...registry import Registry

# The thesis's two setups (Section 4.2): a VM uploading to MinIO, and a pod doing the same.
THESIS_ROLES = {"vm": "VM to VM", "pod": "Kubernetes pod to the MinIO Service"}


@dataclass(frozen=True)
class Setup:
    name: str
    thesis_role: str        # which of the thesis's setups it stands for: "vm" or "pod"
    peer: str               # the setup of the other role it is compared with (claim C9)
    path: str               # the methods text: where the uploader sits and how it reaches the store
    unavailable: Callable   # unavailable(spec) -> why it cannot run on this machine (then skipped), or None
    store: Callable         # store(spec) -> the kind of store it uploads to (part of the records' parameters)
    plan: Callable          # plan(spec, models, done) -> the uploads still to do
    run: Callable           # run(spec, plan, sink): upload, hand each UploadRecord to sink, raise StoreError on failure
    # target(kubernetes section) -> CellSpec.cluster (a cluster.target.ClusterTarget), for a setup
    # that runs against a cluster; the CLI builds it, and the store there, once per cell
    cluster_target: Callable | None = None

    @property
    def on_cluster(self) -> bool:
        return self.cluster_target is not None


def always_available(spec) -> None:
    return None


SETUPS: Registry = Registry(__name__, __path__, "SETUP", "upload setup")


def setup(name: str) -> Setup:
    return SETUPS.entry(name)


def comparisons(names) -> list[tuple[str, str]]:
    """(vm-role setup, its pod-role peer) for every pair of ``names`` the thesis would compare."""
    names = set(names)
    return [(name, SETUPS[name].peer) for name in sorted(names)
            if name in SETUPS and SETUPS[name].thesis_role == "vm" and SETUPS[name].peer in names]
