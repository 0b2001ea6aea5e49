"""The cluster's daemons: started detached with a log and a pid file, stopped by that pid file.

No init system runs here, so the project starts and stops every daemon itself. A pid
file holds the pid and the process's start time, so a pid that the kernel has since
given to another process is never signalled. An exited daemon that its new parent has
not reaped yet (a zombie) counts as stopped.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from ..processes import start_time, wait_gone

log = logging.getLogger(__name__)


class NotReady(RuntimeError):
    pass


def running(pid_file: Path) -> int | None:
    """The daemon's pid if the process of the pid file still runs."""
    try:
        pid, started = pid_file.read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid) if start_time(int(pid)) == started else None


def start(name: str, argv: list[str], logs: Path, pids: Path) -> int:
    """Start ``argv`` detached, its output in ``logs/<name>.log`` and its pid in ``pids/<name>``."""
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    (pids / name).write_text(f"{process.pid} {start_time(process.pid)}\n")
    return process.pid


def wait_until(what: str, check: Callable[[], bool], timeout: float, pid_file: Path | None = None,
               log_file: Path | None = None) -> float:
    """Poll ``check`` until it holds; fail early if the daemon behind ``pid_file`` died."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except Exception:  # not answering yet
            pass
        if pid_file is not None and running(pid_file) is None:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file and log_file.exists() else ""
            raise NotReady(f"{what}: the process exited; its log ends:\n{tail}")
        if time.monotonic() - started > timeout:
            raise NotReady(f"{what}: not ready after {timeout:g} s" + (f" (see {log_file})" if log_file else ""))
        time.sleep(0.1)


def stop(name: str, pids: Path, grace: float = 10.0) -> bool:
    """SIGTERM the daemon, SIGKILL it after ``grace`` seconds; True if it was running."""
    pid_file = pids / name
    pid = running(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, grace):
        log.warning("%s did not stop in %g s: killed", name, grace)
        os.kill(pid, signal.SIGKILL)
    return True
