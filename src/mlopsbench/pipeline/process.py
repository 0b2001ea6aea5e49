"""A pipeline step as an OS process on this machine (the local and monolithic backends).

The process gets its own session, so ending it ends everything it started. A thread
waits on it with ``wait4``, so the runner hears of its exit at once and learns its peak
resident memory from the kernel.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .run import RunSpec



@dataclass(frozen=True)
class Exit:
    process: "StepProcess"
    t: float
    code: int
    peak_rss_kib: int


def environment(spec: RunSpec, cpu: int) -> dict:
    threads = str(cpu)
    return os.environ | {
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
    } | spec.extra_env


class StepProcess:
    def __init__(self, step: str, script: Path, log_path: Path, spec: RunSpec, cpu: int, exits: queue.Queue):
        self.step, self.cpu, self.log_path = step, cpu, log_path
        self.deadline = time.monotonic() + spec.step_timeout
        self.dispatched = time.time()
        with log_path.open("wb") as out:
            self.popen = subprocess.Popen([spec.python, str(script.resolve())], cwd=spec.run_dir, stdout=out,
                                          stderr=subprocess.STDOUT, env=environment(spec, cpu),
                                          start_new_session=True)
        threading.Thread(target=self._wait, args=(exits,), daemon=True).start()

    def _wait(self, exits: queue.Queue) -> None:
        _, status, usage = os.wait4(self.popen.pid, 0)
        t = time.time()
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        exits.put(Exit(self, t, self.popen.returncode, usage.ru_maxrss))

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def kill(self) -> None:
        """End the step and everything it started (its process group)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def next_timeout(running) -> float | None:
    """Seconds until the first running step's deadline; None (wait for an exit) when none runs."""
    deadlines = [p.deadline for p in running]
    return None if not deadlines else max(0.0, min(deadlines) - time.monotonic())
