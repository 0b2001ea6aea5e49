"""Benchmark: why dnnfit trains slower as a pod than as a process, its candidate cause taken away
and put back.

In the shipped reference dnnfit's cell took about 1.10 times as long as a pod as in the
monolithic notebook, and 0.99 times as long as a local process of the split pipeline (calibrated,
pairs within blocks from 20 MB on). The cell's own time leaves out waiting for cores and imports,
so what is left is how the pod runs the same code on the same interpreter. Two candidates: the pod's CPU limit (a
CFS quota of its cores on its cgroup) and its seccomp profile (RuntimeDefault: every system call
filtered, and the kernel's per-task speculation mitigations for filtered tasks). Here the
pipeline up to dnnfit (preprocessing, dnncompile, dnnfit: the notebook's own cells and settings)
runs in rounds, each variant once per round in a shuffled order, every run calibrated just before
and after it as the study's runs are (``config/cluster-thesis.yaml``'s ``pipeline.calibration``):

  process         a local process (the baseline of each round)
  process-quota   a local process in a cgroup with the pod's CFS quota (its cores x 100 ms per 100 ms)
  pod             a pod as the kubernetes backend makes it (CPU request and limit, RuntimeDefault)
  pod-no-limit    the same pod with the request only (``kubernetes.cpu_limit: false``)
  pod-unconfined  the same pod without a seccomp profile

The pods run in a namespace of the benchmark's own (privileged: the package's namespace enforces
the restricted level, which forbids an unconfined pod), removed at the end. Per variant: dnnfit's
cell time (its [JT] line) and its ratio to the process of the same round (calibrated to the runs'
median speed, as the blocks' ratios are; as measured with ``--no-calibration``), each with its 95 %
interval (of the mean, or of the median where the values are not normal), the seconds the step's
cgroup was throttled by a CFS quota (as the kernel counts them; the step prints it), the cores its
cell kept busy (its CPU seconds over its wall seconds: a slower cell with cores as busy did more
work, one with idler cores waited for a CPU or was blocked), those its threads waited for on a run
queue (which of the two it was) and those the rest of the machine kept busy meanwhile (what took
the CPU it waited for), how often its cell was off its CPU, the pages its cell read back from disk
(major faults) and the blocks it read, and the CPU time stolen by the hypervisor over each run (the
other cause the reference's runs show). A variant is slower than the process where its ratio is
above 1.05 with its interval above 1, and as fast where its interval is at most 1.05; a candidate
is the cause where the pod is slower and the pod without it as fast; for the quota, the process
under it must slow as the pod does (``results.dnnfit_causes``, which the reference's report reads
from the runs kept with ``--keep``). The machine must be quiet: run nothing else.

Needs root (the cluster, the cgroup). A cluster that was up stays up; one that was down is started
and stopped again.

    python benchmarks/bench_dnnfit.py [--rounds 3] [--size-mb 20] [--epochs 5] [--no-calibration] [--keep DIR]
                                      [--first-round N] [--json PATH]

``--first-round`` numbers the rounds from N, so that runs kept beside an earlier set of the same size
are new rounds of it (each round's order is the one a run from round 1 would have drawn).

At 20 MB dnnfit takes about 25 s an epoch here, so the default (5 epochs, 3 rounds, 5 variants)
takes about 40 minutes, and the calibrations (about 5 s before and after each run) 3 more.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pandas as pd
from _common import NOTEBOOK, REPO, make_dataset, run_once
from _results import Results, json_option
from mlopsbench.cluster import lifecycle
from mlopsbench.cluster.node import Layout
from mlopsbench.cluster.objects import admin_api
from mlopsbench.cluster.target import target_from_config
from mlopsbench.config import load_config
from mlopsbench.pipeline.backends import kubernetes as kubernetes_backend
from mlopsbench.pipeline.compiler import compile_notebook
from mlopsbench.pipeline.tidy import tidy_pipeline
from mlopsbench.pipeline.calibration import CalibrationSettings
from mlopsbench.results.dnnfit_causes import (CAUSES, SAME, dnnfit_causes, dnnfit_seconds, fits, ratio_read, ratio_summary,
                                              verdicts)
from mlopsbench.results.report.tables import with_ci

CORES = 2
UP_TO_DNNFIT = ("imports", "pipeline-parameters", "block:preprocessing", "block:dnncompile", "block:dnnfit")
VARIANTS = ("process", "process-quota", "pod", "pod-no-limit", "pod-unconfined")
NAMESPACE = "mlopsbench-bench-dnnfit"


def up_to_dnnfit(folder: Path) -> Path:
    """The notebook with only the cells dnnfit needs, unchanged."""
    notebook = json.loads(NOTEBOOK.read_text())
    notebook["cells"] = [c for c in notebook["cells"]
                         if any(tag in UP_TO_DNNFIT for tag in c.get("metadata", {}).get("tags", []))]
    path = folder / "up_to_dnnfit.ipynb"
    path.write_text(json.dumps(notebook))
    return path


@contextmanager
def cpu_quota(cores: int):
    """This process, and what it starts meanwhile, in a cgroup whose CFS quota is ``cores`` (as a
    pod's CPU limit sets on the pod's cgroup)."""
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    root = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup/cpu")
    group = root / f"mlb-bench-quota-{os.getpid()}"
    group.mkdir()
    if v2:
        (group / "cpu.max").write_text(f"{cores * 100_000} 100000")
    else:
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text(str(cores * 100_000))
    (group / "cgroup.procs").write_text(str(os.getpid()))
    try:
        yield
    finally:
        (root / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()


@contextmanager
def unconfined():
    """The step pods' seccomp profile taken away in their manifests (no setting offers it: the
    restricted level of the package's namespace requires one)."""
    original = kubernetes_backend.pod_manifest

    def manifest(*args, **kwargs):
        made = original(*args, **kwargs)
        made["spec"]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
        return made

    kubernetes_backend.pod_manifest = manifest
    try:
        yield
    finally:
        kubernetes_backend.pod_manifest = original


