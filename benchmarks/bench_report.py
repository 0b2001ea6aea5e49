"""Benchmark: statistics + figures + PDF report for 10x the rows of the full design against 1x.

Tidy tables shaped like the thesis design (84 pipeline runs x 9 steps, 320 uploads) are
generated at 1x and 10x the repetitions; both go through the same stats, figures and
report code in this process, alternated over a few rounds. Required: the median time
ratio 10x / 1x is at most 3 (the work that grows with rows must stay small beside the
fixed cost of drawing and laying out).

    python benchmarks/bench_report.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mlopsbench.config import load_config
from mlopsbench.results.sample_tables import tidy_tables
from _results import Results, json_option
from mlopsbench.results.analysis import analyse
from mlopsbench.results.figures import make_figures
from mlopsbench.results.report import write_report

REPO = Path(__file__).resolve().parents[1]


def build(tables, out: Path, analysis: dict) -> float:
    start = time.perf_counter()
    analyse(*tables, margin=analysis["equivalence_margin"], little=analysis["little_change_points"]).write(
        out / "stats")
    make_figures(out / "stats", out / "figures")
    write_report(out / "stats", out / "figures", REPO / "config/config.yaml", REPO / "report/report.md.j2",
                 out / "report.pdf")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    json_option(parser)
    args = parser.parse_args()
    results = Results(args)
    config = load_config(REPO / "config/config.yaml")
    tables = {scale: tidy_tables(config, scale=scale, seed=scale) for scale in (1, 10)}
    for scale, (steps, _, uploads, _) in tables.items():
        print(f"{scale:>2}x: {len(steps):,} step rows, {len(uploads):,} uploads")
    times = {1: [], 10: []}
    with tempfile.TemporaryDirectory() as tmp:
        build(tables[1], Path(tmp) / "warm-up", config["analysis"])  # imports and font caches, once
        for i in range(args.rounds):
            for scale in (1, 10):
                times[scale].append(build(tables[scale], Path(tmp) / f"{scale}x-{i}", config["analysis"]))
    median = {scale: results.measured(f"stats, figures and report at {scale}x", values) for scale, values in times.items()}
    for scale, values in times.items():
        print(f"{scale:>2}x: median {median[scale]:.2f} s (min {min(values):.2f}, max {max(values):.2f})")
    ratio = median[10] / median[1]
    ok = results.ratio("time 10x / 1x", ratio, "<= 3", ratio <= 3)
    print(f"time ratio 10x / 1x = {ratio:.2f} (required <= 3) {'ok' if ok else 'FAIL'}")
    results.write()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
