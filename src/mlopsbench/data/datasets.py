"""Grow the node CSV into the thesis's 2-40 MB datasets by repeating its rows.

Section 4.1: the ~650 kB node-54 data was "duplicated and concatenated" into
datasets of 2, 10, 20 and 40 MB. Here 1 MB = 10^6 bytes, the header is written
once, and rows are repeated in order until the file reaches its size, so it ends
within one row of the target.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import atomic
from ..errors import InputError
from .intel_lab import OUTPUT_COLUMNS as COLUMNS

MB = 10**6

log = logging.getLogger(__name__)


class DatasetError(InputError):
    pass


def build_dataset(source_csv: str | Path, size_mb: float, dest: str | Path) -> int:
    """Write ``dest`` of at least ``size_mb`` MB and less than one row more; return its size."""
    source_csv = Path(source_csv)
    header, _, body = source_csv.read_bytes().partition(b"\n")
    columns = header.decode(errors="replace").strip().split(",")
    if columns != list(COLUMNS):
        raise DatasetError(f"{source_csv}:1: expected the columns {','.join(COLUMNS)}, found {','.join(columns)!r}")
    if not body.strip():
        raise DatasetError(f"{source_csv}:2: no data rows to repeat")
    if not body.endswith(b"\n"):
        body += b"\n"
    target = round(size_mb * MB)
    need = target - (len(header) + 1)
    repeats, remainder = divmod(max(need, 0), len(body))
    tail = b""
    if remainder:
        cut = body.find(b"\n", remainder - 1) + 1  # finish the row that crosses the target
        tail = body[:cut]
    with atomic.atomic_path(dest) as tmp, tmp.open("wb") as out:
        out.write(header + b"\n")
        for _ in range(repeats):
            out.write(body)
        out.write(tail)
    size = Path(dest).stat().st_size
    log.info("%s: %d bytes (target %d, %d full copies of %s)", dest, size, target, repeats, source_csv)
    return size