@contextmanager
def own_namespace():
    """A privileged namespace with the step pods' service account; deleted at the end."""
    from kubernetes import client

    core = client.CoreV1Api(admin_api(Layout.default()))
    core.create_namespace({"metadata": {"name": NAMESPACE,
                                        "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})
    try:
        core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": "mlopsbench-step"}})
        yield
    finally:
        core.delete_namespace(NAMESPACE)


def variant_context(variant: str):
    """What a variant changes around its run (nothing for the process and the plain pods)."""
    if variant == "process-quota":
        return cpu_quota(CORES)
    return unconfined() if variant == "pod-unconfined" else nullcontext()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--first-round", type=int, default=1, help="the first round's number")
    parser.add_argument("--size-mb", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2020, help="draws each round's order")
    parser.add_argument("--no-calibration", action="store_true", help="run without the calibrations")
    parser.add_argument("--keep", help="keep the runs' raw exports in this directory")
    json_option(parser)
    args = parser.parse_args()
    if args.first_round < 1:
        parser.error("--first-round: rounds are numbered from 1")
    results = Results(args)

    scratch = Path(tempfile.mkdtemp(prefix="mlb-dnnfit-"))
    root = Path(args.keep) if args.keep else scratch
    was_up = lifecycle.status() is not None
    cluster = lifecycle.up(REPO)
    # The package's cluster reached as the admin, in the benchmark's own namespace.
    section = load_config(REPO / "config/cluster-local.yaml")["kubernetes"] | {
        "local": False, "kubeconfig": cluster.admin_kubeconfig, "context": None, "namespace": NAMESPACE}
    pod = target_from_config(section)
    targets = {"pod": pod, "pod-unconfined": pod, "pod-no-limit": target_from_config(section | {"cpu_limit": False})}
    calibration = None if args.no_calibration else CalibrationSettings(
        **load_config(REPO / "config/cluster-thesis.yaml")["pipeline"]["calibration"])
    plan = compile_notebook(up_to_dnnfit(scratch))
    dataset = make_dataset(scratch / "data", args.size_mb)
    run_dirs = []
    order = random.Random(args.seed)
    try:
        with own_namespace():
            for round_ in range(1, args.first_round + args.rounds):
                variants = list(VARIANTS)
                order.shuffle(variants)
                if round_ < args.first_round:  # the orders a set from round 1 would have drawn
                    continue
                for variant in variants:
                    backend = "kubernetes" if variant.startswith("pod") else "local"
                    with variant_context(variant):
                        rows, run = run_once(plan, backend, root / variant, dataset, args.size_mb, 8, args.epochs,
                                             round_, CORES, cluster=targets.get(variant), study=f"{CAUSES}{variant}",
                                             calibration=calibration)
                    run_dirs.append(run["raw_dir"])
                    fit = fits(pd.DataFrame(rows)).iloc[0].fillna(0)
                    print(f"round {round_}: {variant:<15} dnnfit {fit['cell_seconds']:.1f} s, "
                          f"CPU {fit['cpu_seconds']:.1f} s (the machine's {fit['machine_busy_seconds']:.1f} s), "
                          f"waiting for a CPU {fit['run_queue_seconds']:.1f} s, {fit['major_faults']:.0f} major faults, "
                          f"{fit['disk_read_blocks']:.0f} blocks read, "
                          f"CFS throttled {fit['cfs_throttled_seconds']:.2f} s, "
                          f"CPU stolen over the run {run.get('cpu_steal_pct') or 0:.1f} %", flush=True)
    finally:
        if not was_up:
            lifecycle.down()

    steps, runs = tidy_pipeline(run_dirs, scratch / "steps.parquet", scratch / "runs.parquet")
    seconds = dnnfit_seconds(steps, runs)
    table = dnnfit_causes(seconds)
    print(f"\ndnnfit's cell at {args.size_mb:g} MB, {args.epochs} epochs, {args.rounds} rounds:")
    for row in table.itertuples():
        results.measured(f"dnnfit {row.variant}", list(seconds[seconds["variant"] == row.variant]["cell_seconds"]))
        print(f"  {row.variant:<15} {with_ci(row._asdict(), 1, 's')}; {ratio_read(table)} "
              f"{with_ci(ratio_summary(row._asdict()), 3)}; most CPU stolen {row.steal_max_pct:.1f} %; "
              f"most CFS throttling {row.throttled_max_s:.2f} s; cores busy {row.cores_busy:.2f}, waiting "
              f"{row.cores_queued:.2f}, the rest of the machine's busy {row.rest_cores_busy:.2f}; off its CPU in "
              f"{row.off_cpu_runs} of {row.cores_runs} runs")
        if row.variant != "process":
            results.ratio(f"dnnfit {row.variant} / process of the same round", row.ratio,
                          f"not above {SAME} with its interval above 1 = not slower than the process", not row.slower)
    for verdict in verdicts(table):
        print(verdict)
    results.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
