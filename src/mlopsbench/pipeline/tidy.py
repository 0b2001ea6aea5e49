"""Build the tidy tables of the pipeline experiment from raw run exports.

``pipeline_steps``: one row per run, step and clock (docs/design.md's columns, and the status of
the step's run); each backend reads its own exports (``Backend.step_rows``). ``pipeline_runs``: one row per run, end to
end. A run's identity comes from its ``run-started`` record, never from its directory.

Earlier attempts kept beside a run directory are read too: one that did not finish
(``<rep>.attempt-*``) shows up with ``status = failed`` or ``interrupted`` rather than
vanishing; one that succeeded and was replaced by a re-run (``<rep>.superseded-*``) is
listed with ``status = superseded``, so that no statistic counts it twice.

Runs of one group (backend and configuration) must share their parameters: mixing, say,
2-epoch and 20-epoch runs in one mean is refused with the runs named.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

from .. import atomic
from ..data.models import trainable_params
from ..paths import architecture_name
from ..rawdirs import RunDir
from ..records import Calibration, CpuTimes, RunFinished, RunStarted
from .backends import backend, primary_clocks
from .calibration import shares
from .run import read_events
from .timing import RUNTIME_COLUMNS, TidyError, add_core_waits, with_overhead

STEP_COLUMNS = ["backend", "series", "dataset_mb", "model", "trainable_params", "rep", "run_id", "step",
                "created", "scheduled", "started", "finished", "timestamp_source", "cell_seconds",
                "duration_seconds", "overhead_seconds", "overhead_pct", "status", "run_status", "raw_dir", "wait_seconds",
                "startup_seconds", "marshal_seconds", "rest_seconds", "peak_rss_mib", "python", *RUNTIME_COLUMNS,
                "cpu_seconds", "run_queue_seconds", "machine_busy_seconds", "machine_steal_seconds", "major_faults",
                "disk_read_blocks", "disk_write_blocks", "cfs_periods",
                "cfs_throttled_periods", "cfs_throttled_seconds", "core_wait_seconds",
                "overhead_nowait_seconds", "overhead_nowait_pct"]
# Where a run stood in its block, and the machine around it: the calibrations just before and after
# (seconds of the pure-Python loop, seconds per Keras training step, the CPU's share stolen by the
# host meanwhile) and the CPU's idle, stolen and waiting shares over the run itself.
MACHINE_COLUMNS = ["block", "block_position", "block_order", "order_seed", "cal_python",
                   *[f"cal_{phase}_{what}" for phase in ("before", "after")
                     for what in ("t", "python_s", "keras_step_s", "steal_pct")],
                   "cpu_idle_pct", "cpu_steal_pct", "cpu_iowait_pct"]
RUN_COLUMNS = ["study", "backend", "series", "dataset_mb", "model", "trainable_params", "rep", "run_id", "created",
               "finished", "wall_seconds", "cell_seconds", "overhead_seconds", "overhead_pct",
               "imports_seconds", "steps", "steps_failed", "status", "raw_dir", "epochs", "cores", "cpu_per_step",
               "server_version", "kubelet_build", "python", *MACHINE_COLUMNS]
# What an earlier attempt kept beside a run directory is called, and how the tables list it.
KEPT = {"attempt": None, "superseded": "superseded"}

log = logging.getLogger(__name__)


class NothingMeasured(TidyError):
    """A run directory whose first record (run-started) is missing or was cut short."""


def _base(started: RunStarted, run_id: str, raw_dir: Path) -> dict:
    run = started.run
    return {"study": run.study, "backend": run.backend, "series": run.series, "dataset_mb": float(run.dataset_mb),
            "model": architecture_name(run.width, run.hidden_layers),
            "trainable_params": trainable_params(run.width, run.hidden_layers), "rep": int(run.rep),
            "run_id": run_id, "raw_dir": str(raw_dir)}


def read_run(run_dir: str | Path, kept_as: str | None = None) -> tuple[list[dict], dict]:
    """Step rows and the run row of one raw run directory. ``kept_as`` is "attempt" or
    "superseded" for a directory set aside beside the run."""
    rows, run, _ = _read(run_dir, kept_as)
    return rows, run


def _read(run_dir: str | Path, kept_as: str | None) -> tuple[list[dict], dict, RunStarted]:
    run_dir = Path(run_dir)
    events_path = RunDir(run_dir).events
    if not events_path.exists():
        raise TidyError(f"{run_dir}: no {events_path.name}; is this a run directory?")
    events = read_events(events_path)
    if not events or not isinstance(events[0], RunStarted):
        raise NothingMeasured(f"{events_path}:1: expected a run-started record")
    started: RunStarted = events[0]
    run_id = started.run.run_id + (f".{kept_as}-{started.attempt}" if kept_as else "")
    base = _base(started, run_id, run_dir)
    reader = backend(started.run.backend)
    rows = reader.step_rows(run_dir, run_id, events, base)
    for clock in {r["timestamp_source"] for r in rows}:
        add_core_waits([r for r in rows if r["timestamp_source"] == clock], started.cores, started.cpu_per_step)
    ending = events[-1] if isinstance(events[-1], RunFinished) else RunFinished(t=None, status="interrupted")
    status = KEPT.get(kept_as) or ending.status
    for row in rows:
        # A step that finished inside a failed or interrupted attempt is no measurement of a
        # counted run: the statistics count only steps whose run succeeded.
        row["run_status"] = status
        if status == "superseded":
            row["status"] = "superseded"
    finished = [e.t for e in events if getattr(e, "event", None) == "finished"]
    created = [e.t for e in events if getattr(e, "event", None) == "created"]
    primary = [r for r in rows if r["timestamp_source"] in primary_clocks()]
    run = base | {
        "created": min(created, default=None), "finished": max(finished, default=None),
        "cell_seconds": sum(r["cell_seconds"] or 0.0 for r in primary), "imports_seconds": None,
        "steps": len(primary), "steps_failed": sum(r["status"] == "failed" for r in primary), "status": status,
        # What the run was measured with, as it recorded it: the report reads these, not the configuration.
        "epochs": started.parameters.get("EPOCHS"), "cores": started.cores,
        "cpu_per_step": json.dumps(started.cpu_per_step, sort_keys=True), "server_version": None, "kubelet_build": None,
        # The interpreter builds its steps ran on (one, unless the backend mixed them).
        "python": "; ".join(sorted({r["python"] for r in primary if r.get("python")})) or None,
    } | _machine(events) | reader.run_fields(run_dir, events)
    with_overhead(run)
    run["wall_seconds"] = run.pop("duration_seconds")
    return rows, run, started


def _machine(events: list) -> dict:
    """The run's place in its block, its calibrations and the CPU's shares over it (None where absent)."""
    block = events[0].block
    fields = dict.fromkeys(MACHINE_COLUMNS)
    if block is not None:
        fields |= {"block": block.block_id, "block_position": block.position, "block_order": " > ".join(block.order),
                   "order_seed": block.seed}
    for found in (e for e in events if isinstance(e, Calibration)):
        fields |= {"cal_python": " ".join(found.python.split()), f"cal_{found.phase}_t": found.t,
                   f"cal_{found.phase}_python_s": found.python_loop_seconds,
                   f"cal_{found.phase}_keras_step_s": found.keras_step_seconds,
                   f"cal_{found.phase}_steal_pct": 100 * shares(found.cpu_before, found.cpu_after)["steal"]}
    ticks = {e.phase: e.ticks for e in events if isinstance(e, CpuTimes)}
    if {"start", "end"} <= ticks.keys():
        over = shares(ticks["start"], ticks["end"])
        fields |= {"cpu_idle_pct": 100 * over["idle"], "cpu_steal_pct": 100 * over["steal"],
                   "cpu_iowait_pct": 100 * over["iowait"]}
    return fields


def kept_beside(run_dir: Path) -> list[tuple[Path, str]]:
    """Earlier attempts the runner kept beside a run directory, oldest first, with their kind."""
    found = [(path, kind) for kind in KEPT for path in run_dir.parent.glob(f"{run_dir.name}.{kind}-*")]
    return sorted(found, key=lambda item: item[0].name.rpartition("-")[2])


def _check_parameters(runs: list[tuple[dict, RunStarted]]) -> None:
    """Runs of one backend and configuration that count must share every parameter; an attempt
    that failed or was interrupted is never counted, so never compared."""
    groups: dict[tuple, list[tuple[dict, RunStarted]]] = {}
    for run, started in runs:
        if run["status"] == "succeeded":
            groups.setdefault((started.run.backend, started.run.configuration), []).append((run, started))
    for (backend_name, configuration), members in groups.items():
        reference_run, reference = members[0]
        for run, started in members[1:]:
            differ = sorted(k for k in set(reference.parameters) | set(started.parameters)
                            if reference.parameters.get(k) != started.parameters.get(k) and k != "DATASET")
            if differ:
                what = ", ".join(f"{k} {reference.parameters.get(k)!r} vs {started.parameters.get(k)!r}" for k in differ)
                raise TidyError(f"{backend_name} {configuration}: runs {reference_run['raw_dir']} and {run['raw_dir']} "
                                f"were measured with different parameters ({what}); re-run the older one "
                                "or leave it out")


def _unique_ids(step_rows: list[dict], runs: list[dict]) -> None:
    """A run's id is its backend, configuration and repetition, unique within a study. Where runs of
    one id come together (a benchmark's variants of one step, kept in folders of their own), every
    run is named by its directory under the runs' common folder instead, so that no step is joined
    to another run's row and counted twice."""
    ids = Counter(run["run_id"] for run in runs)
    if max(ids.values(), default=1) == 1:
        return
    folders = Counter(run["raw_dir"] for run in runs)
    twice = [folder for folder, n in folders.items() if n > 1]
    if twice:
        raise TidyError(f"{twice[0]}: this run directory was given twice; each run is counted once")
    common = Path(os.path.commonpath(list(folders)))
    renamed = {folder: Path(folder).relative_to(common).as_posix() for folder in folders}
    log.info("%d ids (backend/configuration/rep) name more than one run: each run is named by its folder under %s",
             sum(n > 1 for n in ids.values()), common)
    for row in [*runs, *step_rows]:
        row["run_id"] = renamed[row["raw_dir"]]


def tidy_pipeline(run_dirs: list[str | Path], steps_out: str | Path, runs_out: str | Path):
    """Write both tables atomically; return them as DataFrames."""
    import pandas as pd

    step_rows, runs = [], []
    for run_dir in map(Path, run_dirs):
        for directory, kept_as in [*kept_beside(run_dir), (run_dir, None)]:
            try:
                rows, run, started = _read(directory, kept_as)
            except NothingMeasured as exc:
                if not kept_as:
                    raise
                log.warning("%s; this earlier attempt ended before it measured anything and is set aside", exc)
                continue
            step_rows += rows
            runs.append((run, started))
    _check_parameters(runs)
    _unique_ids(step_rows, [run for run, _ in runs])
    superseded = sum(run["status"] == "superseded" for run, _ in runs)
    if superseded:
        log.info("%d superseded runs (replaced by a re-run) are listed but not counted", superseded)
    steps = pd.DataFrame(step_rows, columns=STEP_COLUMNS)
    run_table = pd.DataFrame([run for run, _ in runs], columns=RUN_COLUMNS)
    atomic.write_parquet(steps_out, steps)
    atomic.write_parquet(runs_out, run_table)
    return steps, run_table
