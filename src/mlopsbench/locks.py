"""One writer per output directory: a lock file beside it that names the holder; and one
process at a time where the others should wait (a cached artifact's builder, the cluster's start).

``with DirectoryLock(run_dir):`` holds ``.<name>.lock`` next to ``run_dir`` with an
exclusive ``flock`` and the holder's PID and command line in it. A second command given
the same directory refuses at once and names the holder; it touches nothing. The kernel
drops the lock when its holder dies, even by SIGKILL, so a lock file left behind is
recognised as stale and taken over with a message.

``with one_at_a_time(path):`` waits for whoever else holds ``path`` (another test, a second
study on this machine) and then holds it: the caller checks again what the other left (built, up).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

log = logging.getLogger(__name__)


class DirectoryBusy(InputError):
    pass


class DirectoryLock:
    def __init__(self, directory: str | Path):
        directory = Path(directory)
        self.directory = directory
        self.path = directory.with_name(f".{directory.name}.lock")
        self._fd: int | None = None

    def __enter__(self) -> "DirectoryLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise DirectoryBusy(f"{self.directory}: in use by another mlopsbench command ({holder}); "
                                    f"wait for it to end or stop it") from None
            # The holder before us may have removed the file after we opened it: lock the one on disk.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if stale:
            log.warning("%s: took over a stale lock (%s is no longer running)", self.directory, stale)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


@contextmanager
def one_at_a_time(path: Path, doing: str = "building it"):
    """An exclusive lock on ``path`` (made if missing), waited for (the log says so, and for what:
    ``doing``); the kernel drops it if its holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("%s: another process is %s; waiting for it", path, doing)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield
