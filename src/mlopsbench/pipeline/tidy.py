"""Build the tidy tables of the pipeline experiment from raw run exports.

``pipeline_steps``: one row per run and step (DESIGN.md's columns). ``cell_seconds``
comes from the step's own ``[JT]`` line, ``duration = finished - created``,
``overhead = duration - cell_seconds`` and ``overhead_pct = overhead / duration``
(Section 4.1). A succeeded step without its ``[JT]`` line is an error that names the
run and the step. ``pipeline_runs``: one row per run, end to end.

Earlier attempts that did not finish (``<rep>.attempt-*``, kept by the runner) are
read too, so a failure shows up as ``status = failed`` rather than vanishing.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import atomic
from ..errors import InputError
from ..models import trainable_params
from ..paths import architecture_name
from .compiler import MARKER
from .events import EVENTS, read_events
from .prometheus import read_saved

_JT = re.compile(r"^\[JT\][ _]+(\S+?)[ _]+time\(s\)[ _]+([-+0-9.eE]+)\s*$", re.M)
_CELL = re.compile(rf"^{re.escape(MARKER)} cell-(start|end) (\S+) (\d+\.\d+)$", re.M)
_IMPORTED = re.compile(rf"^{re.escape(MARKER)} imported (\d+\.\d+)$", re.M)

# The clock each backend's statistics read; other rows are kept for comparison.
PRIMARY_SOURCES = ("local-runner", "in-process", "watch")
STEP_COLUMNS = ["backend", "series", "dataset_mb", "model", "trainable_params", "rep", "run_id", "step",
                "created", "scheduled", "started", "finished", "timestamp_source", "cell_seconds",
                "duration_seconds", "overhead_seconds", "overhead_pct", "status"]
RUN_COLUMNS = ["backend", "series", "dataset_mb", "model", "trainable_params", "rep", "run_id", "created",
               "finished", "wall_seconds", "cell_seconds", "overhead_seconds", "overhead_pct",
               "imports_seconds", "steps", "steps_failed", "status"]


class TidyError(InputError):
    pass


def _jt_times(log_path: Path) -> dict[str, float]:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return {name: float(seconds) for name, seconds in _JT.findall(text)}


def _run_labels(run_id: str, started: dict) -> dict:
    labels = started["labels"]
    width, layers = int(labels["width"]), int(labels["hidden_layers"])
    return {"backend": started["backend"], "series": labels["series"], "dataset_mb": float(labels["dataset_mb"]),
            "model": architecture_name(width, layers), "trainable_params": trainable_params(width, layers),
            "rep": int(labels["rep"]), "run_id": run_id}


def _with_overhead(row: dict) -> dict:
    duration = row["finished"] - row["created"] if row.get("finished") is not None and row.get("created") is not None else None
    row["duration_seconds"] = duration
    if duration is not None and row.get("cell_seconds") is not None:
        row["overhead_seconds"] = duration - row["cell_seconds"]
        row["overhead_pct"] = 100 * row["overhead_seconds"] / duration if duration > 0 else None
    else:
        row["overhead_seconds"] = row["overhead_pct"] = None
    return row


_FIELDS = {"created": "created", "dispatched": "scheduled", "scheduled": "scheduled", "started": "started",
           "finished": "finished"}


def _event_steps(run_dir: Path, run_id: str, events: list[dict], base: dict, source: str,
                 time_key: str = "t") -> list[dict]:
    """Rows from the event log; ``time_key`` picks the clock ("t": ours, "api_t": the API server's)."""
    steps: dict[str, dict] = {name: {"step": name, "status": "not-run"} for name, _ in events[0]["steps"]}
    for event in events:
        step = steps.get(event.get("step"))
        if step is None:
            continue
        if event["event"] in _FIELDS and event.get(time_key) is not None:
            step[_FIELDS[event["event"]]] = event[time_key]
        if event["event"] == "finished":
            step["status"] = event["status"]
        elif event["event"] == "skipped":
            step["status"] = "skipped"
    rows = []
    for name, step in steps.items():
        times = _jt_times(run_dir / "logs" / f"{name}.log")
        if step["status"] == "succeeded" and name not in times:
            raise TidyError(f"run {run_id}, step {name}: {run_dir / 'logs' / name}.log has no "
                            f"'[JT] {name} time(s)' line")
        rows.append(_with_overhead(base | step | {"timestamp_source": source, "cell_seconds": times.get(name)}))
    return rows


def _local_steps(run_dir: Path, run_id: str, events: list[dict], base: dict) -> list[dict]:
    return _event_steps(run_dir, run_id, events, base, "local-runner")


def _kubernetes_steps(run_dir: Path, run_id: str, events: list[dict], base: dict) -> list[dict]:
    """Three clocks, kept apart: the watcher's receive times, the API's, kube-state-metrics'."""
    rows = _event_steps(run_dir, run_id, events, base, "watch")
    rows += _event_steps(run_dir, run_id, events, base, "api", time_key="api_t")
    pods = next((e["pods"] for e in events if e["event"] == "cluster"), {})
    metrics = read_saved(run_dir / "prometheus")
    for row in [r for r in rows if r["timestamp_source"] == "watch"]:
        times = metrics.get(pods.get(row["step"]), {})
        rows.append(_with_overhead(row | {"timestamp_source": "prometheus", "scheduled": times.get("scheduled"),
                                          "created": times.get("created"), "started": times.get("started"),
                                          "finished": times.get("finished")}))
    return rows


def _monolithic_steps(run_dir: Path, run_id: str, events: list[dict], base: dict) -> list[dict]:
    log_path = run_dir / "logs" / "notebook.log"
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    marks: dict[str, dict[str, float]] = {}
    for edge, name, t in _CELL.findall(text):
        marks.setdefault(name, {})[edge] = float(t)
    times = _jt_times(log_path)
    ok = events[-1].get("status") == "succeeded"
    rows = []
    for name, _ in events[0]["steps"]:
        mark = marks.get(name, {})
        status = "succeeded" if "end" in mark else ("failed" if "start" in mark else "not-run")
        if status == "succeeded" and name not in times:
            raise TidyError(f"run {run_id}, step {name}: {log_path} has no '[JT] {name} time(s)' line")
        start = mark.get("start")
        rows.append(_with_overhead(base | {
            "step": name, "created": start, "scheduled": start, "started": start, "finished": mark.get("end"),
            "timestamp_source": "in-process", "cell_seconds": times.get(name) if ok or status == "succeeded" else None,
            "status": status}))
    return rows


def read_run(run_dir: str | Path, run_id: str | None = None) -> tuple[list[dict], dict]:
    """Step rows and the run row of one raw run directory."""
    run_dir = Path(run_dir)
    events_path = run_dir / EVENTS
    if not events_path.exists():
        raise TidyError(f"{run_dir}: no {EVENTS}; is this a run directory?")
    events = read_events(events_path)
    if not events or events[0]["event"] != "run-started":
        raise TidyError(f"{events_path}:1: expected a run-started event")
    run_id = run_id or "/".join(run_dir.parts[-3:])
    base = _run_labels(run_id, events[0])
    ending = events[-1] if events[-1]["event"] == "run-finished" else {"status": "interrupted", "t": None}
    reader = {"monolithic": _monolithic_steps, "kubernetes": _kubernetes_steps}.get(base["backend"], _local_steps)
    rows = reader(run_dir, run_id, events, base)
    finished = [e["t"] for e in events if e["event"] == "finished"]
    created = [e["t"] for e in events if e["event"] == "created"]
    imported = _IMPORTED.search((run_dir / "logs" / "notebook.log").read_text(errors="replace")) \
        if base["backend"] == "monolithic" and (run_dir / "logs" / "notebook.log").exists() else None
    started = next((e["t"] for e in events if e["event"] == "started"), None)
    primary = [r for r in rows if r["timestamp_source"] in PRIMARY_SOURCES]
    run = base | {
        "created": min(created, default=None), "finished": max(finished, default=None),
        "cell_seconds": sum(r["cell_seconds"] or 0.0 for r in primary),
        "imports_seconds": float(imported.group(1)) - started if imported and started else None,
        "steps": len(primary), "steps_failed": sum(r["status"] == "failed" for r in primary),
        "status": ending["status"],
    }
    _with_overhead(run)
    run["wall_seconds"] = run.pop("duration_seconds")
    return rows, run


def attempts_of(run_dir: Path) -> list[Path]:
    """Unfinished earlier attempts the runner kept beside a run directory."""
    return sorted(run_dir.parent.glob(f"{run_dir.name}.attempt-*"))


def tidy_pipeline(run_dirs: list[str | Path], steps_out: str | Path, runs_out: str | Path):
    """Write both tables atomically; return them as DataFrames."""
    import pandas as pd

    step_rows, run_rows = [], []
    for run_dir in map(Path, run_dirs):
        for directory in [*attempts_of(run_dir), run_dir]:
            rows, run = read_run(directory)
            step_rows += rows
            run_rows.append(run)
    steps = pd.DataFrame(step_rows, columns=STEP_COLUMNS)
    runs = pd.DataFrame(run_rows, columns=RUN_COLUMNS)
    atomic.write_parquet(steps_out, steps)
    atomic.write_parquet(runs_out, runs)
    return steps, runs
