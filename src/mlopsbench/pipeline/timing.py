"""From a run's raw exports to rows of step times: the thesis's overhead definition.

``cell_seconds`` is the step's own ``[JT]`` line, ``duration = finished - created``,
``overhead = duration - cell_seconds`` and ``overhead_pct = overhead / duration``
(Section 4.1). The backends read their own exports with these helpers; a succeeded
step without its ``[JT]`` line is an error that names the run and the step.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..records import RunStarted, StepEvent

_JT = re.compile(r"^\[JT\][ _]+(\S+?)[ _]+time\(s\)[ _]+([-+0-9.eE]+)\s*$", re.M)

# Which step-event sets which column: a local process is "dispatched", a pod "scheduled".
_COLUMNS = {"created": "created", "dispatched": "scheduled", "scheduled": "scheduled", "started": "started",
            "finished": "finished"}


class TidyError(InputError):
    pass


def jt_times(log_path: Path) -> dict[str, float]:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return {name: float(seconds) for name, seconds in _JT.findall(text)}


def with_overhead(row: dict) -> dict:
    finished, created = row.get("finished"), row.get("created")
    duration = finished - created if finished is not None and created is not None else None
    row["duration_seconds"] = duration
    if duration is not None and row.get("cell_seconds") is not None:
        row["overhead_seconds"] = duration - row["cell_seconds"]
        row["overhead_pct"] = 100 * row["overhead_seconds"] / duration if duration > 0 else None
    else:
        row["overhead_seconds"] = row["overhead_pct"] = None
    return row


def missing_jt(run_id: str, step: str, log_path: Path) -> TidyError:
    return TidyError(f"run {run_id}, step {step}: {log_path} has no '[JT] {step} time(s)' line")


def event_rows(run_dir: Path, run_id: str, events: list, base: dict, source: str, api_clock: bool = False) -> list[dict]:
    """One row per step from its events; ``api_clock`` reads the API server's times instead of ours."""
    started: RunStarted = events[0]
    steps: dict[str, dict] = {name: {"step": name, "status": "not-run"} for name, _ in started.steps}
    for event in events:
        if not isinstance(event, StepEvent) or event.step not in steps:
            continue
        step = steps[event.step]
        t = event.api_t if api_clock else event.t
        if event.event in _COLUMNS and t is not None:
            step[_COLUMNS[event.event]] = t
        if event.event == "finished":
            step["status"] = event.status
        elif event.event == "skipped":
            step["status"] = "skipped"
    rows = []
    for name, step in steps.items():
        log_path = run_dir / "logs" / f"{name}.log"
        times = jt_times(log_path)
        if step["status"] == "succeeded" and name not in times:
            raise missing_jt(run_id, name, log_path)
        rows.append(with_overhead(base | step | {"timestamp_source": source, "cell_seconds": times.get(name)}))
    return rows
