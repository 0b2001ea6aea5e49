"""Processes this package started and may find again after it was killed outright.

A process that exited but that its new parent has not reaped yet (a zombie) counts as gone.
"""

from __future__ import annotations

import time
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone; True if it is."""
    deadline = time.monotonic() + timeout
    while start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    return start_time(pid) is None
