"""The local backend: every step is its own OS process, started when its parents finish.

Timestamps per step, all from this machine's clock at sub-millisecond resolution:

* ``created``: every parent has finished, so the step could run (a pod's creation);
* ``dispatched``: a core slot was free and the process was spawned (scheduling);
* ``started``: the step's first Python statement ran (read from its log);
* ``finished``: the runner saw the process exit.

A failed step fails its run: its descendants are recorded as skipped, independent
branches finish, and the logs stay. The monolithic baseline runs the same notebook
in one process, the way a data scientist presses "Run All".
"""

from __future__ import annotations

import logging
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from .. import atomic
from ..errors import InputError
from .compiler import MARKER, Plan
from .events import EVENTS, EventLog

MANIFEST = "run.json"
_STARTED = re.compile(rf"^{re.escape(MARKER)} started (\d+\.\d+)$", re.M)

log = logging.getLogger(__name__)


class RunFailed(InputError):
    pass


@dataclass
class RunSpec:
    backend: str              # "local" or "monolithic"
    run_dir: Path
    parameters: dict
    labels: dict              # study, configuration, series, dataset_mb, width, hidden_layers, rep
    cores: int = 1
    step_timeout: float | None = None
    keep_marshal: bool = False
    python: str = sys.executable
    extra_env: dict = field(default_factory=dict)


def prepare_run_dir(run_dir: Path) -> None:
    """Start clean; an earlier attempt that did not finish is kept beside it, unedited."""
    if (run_dir / MANIFEST).exists():
        raise InputError(f"{run_dir}: this run already finished ({MANIFEST} exists); remove it to run again")
    if run_dir.exists() and any(run_dir.iterdir()):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept = run_dir.with_name(f"{run_dir.name}.attempt-{stamp}")
        run_dir.rename(kept)
        log.warning("%s: an unfinished attempt was kept as %s", run_dir, kept)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)


def _environment(spec: RunSpec, cpu: int) -> dict:
    threads = str(cpu)
    return os.environ | {
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
    } | spec.extra_env


def _started_at(log_path: Path) -> float | None:
    with log_path.open(errors="replace") as fh:
        match = _STARTED.search(fh.read(4096))
    return float(match.group(1)) if match else None


class _Process:
    """A spawned step; a thread waits on it so the runner hears of its exit at once."""

    def __init__(self, step: str, script: Path, log_path: Path, spec: RunSpec, cpu: int, exits: queue.Queue):
        self.step, self.cpu, self.log_path = step, cpu, log_path
        self.deadline = None if spec.step_timeout is None else time.monotonic() + spec.step_timeout
        self.dispatched = time.time()
        with log_path.open("wb") as out:
            self.popen = subprocess.Popen([spec.python, str(script.resolve())], cwd=spec.run_dir, stdout=out,
                                          stderr=subprocess.STDOUT, env=_environment(spec, cpu),
                                          start_new_session=True)
        threading.Thread(target=self._wait, args=(exits,), daemon=True).start()

    def _wait(self, exits: queue.Queue) -> None:
        code = self.popen.wait()
        exits.put((self, time.time(), code))

    def kill(self) -> None:
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def begin_run(spec: RunSpec, plan: Plan) -> EventLog:
    prepare_run_dir(spec.run_dir)
    events = EventLog(spec.run_dir / EVENTS)
    events.write("run-started", backend=spec.backend, labels=spec.labels, parameters=spec.parameters,
                 cores=spec.cores, notebook=str(plan.path), host=platform.node(),
                 python=platform.python_version(), pid=os.getpid(),
                 steps=[[name, list(step.parents)] for name, step in plan.steps.items()])
    return events


def finish_run(spec: RunSpec, events: EventLog, status: str, failures: dict[str, str]) -> str:
    t = events.write("run-finished", status=status, failures=failures)
    events.close()
    if status != "succeeded":
        raise RunFailed(f"{spec.run_dir}: run {status}: " +
                        "; ".join(f"step {s} {why} (see {spec.run_dir / 'logs' / s}.log)" for s, why in failures.items()))
    if not spec.keep_marshal:
        shutil.rmtree(spec.run_dir / "marshal", ignore_errors=True)
    atomic.write_json(spec.run_dir / MANIFEST, {"status": status, "finished": t, "backend": spec.backend,
                                                "labels": spec.labels, "events": EVENTS})
    return status


def abort_run(events: EventLog, failures: dict[str, str]) -> None:
    """Record that the run was stopped from outside (Ctrl-C, an error) and close the log."""
    events.write("run-finished", status="interrupted", failures=failures)
    events.close()


