"""Files in the published Intel Lab format, for tests, benchmarks and offline trials.

The values are random but shaped like the real readings (Section 5.3.1: 54 motes
polled every 31 s); a share of lines stops early, as real lines do. Nothing here
pretends to be the real data: reports built from it say so through the counts.
"""

from __future__ import annotations

import gzip
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

from .. import atomic

START = datetime(2004, 2, 28, 0, 58, 46)


def published_lines(n_lines: int, motes: int = 54, incomplete_share: float = 0.01, seed: int = 0):
    """Yield ``n_lines`` lines (without newline) in the published field order."""
    rnd = random.Random(seed)
    for i in range(n_lines):
        mote = rnd.randint(1, motes)
        when = START + timedelta(seconds=31 * (i // motes), microseconds=rnd.randrange(10**6))
        temperature = rnd.gauss(22, 3)
        fields = [
            when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S.%f"), str(i // motes), str(mote),
            f"{temperature:.4f}", f"{rnd.uniform(25, 50):.4f}",
            f"{max(0.0, rnd.gauss(300, 150)):.2f}", f"{rnd.uniform(2.3, 2.8):.5f}",
        ]
        if rnd.random() < incomplete_share:
            fields = fields[: rnd.randint(4, 7)]
        yield " ".join(fields)


def write_published_file(dest: str | Path, n_lines: int, motes: int = 54,
                         incomplete_share: float = 0.01, seed: int = 0) -> Path:
    """Write a gzip file like ``data.txt.gz``, atomically; one seed gives the same bytes every time
    (no name or time in the gzip header)."""
    with atomic.atomic_path(dest) as tmp:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, filename="", mtime=0) as packed, \
                io.TextIOWrapper(packed, encoding="utf-8") as out:
            for line in published_lines(n_lines, motes, incomplete_share, seed):
                out.write(line + "\n")
    return Path(dest)
