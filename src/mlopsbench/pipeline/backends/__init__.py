"""The registry of pipeline backends: one module each, behind one ``run(plan, spec)``.

A backend module defines ``BACKEND``, a :class:`Backend`, named like the module; it is
imported when first asked for (``pipeline-run`` loads the one it runs). Everything else (the CLI's
choices, the schema's check, Snakemake's wildcards, DVC's stages, the tidy readers,
the report's methods text) asks this registry instead of naming backends, so adding one
touches its own module and the schema's enum only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...registry import Registry


@dataclass(frozen=True)
class Backend:
    name: str
    split: bool          # one job per notebook cell (the thesis's pipeline), or the notebook in one process
    clock: str           # the timestamp_source its statistics read
    timestamps: str      # the methods text: how each step's times are taken
    run: Callable        # run(plan, spec) -> "succeeded", or raises RunFailed
    step_rows: Callable  # step_rows(run_dir, run_id, events, base) -> tidy rows of every clock it keeps
    run_fields: Callable[[Path, list], dict] = lambda run_dir, events: {}
    # target(kubernetes section) -> RunSpec.cluster (a cluster.target.ClusterTarget), for a backend
    # that dispatches to a cluster; the CLI builds it once per run
    cluster_target: Callable | None = None

    @property
    def on_cluster(self) -> bool:
        return self.cluster_target is not None


BACKENDS: Registry = Registry(__name__, __path__, "BACKEND", "backend")


def backend(name: str) -> Backend:
    return BACKENDS.entry(name)


def primary_clocks() -> set[str]:
    """The clocks the statistics read, one per backend; the others are kept for comparison."""
    return {b.clock for b in BACKENDS.values()}