def release_steps(plan: Plan, status: dict[str, str], taken: set[str], events: EventLog) -> list[str]:
    """Steps whose parents all succeeded and that are not yet ``taken``; steps below a failed or
    skipped parent are marked skipped (in notebook order, so skips cascade) and logged."""
    ready = []
    for name, step in plan.steps.items():
        if name in status or name in taken:
            continue
        parents = [status.get(p) for p in step.parents]
        if any(s in ("failed", "skipped") for s in parents):
            status[name] = "skipped"
            events.write("skipped", step=name, because=[p for p in step.parents if status.get(p) != "succeeded"])
        elif all(s == "succeeded" for s in parents):
            ready.append(name)
    return ready


def run_local(plan: Plan, spec: RunSpec) -> str:
    """Run every step as a process; return "succeeded" or raise RunFailed."""
    events = begin_run(spec, plan)
    steps_dir = spec.run_dir / "steps"
    steps_dir.mkdir()
    for name in plan.steps:
        (steps_dir / f"{name}.py").write_text(plan.script(name, spec.parameters))
    status: dict[str, str] = {}
    failures: dict[str, str] = {}
    ready: list[str] = []
    running: dict[str, _Process] = {}
    exits: queue.Queue = queue.Queue()
    free = spec.cores

    def release_ready() -> None:
        for name in release_steps(plan, status, {*ready, *running}, events):
            ready.append(name)
            events.write("created", step=name)

    bar = tqdm(total=len(plan.steps), desc=f"{spec.labels.get('configuration', 'run')} rep {spec.labels.get('rep', '')}",
               unit="step", disable=None)
    try:
        release_ready()
        while ready or running:
            for name in list(ready):
                cpu = min(plan.steps[name].cpu, spec.cores)
                if cpu <= free:
                    ready.remove(name)
                    free -= cpu
                    proc = _Process(name, steps_dir / f"{name}.py", spec.run_dir / "logs" / f"{name}.log",
                                    spec, cpu, exits)
                    running[name] = proc
                    events.write("dispatched", t=proc.dispatched, step=name, pid=proc.popen.pid, cpu=cpu)
            timeout = _next_timeout(running.values())
            try:
                proc, t_exit, code = exits.get(timeout=timeout)
            except queue.Empty:
                for proc in running.values():
                    if proc.deadline is not None and time.monotonic() >= proc.deadline:
                        failures[proc.step] = f"timed out after {spec.step_timeout:g} s"
                        proc.kill()
                continue
            del running[proc.step]
            free += proc.cpu
            started = _started_at(proc.log_path)
            if started is not None:
                events.write("started", t=started, step=proc.step, source="step-process")
            result = "succeeded" if code == 0 and proc.step not in failures else "failed"
            status[proc.step] = result
            if result == "failed":
                failures.setdefault(proc.step, f"exited with status {code}")
            events.write("finished", t=t_exit, step=proc.step, exit_code=code, status=result)
            bar.update()
            release_ready()
    except BaseException:
        for proc in running.values():
            proc.kill()
        abort_run(events, failures)
        raise
    finally:
        bar.close()
    return finish_run(spec, events, "failed" if failures else "succeeded", failures)


def _next_timeout(running) -> float | None:
    deadlines = [p.deadline for p in running if p.deadline is not None]
    return None if not deadlines else max(0.0, min(deadlines) - time.monotonic())


def run_monolithic(plan: Plan, spec: RunSpec) -> str:
    """Run the whole notebook in one process and time each cell inside it."""
    events = begin_run(spec, plan)
    script = spec.run_dir / "notebook.py"
    script.write_text(plan.monolith(spec.parameters))
    exits: queue.Queue = queue.Queue()
    events.write("created", step="notebook")
    proc = _Process("notebook", script, spec.run_dir / "logs" / "notebook.log", spec, spec.cores, exits)
    events.write("dispatched", t=proc.dispatched, step="notebook", pid=proc.popen.pid, cpu=spec.cores)
    timed_out = False
    try:
        try:
            _, t_exit, code = exits.get(timeout=_next_timeout([proc]))
        except queue.Empty:
            timed_out = True
            proc.kill()
            _, t_exit, code = exits.get()
    except BaseException:
        proc.kill()
        abort_run(events, {})
        raise
    started = _started_at(proc.log_path)
    if started is not None:
        events.write("started", t=started, step="notebook", source="step-process")
    ok = code == 0 and not timed_out
    events.write("finished", t=t_exit, step="notebook", exit_code=code, status="succeeded" if ok else "failed")
    failures = {} if ok else {
        "notebook": f"timed out after {spec.step_timeout:g} s" if timed_out else f"exited with status {code}"}
    return finish_run(spec, events, "succeeded" if ok else "failed", failures)


def run(plan: Plan, spec: RunSpec) -> str:
    log.info("%s run of %s -> %s (%d cores)", spec.backend, plan.path.name, spec.run_dir, spec.cores)
    runner = {"local": run_local, "monolithic": run_monolithic}[spec.backend]
    return runner(plan, spec)

