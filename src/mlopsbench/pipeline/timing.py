"""From a run's raw exports to rows of step times: the thesis's overhead definition.

``cell_seconds`` is the step's own ``[JT]`` line, ``duration = finished - created``,
``overhead = duration - cell_seconds`` and ``overhead_pct = overhead / duration``
(Section 4.1). The backends read their own exports with these helpers; a succeeded
step without its ``[JT]`` line is an error that names the run and the step.

The overhead is also split into its parts, which the headline number keeps together:

* ``wait_seconds``: created to dispatched (a process) or scheduled (a pod): waiting for
  cores, or Pending;
* ``startup_seconds``: from there to the step's imports done (the ``[MLB] imported`` line):
  a container's start, the interpreter and the step's imports; plus the libraries that its
  loads and saves import (``[MLB] marshal-import``: TensorFlow, for a step that only loads a model);
* ``marshal_seconds``: the timed loads and saves of the values passed between steps, without
  those imports;
* ``rest_seconds``: what is left: the process's end and the runner seeing it.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..rawdirs import RunDir
from ..records import RunFinished, RunStarted, StepEvent
from .compiler import MARKER

_JT = re.compile(r"^\[JT\][ _]+(\S+?)[ _]+time\(s\)[ _]+([-+0-9.eE]+)\s*$", re.M)
_STARTED = re.compile(rf"^{re.escape(MARKER)} started (\d+\.\d+)$", re.M)
_FINISHED = re.compile(rf"^{re.escape(MARKER)} finished (\d+\.\d+)$", re.M)
_IMPORTED = re.compile(rf"^{re.escape(MARKER)} imported (\d+\.\d+)$", re.M)
_MARSHAL = re.compile(rf"^{re.escape(MARKER)} marshal (?:load|save) .* ([0-9.]+) s$", re.M)
_MARSHAL_IMPORT = re.compile(rf"^{re.escape(MARKER)} marshal-import .* ([0-9.]+) s$", re.M)
_PEAK_RSS = re.compile(rf"^{re.escape(MARKER)} peak-rss (\d+)$", re.M)
_THROTTLING = re.compile(rf"^{re.escape(MARKER)} cpu-throttling (\d+) (\d+) ([0-9.]+)$", re.M)
_CPU_SECONDS = re.compile(rf"^{re.escape(MARKER)} cpu-seconds ([0-9.]+)$", re.M)
_MACHINE_CPU = re.compile(rf"^{re.escape(MARKER)} machine-cpu ([0-9.]+) ([0-9.]+)$", re.M)
_MAJOR_FAULTS = re.compile(rf"^{re.escape(MARKER)} major-faults (\d+)$", re.M)
_RUN_QUEUE = re.compile(rf"^{re.escape(MARKER)} run-queue ([0-9.]+)$", re.M)
_DISK_BLOCKS = re.compile(rf"^{re.escape(MARKER)} disk-blocks (\d+) (\d+)$", re.M)
_PYTHON = re.compile(rf"^{re.escape(MARKER)} python (.+)$", re.M)

# What a pod's row adds (Kubernetes, where the run kept them): the runtime's times of the pod's
# sandbox and container, and the step's own first and last statement.
RUNTIME_COLUMNS = ("sandbox_created", "container_created", "container_started", "container_finished",
                   "step_started", "step_finished")

# Which step-event sets which column: a local process is "dispatched", a pod "scheduled".
_COLUMNS = {"created": "created", "dispatched": "scheduled", "scheduled": "scheduled", "started": "started",
            "finished": "finished"}


class TidyError(InputError):
    pass


def _text(log_path: Path) -> str:
    return log_path.read_text(errors="replace") if log_path.exists() else ""


def jt_times(log_path: Path) -> dict[str, float]:
    return {name: float(seconds) for name, seconds in _JT.findall(_text(log_path))}


def started_at(log_path: Path) -> float | None:
    """When the step's first statement ran, from its log."""
    return first_and_last_statement(log_path)["step_started"]


def first_and_last_statement(log_path: Path) -> dict:
    """When the step's first and last statements ran, from its log (None where absent)."""
    text = _text(log_path)
    started, finished = _STARTED.search(text), _FINISHED.search(text)
    return {"step_started": float(started.group(1)) if started else None,
            "step_finished": float(finished.group(1)) if finished else None}


def interpreter_in(text: str) -> str | None:
    """The Python build that ran a step (its ``sys.version``), where its log's text says it."""
    found = _PYTHON.search(text)
    return found.group(1).strip() if found else None


def interpreter(log_path: Path) -> str | None:
    return interpreter_in(_text(log_path))


def log_marks(log_path: Path) -> dict:
    """What a step's log says of itself: its interpreter, its imports done, the time its marshalling
    took, its peak resident memory (read where the runner cannot wait4() for the process, as in a pod),
    the CPU seconds its cells used (every thread's) and the seconds their threads waited for a CPU,
    the machine's busy and stolen CPU seconds over the same time (every process's), the major page
    faults of its cells and the disk blocks (512 bytes) they read and wrote, and its cgroup's CFS
    throttling (None where the step did not print it or could not read it)."""
    text = _text(log_path)
    imported, peak, throttling = _IMPORTED.search(text), _PEAK_RSS.search(text), _THROTTLING.search(text)
    cpu, machine, faults = _CPU_SECONDS.search(text), _MACHINE_CPU.search(text), _MAJOR_FAULTS.search(text)
    queued, blocks = _RUN_QUEUE.search(text), _DISK_BLOCKS.search(text)
    return {"python": interpreter_in(text),
            "imported": float(imported.group(1)) if imported else None,
            "marshal_seconds": sum(float(s) for s in _MARSHAL.findall(text)),
            "marshal_import_seconds": sum(float(s) for s in _MARSHAL_IMPORT.findall(text)),
            "peak_rss_mib": int(peak.group(1)) / 1024 if peak else None,
            "cpu_seconds": float(cpu.group(1)) if cpu else None,
            "machine_busy_seconds": float(machine.group(1)) if machine else None,
            "machine_steal_seconds": float(machine.group(2)) if machine else None,
            "run_queue_seconds": float(queued.group(1)) if queued else None,
            "major_faults": int(faults.group(1)) if faults else None,
            "disk_read_blocks": int(blocks.group(1)) if blocks else None,
            "disk_write_blocks": int(blocks.group(2)) if blocks else None,
            "cfs_periods": int(throttling.group(1)) if throttling else None,
            "cfs_throttled_periods": int(throttling.group(2)) if throttling else None,
            "cfs_throttled_seconds": float(throttling.group(3)) if throttling else None}


def with_overhead(row: dict) -> dict:
    finished, created = row.get("finished"), row.get("created")
    duration = finished - created if finished is not None and created is not None else None
    row["duration_seconds"] = duration
    if duration is not None and row.get("cell_seconds") is not None:
        row["overhead_seconds"] = duration - row["cell_seconds"]
        row["overhead_pct"] = 100 * row["overhead_seconds"] / duration if duration > 0 else None
    else:
        row["overhead_seconds"] = row["overhead_pct"] = None
    return _parts(row)


def _parts(row: dict) -> dict:
    """The overhead's parts, where the clocks to split it are there."""
    created, scheduled, imported = row.get("created"), row.get("scheduled"), row.pop("imported", None)
    libraries = row.pop("marshal_import_seconds", 0.0)
    row["wait_seconds"] = scheduled - created if scheduled is not None and created is not None else None
    row["startup_seconds"] = imported - scheduled + libraries if imported is not None and scheduled is not None else None
    row.setdefault("marshal_seconds", None)
    known = (row["overhead_seconds"], row["wait_seconds"], row["startup_seconds"], row["marshal_seconds"])
    row["rest_seconds"] = known[0] - sum(known[1:]) if None not in known else None
    return row


def add_core_waits(rows: list[dict], cores: int, cpu: dict[str, int]) -> None:
    """Each step's wait for cores, ``core_wait_seconds``: the time between its creation and its
    dispatch or scheduling during which the other steps held (from their own dispatch or scheduling
    to their end) so many of the run's ``cores`` that fewer than its ``cpu`` were free. On 2 cores
    dnnfit waits for the branch beside it; the thesis's workers had 8. What a step waited with its
    cores free (a scheduler's own delay) stays overhead. Also the overhead and its share without
    that wait, ``overhead_nowait_seconds`` and ``overhead_nowait_pct``."""
    held = [(r["scheduled"], r["finished"], cpu.get(r["step"], 1), r["step"]) for r in rows
            if r.get("scheduled") is not None and r.get("finished") is not None]
    for row in rows:
        created, scheduled = row.get("created"), row.get("scheduled")
        wait = None
        if created is not None and scheduled is not None:
            need, others = min(cpu.get(row["step"], 1), cores), [h for h in held if h[3] != row["step"]]
            moments = sorted({created, scheduled, *(t for h in others for t in h[:2] if created < t < scheduled)})
            wait = sum(end - start for start, end in zip(moments, moments[1:])
                       if cores - sum(n for begin, stop, n, _ in others if begin <= start < stop) < need)
        row["core_wait_seconds"] = wait
        overhead, duration = row.get("overhead_seconds"), row.get("duration_seconds")
        if wait is None or overhead is None:
            row["overhead_nowait_seconds"] = row["overhead_nowait_pct"] = None
        else:
            row["overhead_nowait_seconds"] = overhead - wait
            row["overhead_nowait_pct"] = 100 * (overhead - wait) / (duration - wait) if duration > wait else None


def run_succeeded(events: list) -> bool:
    return isinstance(events[-1], RunFinished) and events[-1].status == "succeeded"


def cell_time(times: dict[str, float], run_id: str, step: str, log_path: Path, step_succeeded: bool,
              succeeded: bool) -> float | None:
    """A step's own time from its [JT] line. In a run that succeeded every finished step has one. An
    attempt cut short (its machine gone before the runner fetched the logs) may not: its steps keep
    their rows with no cell time and, as every step of an attempt that did not succeed, never count."""
    if succeeded and step_succeeded and step not in times:
        raise TidyError(f"run {run_id}, step {step}: {log_path} has no '[JT] {step} time(s)' line")
    return times.get(step)


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
            if "peak_rss_kib" in event.detail:
                step["peak_rss_mib"] = event.detail["peak_rss_kib"] / 1024
        elif event.event == "skipped":
            step["status"] = "skipped"
    succeeded = run_succeeded(events)
    rows = []
    for name, step in steps.items():
        log_path = RunDir(run_dir).log(name)
        seconds = cell_time(jt_times(log_path), run_id, name, log_path, step["status"] == "succeeded", succeeded)
        # The runner's wait4() count, where it has one, over the step's own.
        rows.append(with_overhead(base | log_marks(log_path) | step | {"timestamp_source": source,
                                                                       "cell_seconds": seconds}))
    return rows
