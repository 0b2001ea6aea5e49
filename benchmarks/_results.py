"""What a benchmark keeps: its numbers with the commit and the machine that measured them, written
to a JSON file (``--json PATH``), so that a change's effect on a ratio is a diff between two such
files (``benchmarks/compare.py``), not a memory."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mlopsbench import atomic
from mlopsbench.results.report.provenance import machine

REPO = Path(__file__).resolve().parents[1]


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, help="write the numbers, the commit and the machine to this file")


def _commit() -> str:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{head or 'unknown'}{' (with uncommitted changes)' if dirty else ''}"


class Results:
    """The figures (medians of repeated measurements) and the ratios a benchmark judges."""

    def __init__(self, args: argparse.Namespace):
        self.path = args.json
        self.data = {"benchmark": Path(sys.argv[0]).stem, "arguments": {k: str(v) for k, v in vars(args).items()},
                     "measured": {}, "ratios": {}}

    def measured(self, name: str, values, unit: str = "s") -> float:
        values = [float(v) for v in values]
        median = statistics.median(values)
        self.data["measured"][name] = {"unit": unit, "median": median, "min": min(values), "max": max(values),
                                       "values": values}
        return median

    def ratio(self, name: str, value: float, required: str, ok: bool) -> bool:
        self.data["ratios"][name] = {"value": float(value), "required": required, "ok": bool(ok)}
        return ok

    def write(self) -> None:
        if self.path:
            atomic.write_json(self.path, self.data | {"commit": _commit(), "machine": machine(),
                                                      "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            print(f"results written to {self.path}")


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())
