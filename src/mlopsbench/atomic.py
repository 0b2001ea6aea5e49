"""Write files so that a reader never sees half of one.

Everything is written to a temporary sibling and renamed into place; on any error
the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    The temporary name keeps the suffix, because some writers (Keras) pick the
    format from it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.tmp{os.getpid()}{dest.suffix}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except OSError as exc:
        if exc.errno is not None and exc.filename is None:  # a full disk does not name the file: name it
            raise OSError(exc.errno, exc.strerror, str(dest)) from None
        raise
    finally:
        # Never let the clean-up hide what went wrong (a read-only or full file system).
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_private(dest: str | os.PathLike, text: str) -> None:
    """Write a secret (credentials, keys): only its owner can read it, from the first byte."""
    with atomic_path(dest) as tmp:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text)


def write_json(dest: str | os.PathLike, obj: object) -> None:
    write_bytes(dest, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_parquet(dest: str | os.PathLike, frame) -> None:
    """A pandas DataFrame as parquet, without its index."""
    with atomic_path(dest) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(dest: str | os.PathLike, frame) -> None:
    with atomic_path(dest) as tmp:
        frame.to_csv(tmp, index=False)
