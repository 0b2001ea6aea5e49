"""One pipeline run's lifecycle, whichever backend runs it.

A run owns its directory (``results/raw/pipeline/<configuration>/<rep>/<backend>/``) while it
runs, through a lock file beside it that names the holder's PID. It begins by setting
aside what an earlier attempt left there, writes its typed events to ``events.jsonl`` as
they happen, and ends in one of three ways: ``finish_run`` (succeeded or failed, with
``run.json`` written only on success) or ``abort_run`` (stopped from outside: Ctrl-C,
SIGTERM, an error).

An earlier attempt found in the directory is kept beside it, never edited:

* ``<rep>.attempt-<stamp>``: it did not succeed (failed or interrupted); the tidy table
  shows it as such;
* ``<rep>.superseded-<stamp>``: it had succeeded, but its ``run.json`` was removed to run
  it again (Snakemake does so on ``--forcerun`` or a changed parameter); the tidy table
  lists it as superseded and the statistics never count it.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..checksums import sha256_of
from ..config import default
from ..errors import InputError
from ..locks import DirectoryLock
from ..rawdirs import RunDir
from ..records import (BlockPlace, CpuTimes, JsonLines, RecordError, RunFinished, RunIdentity, RunNote, RunStarted,
                       StepEvent, parse_event, read_jsonl, utc_stamp)
from .calibration import CalibrationSettings, cpu_times, measure
from .compiler import Plan

log = logging.getLogger(__name__)


class RunFailed(InputError):
    pass


@dataclass
class RunSpec:
    run: RunIdentity
    run_dir: Path
    parameters: dict
    cores: int = 1
    cpu_request: int | None = None   # cores per step; None: each step's limit:cpu tag
    step_timeout: float = field(default_factory=lambda: default("pipeline.step_timeout_s"))
    keep_marshal: bool = False
    python: str = sys.executable
    extra_env: dict = field(default_factory=dict)
    inputs: tuple[str, ...] = ()      # parameters naming input files (a cluster copies them into the run's volume)
    cluster: object | None = None     # the kubernetes backend's connection and options
    calibration: CalibrationSettings | None = None   # the machine's speed before and after; None: not measured
    block: BlockPlace | None = None   # where the run stands in its block; None: a run on its own

    @property
    def backend(self) -> str:
        return self.run.backend

    def step_cpu(self, plan: Plan, step: str) -> int:
        """Cores a step asks for, never more than the run has."""
        wanted = self.cpu_request if self.cpu_request is not None else plan.steps[step].cpu
        return max(1, min(wanted, self.cores))


class RunLog:
    """The run's ``events.jsonl``: typed events, appended and flushed as they happen."""

    def __init__(self, path: Path):
        self._lines = JsonLines(path)

    def step(self, event: str, step: str, t: float | None = None, source: str = "local-runner", **fields) -> float:
        t = time.time() if t is None else t
        self._lines.append(StepEvent(event, t, step, source, **fields))
        return t

    def note(self, event: str, **detail) -> float:
        t = time.time()
        self._lines.append(RunNote(event, t, detail))
        return t

    def append(self, record) -> None:
        self._lines.append(record)

    def close(self) -> None:
        self._lines.close()


def read_events(path: Path) -> list:
    """The typed events of a run; a last line cut short by a crash is left out with a warning."""
    return read_jsonl(path, parse_event, tolerate_truncated_tail=True)


def _earlier_attempt(run_dir: Path) -> tuple[str, RunStarted | None, RunFinished | None]:
    """(kind, its start, its end) of what an earlier attempt left in ``run_dir``."""
    try:
        events_path = RunDir(run_dir).events
        events = read_events(events_path) if events_path.exists() else []
    except RecordError as exc:
        log.warning("%s", exc)
        events = []
    started = events[0] if events and isinstance(events[0], RunStarted) else None
    finished = events[-1] if events and isinstance(events[-1], RunFinished) else None
    kind = "superseded" if finished is not None and finished.status == "succeeded" else "attempt"
    return kind, started, finished


def _stop_orphans(run_dir: Path, events_path: Path) -> None:
    """Step processes of an attempt killed outright (SIGKILL) still run: end them."""
    try:
        events = read_events(events_path)
    except (OSError, RecordError):
        return
    ended = {e.step for e in events if isinstance(e, StepEvent) and e.event == "finished"}
    for event in events:
        pid = event.detail.get("pid") if isinstance(event, StepEvent) and event.event == "dispatched" else None
        if pid and event.step not in ended and _is_our_step(pid, run_dir):
            log.warning("%s: step %s (pid %d) of an earlier attempt was still running; stopped it",
                        run_dir, event.step, pid)
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _is_our_step(pid: int, run_dir: Path) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(run_dir.resolve())
    except OSError:
        return False


def prepare_run_dir(run_dir: Path) -> None:
    """Start clean; whatever an earlier attempt left is kept beside the run directory, unedited."""
    raw = RunDir(run_dir)
    if raw.finished.exists():
        raise InputError(f"{run_dir}: this run already finished ({raw.finished.name} exists); remove it to run again")
    if run_dir.exists() and any(run_dir.iterdir()):
        _stop_orphans(run_dir, raw.events)
        set_aside(run_dir)
    raw.logs.mkdir(parents=True, exist_ok=True)


