"""The monolithic baseline: the whole notebook in one process, as "Run All" does, each cell
timed inside it. It says what the split into jobs costs end to end."""

from __future__ import annotations

import queue
import re
from pathlib import Path

from ...rawdirs import RunDir
from ..compiler import MARKER, Plan
from ..process import StepProcess, next_timeout
from ..run import RunLog, RunSpec, run_pipeline
from ..timing import cell_time, interpreter_in, jt_times, run_succeeded, started_at, with_overhead
from . import Backend

SOURCE = "in-process"
NOTEBOOK = "notebook"
_CELL = re.compile(rf"^{re.escape(MARKER)} cell-(start|end) (\S+) (\d+\.\d+)$", re.M)
_IMPORTED = re.compile(rf"^{re.escape(MARKER)} imported (\d+\.\d+)$", re.M)


def run_monolithic(plan: Plan, spec: RunSpec) -> str:
    return run_pipeline(plan, spec, lambda events, failures: _execute(plan, spec, events, failures))


def _execute(plan: Plan, spec: RunSpec, events: RunLog, failures: dict[str, str]) -> None:
    script = RunDir(spec.run_dir).notebook_script
    script.write_text(plan.monolith(spec.parameters))
    exits: queue.Queue = queue.Queue()
    events.step("created", NOTEBOOK)
    proc = StepProcess(NOTEBOOK, script, _log(spec.run_dir), spec, spec.cores, exits)
    events.step("dispatched", NOTEBOOK, t=proc.dispatched, detail={"pid": proc.popen.pid, "cpu": spec.cores})
    timed_out = False
    try:
        try:
            done = exits.get(timeout=next_timeout([proc]))
        except queue.Empty:
            timed_out = True
            proc.kill()
            done = exits.get()
    except BaseException:
        proc.kill()
        raise
    started = started_at(proc.log_path)
    if started is not None:
        events.step("started", NOTEBOOK, t=started, source="step-process")
    ok = done.code == 0 and not timed_out
    events.step("finished", NOTEBOOK, t=done.t, exit_code=done.code, status="succeeded" if ok else "failed",
                detail={"peak_rss_kib": done.peak_rss_kib})
    if not ok:
        failures[NOTEBOOK] = f"timed out after {spec.step_timeout:g} s" if timed_out else f"exited with status {done.code}"


def _log(run_dir: Path) -> Path:
    return RunDir(run_dir).log(NOTEBOOK)


def _text(run_dir: Path) -> str:
    path = _log(run_dir)
    return path.read_text(errors="replace") if path.exists() else ""


def step_rows(run_dir: Path, run_id: str, events: list, base: dict) -> list[dict]:
    """One row per cell, from the markers the notebook process printed around each."""
    text = _text(run_dir)
    marks: dict[str, dict[str, float]] = {}
    for edge, name, t in _CELL.findall(text):
        marks.setdefault(name, {})[edge] = float(t)
    times = jt_times(_log(run_dir))
    ok = run_succeeded(events)
    python = interpreter_in(text)
    rows = []
    for name, _ in events[0].steps:
        mark = marks.get(name, {})
        status = "succeeded" if "end" in mark else ("failed" if "start" in mark else "not-run")
        seconds = cell_time(times, run_id, name, _log(run_dir), status == "succeeded", ok)
        start = mark.get("start")
        rows.append(with_overhead(base | {
            "step": name, "created": start, "scheduled": start, "started": start, "finished": mark.get("end"),
            "timestamp_source": SOURCE, "cell_seconds": seconds if ok or status == "succeeded" else None,
            "status": status, "python": python}))
    return rows


def run_fields(run_dir: Path, events: list) -> dict:
    """How long the notebook's imports cell took, from process start to the import marker."""
    imported = _IMPORTED.search(_text(run_dir))
    started = next((e.t for e in events if getattr(e, "event", None) == "started"), None)
    return {"imports_seconds": float(imported.group(1)) - started if imported and started else None}


BACKEND = Backend(
    name="monolithic", split=False, clock=SOURCE,
    timestamps="The monolithic baseline runs the notebook in one process and times each cell in-process "
               "(markers printed around it).",
    run=run_monolithic, step_rows=step_rows, run_fields=run_fields,
)
