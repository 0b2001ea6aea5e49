"""Benchmark: what one job per cell costs, against floors measured in the same run.

1. Per-step overhead against its floor. The floor of a step is a fresh interpreter
   that runs the step's own imports plus the modules its marshalled values need
   (a step that receives a Keras model must import Keras). Overhead is what the
   local backend measures: finished - created - cell time. Required: the median of
   the per-step ratios overhead / floor is at most 1.3.
2. dnnfit's cell time in the split pipeline over the same cell in the monolithic
   baseline (the notebook in one process). Required: at most 1.05.

    python benchmarks/bench_pipeline.py [--runs 3] [--size-mb 0.5] [--epochs 3]

With ``--thesis-scale``: the thesis's largest dataset (40 MB, model 8x8x8) and its largest
model (64x64x64 on 20 MB), each run ``--runs`` times (at least 3) on both backends,
alternated. For every cell: the cell time split / monolithic, paired by repetition, its
median and 95 % t-interval, and whether the cell ran alone in the split run (no other step's
process overlapped it). Required: the median ratio at most 1.05 for dnnfit and for every cell
that ran alone.

    python benchmarks/bench_pipeline.py --thesis-scale [--runs 3] [--epochs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import NOTEBOOK, make_dataset, run_once
from _results import Results, json_option
from mlopsbench.pipeline.compiler import compile_notebook

MARSHAL_IMPORTS = {"parquet": "import pandas, pyarrow.parquet", "keras": "import keras", "npy": "import numpy",
                   "json": "import json"}
_MARSHAL_LINE = re.compile(r"^\[MLB\] marshal (?:load|save) \S+ (\S+) ", re.M)


def floor_seconds(imports: list[str], repeats: int) -> float:
    # Like the steps, the floor ends with os._exit: interpreter teardown is no part of either.
    code = "; ".join(["import mlopsbench.pipeline.marshal", *imports, "import os", "os._exit(0)"])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ran_alone(rows: list[dict]) -> set[str]:
    """Steps of one split run whose [created, finished] no other step's overlapped."""
    spans = {r["step"]: (r["scheduled"], r["finished"]) for r in rows}
    return {step for step, (start, end) in spans.items()
            if not any(s < end and start < e for other, (s, e) in spans.items() if other != step)}


def thesis_scale(args, plan, results: Results) -> int:
    from mlopsbench.results.stats import summarize

    failed = False
    for size_mb, width in ((40, 8), (20, 64)):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            dataset = make_dataset(tmp, size_mb)
            cells = {"local": [], "monolithic": []}
            alone = None
            for rep in range(1, args.runs + 1):
                for backend in ("local", "monolithic"):  # alternated, so drift hits both
                    rows, summary = run_once(plan, backend, tmp, dataset, size_mb, width, args.epochs, rep, args.cores)
                    cells[backend].append({r["step"]: r["cell_seconds"] for r in rows})
                    if backend == "local":
                        alone = ran_alone(rows) if alone is None else alone & ran_alone(rows)
                    print(f"{size_mb} MB {width}x{width}x{width} rep {rep} {backend}: {summary['wall_seconds']:.0f} s",
                          flush=True)
        print(f"\n{size_mb} MB, model {width}x{width}x{width}, {args.epochs} epochs, {args.runs} runs each:")
        print(f"{'cell':<20}{'split s':>10}{'notebook s':>12}{'ratio':>8}  {'95 % CI':<16}alone")
        for step in plan.steps:
            ratios = [split[step] / whole[step] for split, whole in zip(cells["local"], cells["monolithic"])
                      if whole[step] and whole[step] > 0.05]  # a cell too short to compare gives no ratio
            if not ratios:
                continue
            found = summarize(ratios)
            ratio = results.measured(f"{step} split / notebook, {size_mb:g} MB {width}x{width}x{width}", ratios, "ratio")
            checked = step == "dnnfit" or step in alone
            bad = checked and ratio > 1.05
            if checked:
                results.ratio(f"{step} split / notebook, {size_mb:g} MB {width}x{width}x{width}", ratio, "<= 1.05",
                              not bad)
            failed |= bad
            print(f"{step:<20}{statistics.median(c[step] for c in cells['local']):>10.2f}"
                  f"{statistics.median(c[step] for c in cells['monolithic']):>12.2f}{ratio:>8.3f}  "
                  f"[{found['t_low']:.3f}, {found['t_high']:.3f}]  {'yes' if step in alone else 'no'}"
                  f"{'  FAIL (> 1.05)' if bad else ''}")
    print(f"\nrequired: median ratio <= 1.05 for dnnfit and every cell that ran alone: {'FAIL' if failed else 'ok'}")
    results.write()
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--thesis-scale", action="store_true", help="40 MB and 64x64x64 on 20 MB (see above)")
    json_option(parser)
    args = parser.parse_args()
    results = Results(args)
    plan = compile_notebook(NOTEBOOK)
    if args.thesis_scale:
        return thesis_scale(args, plan, results)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dataset = make_dataset(tmp, args.size_mb)
        rows = {"local": [], "monolithic": []}
        walls = {"local": [], "monolithic": []}
        for i in range(args.runs):
            for backend in ("local", "monolithic"):  # alternated, so drift hits both
                steps, summary = run_once(plan, backend, tmp, dataset, args.size_mb, 8, args.epochs, i + 1, args.cores)
                rows[backend] += steps
                walls[backend].append(summary["wall_seconds"])
                print(f"run {i + 1}/{args.runs} {backend} done", flush=True)
        marshal_kinds = {}
        first = Path(rows["local"][0]["raw_dir"])
        for name in plan.steps:
            log = (first / "logs" / f"{name}.log").read_text()
            marshal_kinds[name] = sorted(set(_MARSHAL_LINE.findall(log)))

    print(f"\n{'step':<20}{'overhead s':>12}{'floor s':>10}{'ratio':>8}  floor imports")
    ratios = []
    for name, step in plan.steps.items():
        overhead = statistics.median(r["overhead_seconds"] for r in rows["local"] if r["step"] == name)
        imports = list(dict.fromkeys([*step.imports, *(MARSHAL_IMPORTS[k.split(".")[-1]] for k in marshal_kinds[name])]))
        floor = floor_seconds(imports, repeats=5)
        ratios.append(overhead / floor)
        print(f"{name:<20}{overhead:>12.3f}{floor:>10.3f}{overhead / floor:>8.2f}  {'; '.join(imports)}")
    median_ratio = results.measured("per-step overhead / floor", ratios, "ratio")
    ok_overhead = results.ratio("median per-step overhead / floor", median_ratio, "<= 1.3", median_ratio <= 1.3)
    print(f"\nmedian per-step overhead / floor = {median_ratio:.2f} (required <= 1.3) {'ok' if ok_overhead else 'FAIL'}")

    fit = {b: results.measured(f"dnnfit cell, {b}", [r["cell_seconds"] for r in rows[b] if r["step"] == "dnnfit"])
           for b in rows}
    fit_ratio = fit["local"] / fit["monolithic"]
    ok_fit = results.ratio("dnnfit split / monolithic", fit_ratio, "<= 1.05", fit_ratio <= 1.05)
    print(f"dnnfit cell time: split {fit['local']:.3f} s, monolithic {fit['monolithic']:.3f} s, "
          f"ratio {fit_ratio:.3f} (required <= 1.05) {'ok' if ok_fit else 'FAIL'}")
    wall = {b: results.measured(f"end to end, {b}", values) for b, values in walls.items()}
    print(f"end to end: split {wall['local']:.2f} s, monolithic {wall['monolithic']:.2f} s, "
          f"ratio {wall['local'] / wall['monolithic']:.2f} (reported, no requirement)")
    results.write()
    return 0 if ok_overhead and ok_fit else 1


if __name__ == "__main__":
    sys.exit(main())
