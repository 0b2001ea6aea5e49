"""Read the published Intel Lab file and keep the complete readings of one mote.

The format (reference [68] of the thesis) is one reading a line, space separated,
no header::

    date time epoch moteid temperature humidity light voltage

Real lines can stop early (a reading without light or voltage); the thesis drops
them (Section 5.3.1, ``awk '$4==54 && NF==8'``). Only the few lines that mention
the mote are split in Python; everything else is counted with bytes methods, so
the filter keeps pace with ``zcat | awk`` (see benchmarks/bench_filter.py). Lines are
found by the mote id between single spaces, the published file's separator.
"""

from __future__ import annotations

import gzip
import logging
import math
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from .. import atomic
from ..errors import InputError

FIELDS = ("date", "time", "epoch", "moteid", "temperature", "humidity", "light", "voltage")
OUTPUT_COLUMNS = ("humidity", "light", "voltage", "temperature")
_OUTPUT_INDEX = tuple(FIELDS.index(c) for c in OUTPUT_COLUMNS)
_NUMERIC_INDEX = tuple(range(FIELDS.index("temperature"), len(FIELDS)))
_CHUNK_BYTES = 8 << 20

log = logging.getLogger(__name__)


class IntelLabFormatError(InputError):
    """The input is not in the published format; the message names file and line."""


@dataclass
class FilterCounts:
    """What the filter saw. ``other_motes`` also holds lines too short to name a mote."""

    source: str
    mote: int
    lines_read: int = 0
    kept: int = 0
    dropped_incomplete: int = 0
    other_motes: int = 0
    blank_lines: int = 0


class _MoteFilter:
    def __init__(self, path: Path, mote: int):
        self.path = path
        self.mote = str(mote).encode()
        # A literal pattern lets the regex engine skip ahead by fast search.
        self.candidate = re.compile(re.escape(b" " + self.mote))
        self.counts = FilterCounts(source=str(path), mote=mote)
        self.rows: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        """Consume complete lines: ``chunk`` is empty or ends with a newline."""
        first_line = self.counts.lines_read + 1
        lines, blank = chunk.count(b"\n"), _count_blank_lines(chunk)
        self.counts.lines_read += lines
        self.counts.blank_lines += blank
        mote_lines = 0
        scanned_to, line_no, last_start = 0, first_line, -1
        for match in self.candidate.finditer(chunk):
            start = chunk.rfind(b"\n", 0, match.start()) + 1
            if start == last_start or not chunk[match.end():match.end() + 1].isspace():
                continue
            last_start = start
            line_no += chunk.count(b"\n", scanned_to, start)
            scanned_to = start
            end = chunk.find(b"\n", start)
            fields = chunk[start:end].split()
            if len(fields) >= 4 and fields[3] == self.mote:
                mote_lines += 1
                self._take(fields, line_no)
        self.counts.other_motes += lines - blank - mote_lines

    def _take(self, fields: list[bytes], line_no: int) -> None:
        if len(fields) < len(FIELDS):
            self.counts.dropped_incomplete += 1
            return
        if len(fields) > len(FIELDS):
            raise IntelLabFormatError(
                f"{self.path}:{line_no}: expected {len(FIELDS)} fields "
                f"({' '.join(FIELDS)}), found {len(fields)}"
            )
        for i in _NUMERIC_INDEX:
            if not _is_finite_number(fields[i]):
                raise IntelLabFormatError(
                    f"{self.path}:{line_no}: field {FIELDS[i]} is not a number: "
                    f"{fields[i].decode(errors='replace')!r}"
                )
        if not fields[2].isdigit():
            raise IntelLabFormatError(
                f"{self.path}:{line_no}: field epoch is not an integer: "
                f"{fields[2].decode(errors='replace')!r}"
            )
        self.counts.kept += 1
        self.rows.append(b",".join(fields[i] for i in _OUTPUT_INDEX))


def _count_blank_lines(chunk: bytes) -> int:
    """Empty lines, found with bytes.find so the cost grows with their number only."""
    count = 1 if chunk.startswith(b"\n") else 0
    at = chunk.find(b"\n\n")
    while at >= 0:
        count += 1
        at = chunk.find(b"\n\n", at + 1)
    return count


def _is_finite_number(token: bytes) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def _open(path: Path):
    raw = path.open("rb")
    return raw, (gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw)


def filter_mote(source: str | Path, mote: int, csv_out: str | Path, counts_out: str | Path,
                progress: bool | None = None) -> FilterCounts:
    """Keep the complete readings of ``mote``; write the CSV and the counts JSON.

    Either both files are written whole or neither is touched.
    """
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: input file not found")
    state = _MoteFilter(source, mote)
    raw, stream = _open(source)
    carry = b""
    with raw, tqdm(total=source.stat().st_size, unit="B", unit_scale=True,
                   desc=f"filter mote {mote}", disable=None if progress is None else not progress) as bar:
        while True:
            try:
                block = stream.read(_CHUNK_BYTES)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                where = state.counts.lines_read + carry.count(b"\n")
                raise IntelLabFormatError(
                    f"{source}:{where + 1}: compressed stream is damaged or truncated ({exc})"
                ) from None
            bar.update(raw.tell() - bar.n)
            if not block:
                break
            block = carry + block
            cut = block.rfind(b"\n") + 1
            state.feed(block[:cut])
            carry = block[cut:]
        if carry:
            state.feed(carry + b"\n")
    counts = state.counts
    if counts.kept == 0:
        raise IntelLabFormatError(
            f"{source}:{counts.lines_read}: no complete reading of mote {mote} "
            f"in {counts.lines_read} lines ({counts.dropped_incomplete} incomplete)"
        )
    header = ",".join(OUTPUT_COLUMNS).encode()
    atomic.write_bytes(csv_out, b"\n".join([header, *state.rows]) + b"\n")
    atomic.write_json(counts_out, asdict(counts))
    log.info("mote %d: kept %d of %d lines (%d incomplete, %d other motes, %d blank) -> %s",
             mote, counts.kept, counts.lines_read, counts.dropped_incomplete,
             counts.other_motes, counts.blank_lines, csv_out)
    return counts
