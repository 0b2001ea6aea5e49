"""A study's statistics as one typed bundle: each table a field, written and read here only.

``analysis.analyse`` fills a ``StatsBundle``; ``write`` puts every table in
``<stats dir>/<field>.csv`` and the facts about the study (``Summary``) in ``summary.json``;
``read`` gives the same bundle back to the figures and the report. A table the study could
not make (its experiment missing) is an empty frame.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd

from .. import atomic

SUMMARY = "summary.json"


@dataclass
class Summary:
    """What the figures and the report need to know about the study beside its tables."""

    equivalence_margin: float               # claim C9's margin, a share of the first setup's mean
    little_change_points: float             # claim C2's band, in percentage points
    missing: list[str] = field(default_factory=list)   # experiments without data: pipeline, upload, serving
    backends: list[str] = field(default_factory=list)
    setups: list[str] = field(default_factory=list)
    split_backend: str | None = None        # the backend whose jobs judge the thesis's claims
    pipeline_runs: int = 0
    pipeline_runs_superseded: int = 0
    pipeline_runs_not_succeeded: int = 0
    uploads: int = 0
    uploads_not_ok: int = 0
    emulations: list[str] = field(default_factory=list)
    warmup_uploads: list[int] = field(default_factory=list)
    claims: dict[str, str] = field(default_factory=dict)  # claim id -> verdict
    # What the counted runs and uploads recorded they were measured with (never the configuration):
    models: list[str] = field(default_factory=list)        # smallest first
    epochs: list[int] = field(default_factory=list)
    cores: list[int] = field(default_factory=list)         # the runner's cores
    cpu_per_step: list[dict] = field(default_factory=list)  # each distinct step -> cores asked for
    pipeline_repetitions: list[int] = field(default_factory=list)  # counted runs per backend and configuration
    upload_repetitions: list[int] = field(default_factory=list)    # verified uploads per setup, latency and size
    kubernetes_versions: list[str] = field(default_factory=list)   # what the runs' API servers reported
    kubelet_builds: list[str] = field(default_factory=list)        # the local cluster's kubelet: stock or a variant
    pythons: dict[str, list[str]] = field(default_factory=dict)     # backend -> the interpreter builds its steps ran on
    unmeasured: dict[str, int] = field(default_factory=dict)        # a reference's design parts still to be measured
    calibrated_runs: int = 0                                       # counted runs with a calibration on both ends
    drifted_runs: int = 0                                          # ...whose calibration moved more than 10 %
    blocks_left_out: dict[str, str] = field(default_factory=dict)   # block -> why its runs are not compared
    serving_updates: int = 0                                       # the serving experiment (beyond the thesis)
    serving_updates_failed: int = 0
    serving_failed_requests: int = 0                               # failed or unanswered, through every update
    serving_frameworks: list[str] = field(default_factory=list)
    serving_poll_intervals: list[float] = field(default_factory=list)
    serving_rates: list[float] = field(default_factory=list)
    serving_rollouts: list[str] = field(default_factory=list)      # the roll-outs' strategy and drain, as recorded
    # A reference measured twice (its topology part): the emulations of the first measure and of the second.
    compared_emulations: list[list[str]] = field(default_factory=list)


def _table() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class StatsBundle:
    summary: Summary
    pipeline_timestamp_sources: pd.DataFrame = field(default_factory=_table)  # rows per backend and clock
    pipeline_steps_summary: pd.DataFrame = field(default_factory=_table)      # per step: durations, overheads
    pipeline_run_overhead: pd.DataFrame = field(default_factory=_table)       # one row per run
    pipeline_overall_summary: pd.DataFrame = field(default_factory=_table)    # the runs' overhead per configuration
    pipeline_startup_summary: pd.DataFrame = field(default_factory=_table)    # creation to scheduling to running
    pipeline_runs_summary: pd.DataFrame = field(default_factory=_table)       # end-to-end wall times
    pipeline_overhead_parts: pd.DataFrame = field(default_factory=_table)     # wait, start-up, marshalling, rest
    pipeline_memory: pd.DataFrame = field(default_factory=_table)             # each step's peak resident memory
    pipeline_clocks: pd.DataFrame = field(default_factory=_table)             # each clock's overhead against ours
    pipeline_clock_lags: pd.DataFrame = field(default_factory=_table)         # each clock's stamps against ours
    pipeline_clock_twins: pd.DataFrame = field(default_factory=_table)        # two names, one clock, per event
    pipeline_pod_seconds: pd.DataFrame = field(default_factory=_table)        # where a pod's seconds go (CRI)
    pipeline_startup_shares: pd.DataFrame = field(default_factory=_table)     # claim C6: pods within a second
    pipeline_machine: pd.DataFrame = field(default_factory=_table)            # each run's calibrations and speed
    pipeline_block_pairs: pd.DataFrame = field(default_factory=_table)        # ratios between backends per block
    pipeline_pair_summary: pd.DataFrame = field(default_factory=_table)       # ...per configuration and pooled
    pipeline_pod_pairs: pd.DataFrame = field(default_factory=_table)          # pod minus process, per block and step
    pipeline_pod_cost: pd.DataFrame = field(default_factory=_table)           # ...per step and over all steps
    pipeline_dnnfit_effects: pd.DataFrame = field(default_factory=_table)     # dnnfit per backend, stolen CPU held
    pipeline_ablation: pd.DataFrame = field(default_factory=_table)           # a pod's cost per kubelet and case
    pipeline_ablation_parts: pd.DataFrame = field(default_factory=_table)     # ...its parts
    pipeline_dnnfit_causes: pd.DataFrame = field(default_factory=_table)      # dnnfit, a pod's candidate causes taken away
    upload_summary: pd.DataFrame = field(default_factory=_table)
    upload_equivalence: pd.DataFrame = field(default_factory=_table)          # claim C9's tests
    upload_cells: pd.DataFrame = field(default_factory=_table)                # finished or skipped, and why
    serving_summary: pd.DataFrame = field(default_factory=_table)             # time to serve per cell
    serving_parts: pd.DataFrame = field(default_factory=_table)               # its parts' means per cell
    serving_requests: pd.DataFrame = field(default_factory=_table)            # requests through the updates
    serving_latency: pd.DataFrame = field(default_factory=_table)             # steady against during an update
    serving_comparisons: pd.DataFrame = field(default_factory=_table)         # roll-out vs in place; vm vs pod
    trends: pd.DataFrame = field(default_factory=_table)                      # slopes with HC3 intervals
    claims: pd.DataFrame = field(default_factory=_table)                      # the thesis's claims judged
    emulation_cells: pd.DataFrame = field(default_factory=_table)             # a cell measured twice, side by side
    emulation_claims: pd.DataFrame = field(default_factory=_table)            # ...and the claims judged twice
    emulation_upload_cells: pd.DataFrame = field(default_factory=_table)      # ...the second's cells and delay checks

    @classmethod
    def table_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "summary")

    def write(self, out_dir: str | Path) -> list[Path]:
        out_dir = Path(out_dir)
        written = []
        for name in self.table_names():
            atomic.write_csv(out_dir / f"{name}.csv", getattr(self, name))
            written.append(out_dir / f"{name}.csv")
        atomic.write_json(out_dir / SUMMARY, json.loads(json.dumps(asdict(self.summary), default=float)))
        return written + [out_dir / SUMMARY]

    @classmethod
    def read(cls, stats_dir: str | Path) -> "StatsBundle":
        stats_dir = Path(stats_dir)
        tables = {}
        for name in cls.table_names():
            try:
                tables[name] = pd.read_csv(stats_dir / f"{name}.csv")
            except pd.errors.EmptyDataError:  # a table without rows
                tables[name] = pd.DataFrame()
        return cls(Summary(**json.loads((stats_dir / SUMMARY).read_text())), **tables)
