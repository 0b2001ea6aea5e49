"""Benchmark: our mote filter against the thesis's `zcat | awk` on a 2.3M-line file.

Section 5.3.1: the real file has 2.3 million readings and the thesis filtered it with
AWK. Both commands run as whole processes, alternated, on the same file; the result
is the ratio of median throughputs (ours / awk), which must be at least 0.5.

    python benchmarks/bench_filter.py [--lines 2300000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import Results, json_option
from mlopsbench.data.synthetic import write_published_file

REQUIRED_RATIO = 0.5


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_300_000)
    parser.add_argument("--repeats", type=int, default=5)
    json_option(parser)
    args = parser.parse_args()
    results = Results(args)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = tmp / "data.txt.gz"
        print(f"writing {args.lines:,} lines in the published format ...", flush=True)
        write_published_file(source, args.lines, seed=1)
        ours = [sys.executable, "-m", "mlopsbench.cli", "filter", "--input", str(source), "--mote", "54",
                "--output", str(tmp / "ours.csv"), "--counts", str(tmp / "counts.json")]
        awk = ["sh", "-c", f"zcat {source} | awk '$4==54 && NF==8' > {tmp / 'awk.txt'}"]
        times: dict[str, list[float]] = {"ours": [], "awk": []}
        for _ in range(args.repeats):
            times["ours"].append(timed(ours))
            times["awk"].append(timed(awk))
        kept_ours = len((tmp / "ours.csv").read_text().splitlines()) - 1
        kept_awk = len((tmp / "awk.txt").read_text().splitlines())

    if kept_ours != kept_awk:
        print(f"FAIL: rows differ (ours {kept_ours}, awk {kept_awk})")
        return 1
    median = {name: results.measured(f"{name} seconds", values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:>4}: median {median[name]:.3f} s (min {min(values):.3f}, max {max(values):.3f}), "
              f"{args.lines / median[name] / 1e6:.2f} M lines/s")
    ratio = median["awk"] / median["ours"]  # throughput ours / throughput awk
    ok = results.ratio("throughput ours / awk", ratio, f">= {REQUIRED_RATIO}", ratio >= REQUIRED_RATIO)
    print(f"throughput ratio ours/awk = {ratio:.2f} (required >= {REQUIRED_RATIO}) {'ok' if ok else 'FAIL'}; "
          f"{kept_ours:,} rows kept by both")
    results.write()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
