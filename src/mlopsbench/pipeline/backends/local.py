"""The local backend: every step is its own OS process, started when its parents finish.

Timestamps per step, all from this machine's clock at sub-millisecond resolution:

* ``created``: every parent has finished, so the step could run (a pod's creation);
* ``dispatched``: its cores were free and the process was spawned (scheduling);
* ``started``: the step's first Python statement ran (read from its log);
* ``finished``: the runner saw the process exit.

A failed step fails its run: its descendants are recorded as skipped, independent
branches finish, and the logs stay.
"""

from __future__ import annotations

import queue

from tqdm import tqdm

from ...rawdirs import RunDir
from ..compiler import Plan
from ..process import StepProcess, next_timeout
from ..run import RunLog, RunSpec, release_steps, run_pipeline
from ..timing import event_rows, started_at
from . import Backend

SOURCE = "local-runner"


def run_local(plan: Plan, spec: RunSpec) -> str:
    """Run every step as a process; return "succeeded" or raise RunFailed."""
    return run_pipeline(plan, spec, lambda events, failures: _dispatch(plan, spec, events, failures))


def _dispatch(plan: Plan, spec: RunSpec, events: RunLog, failures: dict[str, str]) -> None:
    raw = RunDir(spec.run_dir)
    steps_dir = raw.steps
    steps_dir.mkdir()
    for name in plan.steps:
        (steps_dir / f"{name}.py").write_text(plan.script(name, spec.parameters))
    status: dict[str, str] = {}
    ready: list[str] = []
    running: dict[str, StepProcess] = {}
    exits: queue.Queue = queue.Queue()
    free = spec.cores

    def release_ready() -> None:
        for name in release_steps(plan, status, {*ready, *running}, events, SOURCE):
            ready.append(name)
            events.step("created", name)

    bar = tqdm(total=len(plan.steps), desc=f"{spec.run.configuration} rep {spec.run.rep}", unit="step", disable=None)
    try:
        release_ready()
        while ready or running:
            for name in list(ready):
                cpu = spec.step_cpu(plan, name)
                if cpu <= free:
                    ready.remove(name)
                    free -= cpu
                    proc = StepProcess(name, steps_dir / f"{name}.py", raw.log(name),
                                       spec, cpu, exits)
                    running[name] = proc
                    events.step("dispatched", name, t=proc.dispatched, detail={"pid": proc.popen.pid, "cpu": cpu})
            try:
                done = exits.get(timeout=next_timeout(running.values()))
            except queue.Empty:
                for proc in running.values():
                    if proc.expired():
                        failures[proc.step] = f"timed out after {spec.step_timeout:g} s"
                        proc.kill()
                continue
            proc = done.process
            del running[proc.step]
            free += proc.cpu
            started = started_at(proc.log_path)
            if started is not None:
                events.step("started", proc.step, t=started, source="step-process")
            result = "succeeded" if done.code == 0 and proc.step not in failures else "failed"
            status[proc.step] = result
            if result == "failed":
                failures.setdefault(proc.step, f"exited with status {done.code}")
            events.step("finished", proc.step, t=done.t, exit_code=done.code, status=result,
                        detail={"peak_rss_kib": done.peak_rss_kib})
            bar.update()
            release_ready()
    except BaseException:
        for proc in running.values():
            proc.kill()
        raise
    finally:
        bar.close()


BACKEND = Backend(
    name="local", split=True, clock=SOURCE,
    timestamps="Local jobs: created (parents finished), dispatched (process spawned), started (the job's "
               "first statement) and finished (exit seen), from this machine's clock at sub-millisecond "
               "resolution.",
    run=run_local,
    step_rows=lambda run_dir, run_id, events, base: event_rows(run_dir, run_id, events, base, SOURCE),
)