def set_aside(run_dir: Path) -> Path:
    """Keep what an earlier attempt left beside the run directory, unedited: as an attempt, or as
    superseded where it had succeeded (then it is listed but never counted)."""
    kind, started, _ = _earlier_attempt(run_dir)
    kept = run_dir.with_name(f"{run_dir.name}.{kind}-{started.attempt if started else utc_stamp()}")
    run_dir.rename(kept)
    if kind == "superseded":
        log.warning("%s: a finished run is being replaced; it is kept as %s and no longer counted", run_dir, kept)
    else:
        log.warning("%s: an unfinished attempt was kept as %s", run_dir, kept)
    return kept


def input_digests(spec: RunSpec, plan: Plan) -> dict[str, str]:
    """The SHA-256 of the notebook and of every input file the run reads."""
    return {"notebook": sha256_of(plan.path)} | {name: sha256_of(spec.parameters[name]) for name in spec.inputs}


def finished_differently(spec: RunSpec, plan: Plan) -> list[str] | None:
    """None where the run has not finished; else what its finished attempt was measured with that
    ``spec`` would change, its inputs' contents included (an empty list: nothing, so it stands). An
    input's path is no parameter: a study resumed in another working directory reads the same file
    elsewhere."""
    raw = RunDir(spec.run_dir)
    if not raw.finished.exists():
        return None
    started = read_events(raw.events)[0]
    now, then = spec.parameters | {"cores": spec.cores}, started.parameters | {"cores": started.cores}
    changed = [f"{key} {then.get(key)!r} -> {now.get(key)!r}" for key in sorted(now.keys() | then.keys())
               if key not in spec.inputs and now.get(key) != then.get(key)]
    digests = input_digests(spec, plan)
    return changed + [f"{name}'s content" for name in sorted(digests) if started.digests.get(name) != digests[name]]


def begin_run(spec: RunSpec, plan: Plan) -> RunLog:
    """Set aside what earlier attempts left in the run directory and log the start."""
    prepare_run_dir(spec.run_dir)
    events = RunLog(RunDir(spec.run_dir).events)
    events.append(RunStarted(
        t=time.time(), run=spec.run, attempt=utc_stamp(), parameters=spec.parameters, cores=spec.cores,
        cpu_per_step={name: spec.step_cpu(plan, name) for name in plan.steps}, notebook=str(plan.path),
        steps=[[name, list(step.parents)] for name, step in plan.steps.items()], host=platform.node(),
        python=platform.python_version(), pid=os.getpid(), block=spec.block, digests=input_digests(spec, plan)))
    return events


def _calibrate(spec: RunSpec, events: RunLog, phase: str) -> None:
    if spec.calibration is not None:
        log.info("calibrating the machine %s the run (%s)", phase, spec.python)
        events.append(measure(spec.python, spec.calibration, phase))


def finish_run(spec: RunSpec, events: RunLog, failures: dict[str, str]) -> str:
    status, raw = "failed" if failures else "succeeded", RunDir(spec.run_dir)
    finished = RunFinished(time.time(), status, failures)
    events.append(finished)
    events.close()
    if failures:
        raise RunFailed(f"{spec.run_dir}: run {status}: " +
                        "; ".join(f"step {s} {why} (see {raw.log(s)})" for s, why in failures.items()))
    if not spec.keep_marshal:
        shutil.rmtree(raw.marshal, ignore_errors=True)
    atomic.write_json(raw.finished, {"v": 1, "status": status, "finished": finished.t, "run": spec.run.run_id,
                                     "events": raw.events.name})
    return status


def abort_run(events: RunLog, failures: dict[str, str]) -> None:
    """Record that the run was stopped from outside (Ctrl-C, SIGTERM, an error) and close the log."""
    events.append(RunFinished(time.time(), "interrupted", failures))
    events.close()


def release_steps(plan: Plan, status: dict[str, str], taken: set[str], events: RunLog, source: str) -> list[str]:
    """Steps whose parents all succeeded and that are not yet ``taken``; steps below a failed or
    skipped parent are marked skipped (in notebook order, so skips cascade) and logged."""
    ready = []
    for name, step in plan.steps.items():
        if name in status or name in taken:
            continue
        parents = [status.get(p) for p in step.parents]
        if any(s in ("failed", "skipped") for s in parents):
            status[name] = "skipped"
            events.step("skipped", name, source=source,
                        detail={"because": [p for p in step.parents if status.get(p) != "succeeded"]})
        elif all(s == "succeeded" for s in parents):
            ready.append(name)
    return ready


def run_pipeline(plan: Plan, spec: RunSpec, execute) -> str:
    """The frame every backend shares: lock the directory, begin, calibrate, ``execute(events,
    failures)`` between two readings of the machine's CPU times, calibrate again, then finish; or,
    when anything raises (Ctrl-C, SIGTERM, an error), record the run as interrupted and let the
    exception go on. ``execute`` fills ``failures`` (step -> why)."""
    log.info("%s run of %s -> %s (%d cores)", spec.backend, plan.path.name, spec.run_dir, spec.cores)
    with DirectoryLock(spec.run_dir):
        events = begin_run(spec, plan)
        failures: dict[str, str] = {}
        try:
            _calibrate(spec, events, "before")
            events.append(CpuTimes(time.time(), "start", cpu_times()))
            execute(events, failures)
            events.append(CpuTimes(time.time(), "end", cpu_times()))
            _calibrate(spec, events, "after")
        except BaseException:
            abort_run(events, failures)
            raise
        return finish_run(spec, events, failures)
