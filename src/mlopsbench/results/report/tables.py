"""The report's tables: pure functions from the statistics (and the thesis's numbers) to a Table.

Backends and setups are those found in the statistics, in the registries' order of
meaning (cluster backends first), never names written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ...data.models import NORMALIZATION_PARAMS, trainable_params
from ...paths import architecture_name
from ...store.kernel_delay import QUEUE_FLOOR_MB_S
from ..analysis import split_backends
from ..bundle import StatsBundle
from ..dnnfit_causes import CORES, SAME, ratio_summary
from ..stats import in_series

TABLE2_JOBS = ("dnnfit", "plot", "dnneval", "dnnpredict")
TABLE4_JOBS = ("dnnfit", "plot", "dnneval", "preprocessing")


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


def num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def pct(value, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f} %"


def interval(mean, low, high) -> str:
    return f"{num(mean)} [{num(low)}, {num(high)}]"


def with_ci(row, digits: int = 2, unit: str = "") -> str:
    """The interval ``stats.summarize`` says to read: 'mean [low, high]' (t), 'median m [low, high]',
    'mean (range low to high)' where too few values allow no interval, or the one value; ``unit``
    (s, %) follows the number it belongs to."""
    if row is None:
        return "n/a"
    low, high = num(row["low"], digits), num(row["high"], digits)
    after = f" {unit}" if unit else ""
    return {"t": f"{num(row['mean'], digits)} [{low}, {high}]{after}",
            "median": f"median {num(row['median'], digits)} [{low}, {high}]{after}",
            "range": f"{num(row['mean'], digits)}{after} (range {low} to {high})",
            "value": f"{num(row['mean'], digits)}{after} (one value)"}.get(row["read"], "n/a")


def first_row(frame: pd.DataFrame, **match) -> pd.Series | None:
    """The first row whose columns equal ``match``, or None."""
    for key, value in match.items():
        frame = frame[frame[key] == value]
    return None if frame.empty else frame.iloc[0]


def backends_of(stats: StatsBundle) -> list[str]:
    """Every backend in the statistics: those that split the notebook first, then the rest."""
    names = sorted(stats.pipeline_steps_summary["backend"].unique())
    split = split_backends(names)
    return split + [n for n in names if n not in split]


def _dataset_steps(stats, metric: str) -> pd.DataFrame:
    frame = stats.pipeline_steps_summary
    return in_series(frame[frame["metric"] == metric], "dataset")


def per_size(stats, metric: str, jobs, ref: dict, title: str) -> Table:
    """Jobs against dataset size, a row per job and backend, the thesis's numbers beside the first."""
    frame = _dataset_steps(stats, metric)
    sizes = sorted(frame["dataset_mb"].unique())
    header = ["job", "backend", *(f"ours {s:g} MB" for s in sizes), *(f"thesis {s:g} MB" for s in ref["dataset_mb"])]
    rows = []
    for job in jobs:
        for i, backend in enumerate(backends_of(stats)):
            ours = [with_ci(first_row(frame, step=job, dataset_mb=s, backend=backend)) for s in sizes]
            thesis = [num(v) for v in ref["jobs"][job]] if i == 0 else [""] * len(ref["dataset_mb"])
            rows.append([job if i == 0 else "", backend, *ours, *thesis])
    return Table(title, header, rows, f"Ours: mean [95 % CI] over repetitions, per backend; a duration counts the "
                 "step's waiting for cores, start-up, marshalling and the rest, as the thesis's does. Thesis: "
                 f"{ref['cite']}, mean of 6 runs on its Kubernetes cluster.")


def other_durations(stats, ref: dict) -> Table:
    frame = _dataset_steps(stats, "duration_seconds")
    backends = backends_of(stats)
    rows = []
    for job, (low, high) in ref["jobs"].items():
        ranges = []
        for backend in backends:
            means = frame.loc[(frame["step"] == job) & (frame["backend"] == backend), "mean"]
            ranges.append(f"{num(means.min())} to {num(means.max())}" if len(means) else "no such job")
        rows.append([job, *ranges, f"{num(low)} to {num(high)}"])
    return Table("Table 3 analogue: range of mean durations [s] across dataset sizes",
                 ["job", *(f"ours ({b})" for b in backends), "thesis"], rows,
                 f"Thesis: {ref['cite']}. kale-marshall-volume is Kale's PVC job; our marshal directory needs no job.")


def overall(stats, ref_points: list[dict]) -> Table:
    split = split_backends(backends_of(stats))
    frame = stats.pipeline_overall_summary
    frame = frame[frame["backend"].isin(split)]  # one process per notebook has no overhead by construction
    rows = []
    order = {b: i for i, b in enumerate(split)}
    frame = frame.assign(_order=frame["backend"].map(order)).sort_values(["_order", "trainable_params", "dataset_mb"])
    keys = ["backend", "series", "dataset_mb", "model"]
    nowait = frame[frame["metric"] == "overhead_nowait_pct"].set_index(keys)
    for _, row in frame[frame["metric"] == "overhead_pct"].iterrows():
        thesis = [p for p in ref_points if p["model"] == row["model"] and row["series"] in p["series"]
                  and p["dataset_mb"] == row["dataset_mb"] and row["backend"] == split[0]]
        quoted = "; ".join(f"{p['value']} % ({p['cite'].split(' (')[0]})" for p in thesis)
        key = tuple(row[k] for k in keys)
        rows.append([row["backend"], row["series"], f"{row['dataset_mb']:g}", row["model"], str(int(row["n"])),
                     with_ci(row, 1), with_ci(nowait.loc[key], 1) if key in nowait.index else "n/a", quoted or "-"])
    return Table("Overall overhead % of a run (Figures 15 and 16)",
                 ["backend", "series", "dataset MB", "model", "n", "ours", "ours without waiting",
                  "thesis, same configuration"], rows,
                 "Ours: the thesis's definition, every part of the overhead counted, a step's wait for cores "
                 "included; without waiting: the same with that wait taken out of the steps' overhead and duration "
                 "(the thesis's workers had 8 vCPUs and its pods waited under a second). The thesis's values (its "
                 "Kubernetes runs) stand beside ours where it quotes the same dataset and model. The notebook run "
                 "as one process has no overhead by this definition and is not listed.")


def end_to_end(stats) -> Table:
    frame = stats.pipeline_runs_summary
    backends = backends_of(stats)
    rows = []
    if not frame.empty:
        for (series, size, model), group in frame.groupby(["series", "dataset_mb", "model"]):
            by = group.set_index("backend")
            rows.append([series, f"{size:g}", model, *(with_ci(by.loc[b]) if b in by.index else "n/a" for b in backends)])
    return Table("End to end: one job per cell against the notebook in one process (wall time [s])",
                 ["series", "dataset MB", "model", *backends], rows,
                 "Wall time from the first job's creation to the last job's end; the notebook in one process from "
                 "spawn to exit. The backends are compared pairwise within blocks below.")


def block_pairs(stats) -> Table:
    """The paired ratios between backends, per configuration and pooled from 20 MB on."""
    frame = stats.pipeline_pair_summary
    rows = []
    for (a, b, metric, scope), group in (frame.groupby(["a", "b", "metric", "scope"], sort=False)
                                         if not frame.empty else []):
        by = group.set_index("times")
        rows.append([f"{a} / {b}", metric, scope, str(int(by.loc["measured", "n"])), with_ci(by.loc["measured"], 3),
                     with_ci(by.loc["calibrated"], 3)])
    return Table("Backends compared within blocks (ratios, one per block)",
                 ["backends", "what", "configuration", "blocks", "as measured", "calibrated"], rows,
                 "A block runs one configuration and repetition on every backend back to back, in a drawn order; "
                 "each ratio pairs two of its runs. Calibrated: each run's time at the study's median machine "
                 "speed (its Keras calibration just before and after it); the verdicts read the calibrated ratios. "
                 "dnnfit split / notebook: the training cell timed inside its own job against the same cell inside "
                 "the notebook's one process; near 1, a cell split into a job of its own trains at the notebook's "
                 "speed.")


def dnnfit_effects(stats) -> Table:
    """dnnfit per backend against the notebook, from one fit over the blocks, stolen CPU held equal or not."""
    frame = stats.pipeline_dnnfit_effects
    rows = [[r["model"], r["term"] if r["term"].startswith("a point") else f"{r['term']} / {r['against']}",
             interval(r["ratio"], r["low"], r["high"]), str(int(r["runs"])), str(int(r["blocks"]))]
            for _, r in frame.iterrows()]
    return Table("dnnfit's cell from 20 MB on, with the CPU the host stole held equal (ratios)",
                 ["fit", "term", "ratio [95 % CI]", "runs", "blocks"], rows,
                 "One least-squares fit of the logarithm of dnnfit's cell time over every usable block, each block "
                 "a fixed effect, as measured (no calibration); then with the share of CPU the hypervisor stole "
                 "over each run (from /proc/stat, recorded with every run) as a covariate. Its own row is what a "
                 "point of stolen CPU multiplies the cell's time by. Where a backend's ratio moves between the two "
                 "fits, stolen CPU made part of it.")


def pod_cost(stats) -> Table:
    frame = stats.pipeline_pod_cost
    rows = []
    for (cluster, local, step), group in (frame.groupby(["cluster", "local", "step"], sort=False)
                                          if not frame.empty else []):
        by = group.set_index("value")
        rows.append([step, f"{cluster} - {local}", str(int(by.loc["overhead_nowait_seconds", "n"])),
                     with_ci(by.loc["overhead_nowait_seconds"]), with_ci(by.loc["overhead_seconds"]),
                     with_ci(by.loc["overhead_nowait_seconds_cal"])])
    return Table("What a step costs as a pod over a process (overhead seconds, paired within blocks)",
                 ["step", "backends", "pairs", "without waiting", "waiting included", "without waiting, calibrated"],
                 rows, "Each pair is one step of one block, run as a pod and as a local process minutes apart. "
                       "Without waiting: each overhead less the step's wait for cores (2 here; the thesis's workers "
                       "had 8).")


def machine(stats) -> Table:
    """The calibrations: how fast the machine was, how far it moved within a run, what its host took."""
    frame = stats.pipeline_machine
    frame = frame[frame["keras_step_s"].notna()] if not frame.empty else frame
    rows = []
    for label, values, digits in (
            ("Keras training step [us]", pd.concat([frame["cal_before_keras_step_s"],
                                                     frame["cal_after_keras_step_s"]]) * 1e6, 0),
            ("pure-Python loop [s]", pd.concat([frame["cal_before_python_s"], frame["cal_after_python_s"]]), 3),
            ("Keras drift over a run [%]", frame["keras_drift_pct"], 1),
            ("Python drift over a run [%]", frame["python_drift_pct"], 1),
            ("CPU stolen by the host over a run [%]", frame["cpu_steal_pct"], 1),
            ("CPU idle over a run [%]", frame["cpu_idle_pct"], 1)):
        rows.append([label, str(values.notna().sum()), num(values.min(), digits), num(values.median(), digits),
                     num(values.max(), digits)])
    return Table("The machine beside every run: its calibrations and CPU shares",
                 ["", "n", "lowest", "median", "highest"], rows,
                 "Each run is calibrated just before and after it, on its own interpreter: a fixed Keras training "
                 "loop (one thread, batch 32) and a pure-Python loop; drift = after / before - 1. Runs whose "
                 f"calibration moved more than 10 % between its ends: {_drifted(frame)}.")


def _drifted(frame: pd.DataFrame, shown: int = 5) -> str:
    """How many runs' calibrations moved more than the limit, and the ``shown`` that moved most."""
    drifted = frame[frame["drifted"].astype(bool)] if not frame.empty else frame
    if drifted.empty:
        return "none"
    largest = drifted[["keras_drift_pct", "python_drift_pct"]].abs().max(axis=1).sort_values(ascending=False)
    named = "; ".join(f"{r['run_id']} ({r['keras_drift_pct']:+.0f} % Keras, {r['python_drift_pct']:+.0f} % Python)"
                      for _, r in drifted.loc[largest.index[:shown]].iterrows())
    if len(drifted) <= shown:
        return named
    return (f"{len(drifted)} of {len(frame)}, the {shown} that moved most: {named} (every one: the column drifted "
            "of pipeline_machine.csv in the statistics)")


def calibrated_cells(stats) -> Table:
    """dnnfit's cell time per configuration as measured and at the study's median speed."""
    frame = stats.pipeline_steps_summary
    frame = frame[(frame["step"] == "dnnfit") & frame["metric"].isin(["cell_seconds", "cell_seconds_cal"])]
    rows = []
    for (backend, size, model), group in frame.groupby(["backend", "dataset_mb", "model"], sort=False):
        by = group.set_index("metric")
        if "cell_seconds_cal" not in by.index or not by.loc["cell_seconds_cal", "n"]:
            continue
        spread = [num(100 * by.loc[m, "sd"] / by.loc[m, "mean"], 1) for m in ("cell_seconds", "cell_seconds_cal")]
        rows.append([backend, f"{size:g}", model, str(int(by.loc["cell_seconds", "n"])),
                     with_ci(by.loc["cell_seconds"], 1), with_ci(by.loc["cell_seconds_cal"], 1), *spread])
    return Table("dnnfit's own time, as measured and calibrated [s]",
                 ["backend", "dataset MB", "model", "n", "as measured", "calibrated", "spread %", "spread % cal."], rows,
                 "Calibrated: the run's time times the study's median calibration over the run's own (the Keras "
                 "step's, mean of before and after). Spread: standard deviation over the mean across repetitions; "
                 "a calibration that tracks the machine makes it smaller.")


def uploads(stats, ref: list[dict]) -> Table:
    frame = stats.upload_summary
    setups = sorted(frame["setup"].unique())
    quoted = {(r["latency_ms"], r["model_mb"]): r for r in ref}
    rows = []
    for (latency, size), group in frame.groupby(["latency_ms", "model_mb"]):
        by = group.set_index("setup")
        cells = [with_ci(by.loc[s], 3) if s in by.index else "n/a" for s in setups]
        thesis = quoted.get((latency, size))
        rows.append([f"{latency:g}", f"{size:g}", str(int(group["n"].max())), *cells,
                     f"{thesis['seconds']} s ({thesis['setup']})" if thesis else "-"])
    return Table("Upload times [s] (Figure 19)", ["latency ms", "model MB", "n", *setups, "thesis"], rows,
                 "Ours: mean [95 % CI] per setup; thesis: times quoted in Section 6.2 for its sizes only.")


def equivalence(stats) -> Table:
    frame = stats.upload_equivalence
    rows = []
    for (a, b), group in (frame.groupby(["a", "b"]) if not frame.empty else []):
        tested = group[group["equivalent"].notna()]
        rows.append([f"{a} vs {b}", str(len(group)), str(len(tested)), str(int(tested["equivalent"].astype(bool).sum())),
                     num(group["diff"].abs().median(), 3)])
    return Table("The thesis's VM-against-pod comparison (claim C9), per pair of setups",
                 ["pair", "cells", "tested", "equivalent (TOST)", "median |difference| s"], rows,
                 "A cell is one latency and model size; 'tested' needs at least two uploads on each side.")


def upload_cells(frame: pd.DataFrame, title: str = "Upload cells") -> Table:
    rows = [[r["setup"], f"{r['latency_ms']:g}", r["status"], str(r["uploads"]), str(r["failed"]), _delay_check(r),
             r["reason"] if isinstance(r["reason"], str) else ""] for _, r in frame.iterrows()]
    return Table(title, ["setup", "latency ms", "status", "uploads", "not ok", "delay check", "note"], rows,
                 "The delay check (kernel-path delay only) is the round trip measured across the delayed link, "
                 "less the same path without the delay (within 1 ms of the setting), and the throughput through "
                 f"the queue at 0 ms (at least {QUEUE_FLOOR_MB_S:.0f} MB/s, five times the fastest upload of the reference run); a cell "
                 "measures the latency, not the emulator, where both hold.")


def _delay_check(row) -> str:
    added = row.get("delay_round_trip_ms")
    if added is None or pd.isna(added):
        return "-"
    verdict = "ok" if row["delay_round_trip_ok"] and row["delay_throughput_ok"] else "OFF"
    return (f"+{added - row['delay_base_round_trip_ms']:.1f} ms, "
            f"{row['delay_throughput_mb_s']:.0f} MB/s: {verdict}")


def parameters(models: list[str], printed: dict) -> Table:
    """The trainable parameters of each model the runs trained (named width x ... x width)."""
    rows = []
    for model in models:
        width, hidden_layers = int(model.split("x")[0]), model.count("x") + 1
        ours = trainable_params(width, hidden_layers)
        total = ours + NORMALIZATION_PARAMS
        thesis = printed.get(width)
        if thesis is None:
            note = "not in the thesis"
        elif thesis == ours:
            note = "same"
        elif thesis == total:
            note = f"thesis counts Normalization's {NORMALIZATION_PARAMS} non-trainable weights"
        else:
            note = "thesis value fits neither count (typo?)"
        rows.append([architecture_name(width, hidden_layers), str(ours), str(total), str(thesis or "-"), note])
    return Table("Trainable parameters (Section 4.1)", ["model", "trainable", "total", "thesis prints", "note"], rows)


def claims(stats) -> Table:
    frame = stats.claims
    rows = []
    for _, r in frame.iterrows():
        evidence = r["evidence"] if not isinstance(r.get("conditions"), str) else f"{r['conditions']}: {r['evidence']}"
        verdict = r["verdict"] if r.get("counted", True) else f"{r['verdict']} (shown, not counted)"
        rows.append([r["id"], r["claim"], r["cite"], evidence, verdict])
    return Table("Claims of the thesis (C) and of this package (S), judged on our data",
                 ["", "claim", "where", "our evidence", "verdict"], rows,
                 "C1, C2, C4 and C5 are judged twice: on the thesis's definition as measured here (a step's wait "
                 "for cores included) and without that wait; the second is counted, since it matches the thesis's "
                 "conditions (its pods waited under a second).")


def setup(machine: str, backends: list[str], setups: list[str], versions: str, checksums: list[tuple[str, str]],
          counts: dict | None) -> Table:
    rows = [["machine", machine], ["backends", ", ".join(backends) or "none (pipeline experiment missing)"],
            ["upload setups", ", ".join(setups) or "none"], ["versions", versions]]
    rows += [[f"sha256 {path}", digest] for path, digest in checksums]
    if counts:
        rows.append(["node filter", ", ".join(f"{k} {v}" for k, v in counts.items() if k != "source")])
    return Table("Machine, software and input", ["", ""], rows)


PART_NAMES = {"wait_seconds": "waiting", "startup_seconds": "start-up", "marshal_seconds": "marshalling",
              "rest_seconds": "the rest"}


def overhead_parts(stats) -> Table:
    frame = stats.pipeline_overhead_parts
    rows = [[r["backend"], r["step"], num(r["overhead_seconds"]), *(num(r[p]) for p in PART_NAMES)]
            for _, r in frame.iterrows()]
    return Table("What each step's overhead is made of (mean seconds over every run)",
                 ["backend", "step", "overhead", *PART_NAMES.values()], rows,
                 "Waiting: created to dispatched (a process) or scheduled (a pod), waiting for cores or Pending. "
                 "Start-up: from there to the step's imports done (a container's start, the interpreter, the "
                 "imports, and the libraries its loads and saves import: TensorFlow, for a step that only loads a "
                 "model). Marshalling: the timed loads and saves of values between steps themselves. The rest: the "
                 "process's "
                 "end and the runner seeing it. Tables 2-4 and Figures 15-18 use the thesis's definition, which "
                 "counts all four.")


def pod_seconds(stats) -> Table:
    """Where a pod's seconds go: a row per part, over all steps, with the steps that spend least and most."""
    frame = stats.pipeline_pod_seconds
    rows = []
    for (backend, part), group in frame.groupby(["backend", "part"], sort=False):
        overall, steps = group[group["step"] == "all steps"], group[group["step"] != "all steps"]
        if overall.empty or steps.empty:
            continue
        least, most = steps.loc[steps["mean"].idxmin()], steps.loc[steps["mean"].idxmax()]
        rows.append([backend, part, str(int(overall.iloc[0]["n"])), with_ci(overall.iloc[0], 3),
                     f"{least['step']} {num(least['mean'], 3)}", f"{most['step']} {num(most['mean'], 3)}"])
    return Table("Where a pod's seconds go (seconds per step, from the create call to the watch seeing the end)",
                 ["backend", "part", "n", "all steps", "least (step mean)", "most (step mean)"], rows,
                 "Cut at every clock that marks a pod: the runner's create call and the watch's receive times, the "
                 "container runtime's own nanosecond times of the pod's sandbox and container (CRI, read with "
                 "crictl before the pod is deleted), and the step's first and last statements. Everything but 'the "
                 "step's own work' (its imports, loads, cell and saves) is what running the step as a pod costs; "
                 "a part between two clocks can come out slightly below 0.")


def _twins(stats, events) -> dict[str, str]:
    """A clock that stamps ``events`` as another one does -> "first = second", per backend."""
    twins = stats.pipeline_clock_twins
    merged = {}
    for (backend, clocks), group in (twins.groupby(["backend", "clocks"]) if not twins.empty else []):
        if set(events) <= set(group["event"]):
            merged[(backend, clocks.split(" = ")[1])] = clocks
    return merged


TWINS_NOTE = ("Where two clocks stamp an event identically on every step they are one clock, printed once "
              "('api = prometheus'): kube-state-metrics reads the pod's own API timestamps (its creation, the "
              "PodScheduled condition, the container's end).")


def ablation(stats) -> Table:
    """What a step costs as a pod on stock Kubernetes, and what taking the kubelet's constants away removes."""
    frame = stats.pipeline_ablation
    rows = [[r["kubelet"], r["case"], str(int(r["n"])), with_ci(r, 3), interval(r["saving"], r["saving_low"],
                                                                                r["saving_high"]),
             num(r["predicted"])] for _, r in frame.iterrows()]
    return Table("What a step costs as a pod, and what taking the kubelet's constants away removes (seconds)",
                 ["kubelet", "step", "pods", "the pod's own cost", "saved [95 % CI]", "predicted"], rows,
                 "The pod's own cost: every part of its life on the runtime's clock but the step's own work. Saved: "
                 "against the same step on stock Kubernetes with its volume (Welch interval of the difference of the "
                 "means). Predicted from the kubelet's source (Kubernetes 1.34.4): the PLEG relists every second, so "
                 "an exit is seen 0-1 s late and the pod worker waits for the next relist (about 1.5 s); the volume "
                 "manager checks a pod's volumes at once and then every 300 ms (about 0.3 s). relist-100ms: a kubelet "
                 "built with the relist every 100 ms (cluster/patches). The study's own numbers are stock's.")


def cause_ratio(row, uncalibrated: str = "") -> str:
    """A variant's ratio to the process (``dnnfit_causes``' row), with the same ratio as measured
    beside a calibrated one; ``uncalibrated`` follows one that is not."""
    said = f" (as measured {row['ratio_as_measured']:.3f})" if row["calibrated"] else uncalibrated
    return with_ci(ratio_summary(row), 3) + said


def dnnfit_causes(stats) -> Table:
    """dnnfit's cell as a process and as a pod, each of the pod's candidate causes taken away."""
    frame = stats.pipeline_dnnfit_causes
    rows = [[f"{r['dataset_mb']:g}", r["variant"], str(int(r["n"])), with_ci(r, 1, "s"),
             cause_ratio(r, uncalibrated=" (as measured)"),
             pct(r["steal_max_pct"], 2), "-" if pd.isna(r.get("throttled_max_s")) else f"{r['throttled_max_s']:.2f} s",
             _cores(r)]
            for _, r in frame.iterrows()]
    return Table("dnnfit's cell as a pod, its candidate causes taken away (benchmarks/bench_dnnfit.py)",
                 ["MB", "variant", "rounds", "dnnfit's cell", "over the process of the same round",
                  "most CPU stolen", "most CFS throttling", "cores: busy / waiting / rest"], rows,
                 "The notebook's cells up to dnnfit at the notebook's settings, in rounds, each variant once per round "
                 "in a shuffled order: process, a local process (each round's baseline); process-quota, the same "
                 "under the CFS quota a pod's CPU limit sets; pod, as the kubernetes backend makes it (CPU request and "
                 "limit, the RuntimeDefault seccomp profile); pod-no-limit, without the CPU limit; pod-unconfined, "
                 "without the seccomp profile. The ratios are calibrated (each run's cell time at the median Keras "
                 "speed of the runs of its size) where every run of the size was calibrated, the same ratio as "
                 "measured beside them; marked as measured where not. CFS throttling: the seconds the step's cgroup was "
                 "throttled by its quota, as the kernel counts them. Cores, each the median over the runs whose steps "
                 "printed it (their number in brackets where not every run did): busy, the CPU seconds dnnfit's cell "
                 "used (every thread's) over its wall seconds; a slower cell with as busy cores did more work, one with "
                 "idler cores waited for a CPU or was blocked; waiting, the seconds its threads waited on a run "
                 "queue for a CPU, over its wall seconds; rest, the machine's busy CPU seconds over the cell (every "
                 "process's: the runner, the cluster, the runtime) less the cell's, over its wall seconds. -: runs "
                 f"from before steps printed it. Slower: a ratio above {SAME:g} with its interval above 1; as fast: an interval "
                 f"at most {SAME:g}; neither can be told otherwise. A candidate is the cause where the pod is slower "
                 "than the process and the pod without it as fast; for the quota, the process under it must slow too.")


def _cores(row) -> str:
    """``busy / waiting / rest`` cores of a ``dnnfit_causes`` row, each with its runs where not all printed it."""
    said = []
    for column, counted in CORES.items():
        value, runs = row.get(column), row.get(counted)
        said.append("-" if pd.isna(value) else f"{value:.2f}" + ("" if runs == row["n"] else f" ({int(runs)})"))
    return " / ".join(said)


def clocks(stats) -> Table:
    frame = stats.pipeline_clocks
    twins = _twins(stats, ("created", "finished"))   # the two stamps an overhead reads
    rows = []
    for _, r in frame.iterrows():
        if (r["backend"], r["clock"]) in twins:
            continue
        named = next((t for (b, second), t in twins.items() if b == r["backend"] and t.startswith(f"{r['clock']} =")),
                     r["clock"])
        rows.append([r["backend"], r["step"], named, num(r["reference_mean"]), num(r["clock_mean"]),
                     interval(r["shift_mean"], r["shift_low"], r["shift_high"]), str(int(r["missing"]))])
    return Table("The same overhead on three clocks (seconds per step)",
                 ["backend", "step", "clock", "watch", "this clock", "shift [95 % CI]", "not seen"], rows,
                 "watch: the pod watch's receive times (sub-second), which the statistics read; api: the API "
                 "server's whole seconds; prometheus: kube-state-metrics' whole seconds as Prometheus scraped them "
                 "(max_over_time over the run). 'not seen': steps whose pod no scrape caught. " + TWINS_NOTE)


def clock_lags(stats) -> Table:
    frame = stats.pipeline_clock_lags
    twins = stats.pipeline_clock_twins
    same = {(r["backend"], r["event"], r["clocks"].split(" = ")[1]): r["clocks"] for _, r in twins.iterrows()}
    first = {(b, e, c.split(" = ")[0]): c for (b, e, _), c in same.items()}
    rows = [[r["backend"], first.get((r["backend"], r["event"], r["clock"]), r["clock"]), r["event"], str(int(r["n"])),
             interval(r["lag_mean"], r["lag_low"], r["lag_high"])] for _, r in frame.iterrows()
            if (r["backend"], r["event"], r["clock"]) not in same]
    return Table("Where the clocks part: how long after each clock's stamp the watch saw the event (seconds)",
                 ["backend", "clock", "event", "n", "watch minus clock [95 % CI]"], rows,
                 "A whole-second stamp alone lies a mean 0.5 s before the true time, the same for every event, "
                 "so it cancels in a duration; an event with a larger lag is one the two clocks mark at "
                 "different moments, and that difference is what moves the overhead. 'finished': the container's "
                 "exit against the watch receiving the pod's Succeeded from the kubelet; 'started': api reads the "
                 "container's start, kube-state-metrics the pod's status.startTime (the kubelet accepting the pod), "
                 "which comes earlier. " + TWINS_NOTE)


def memory(stats) -> Table:
    frame = stats.pipeline_memory
    if not frame.empty:  # the largest configuration: the biggest dataset, then the biggest model
        frame = frame.assign(_params=frame["model"].map(lambda m: int(m.split("x")[0])))
        largest = frame.sort_values(["dataset_mb", "_params"]).iloc[-1]
        frame = frame[(frame["dataset_mb"] == largest["dataset_mb"]) & (frame["model"] == largest["model"])]
    rows = [[r["backend"], f"{r['dataset_mb']:g} MB, {r['model']}", r["step"], num(r["median"], 0), num(r["max"], 0)]
            for _, r in frame.iterrows()]
    return Table("Peak resident memory per step, largest configuration (MiB)",
                 ["backend", "configuration", "step", "median", "max"], rows,
                 "From the kernel's accounting of each step's process (ru_maxrss): read by the runner's wait4() "
                 "for a process on this machine, by the step itself at its end in a pod. A pod's limit must "
                 "hold it plus the container's own overhead.")


def serving_time(stats) -> Table:
    frame = stats.serving_summary.sort_values(["setup", "method", "latency_ms", "model_mb"])
    parts = stats.serving_parts.set_index(["setup", "method", "latency_ms", "model_mb"])
    rows = []
    for _, r in frame.iterrows():
        key = (r["setup"], r["method"], r["latency_ms"], r["model_mb"])
        share = parts.loc[key, "upload_s"] / parts.loc[key, "time_to_serve_s"] if key in parts.index else math.nan
        rows.append([r["setup"], r["method"], f"{r['latency_ms']:g}", f"{r['model_mb']:g}", str(int(r["n"])),
                     with_ci(r), pct(100 * share, 0)])
    return Table("Time to serve a new model [s]: its upload's start to the first answer from it",
                 ["setup", "method", "latency ms", "model MB", "updates", "time to serve", "upload share"], rows,
                 "Updates that served only; failed ones are counted in the next table.")


def serving_parts(stats) -> Table:
    frame = stats.serving_parts.sort_values(["setup", "method", "latency_ms", "model_mb"])
    rows = [[r["setup"], r["method"], f"{r['latency_ms']:g}", f"{r['model_mb']:g}",
             *(num(r[part]) for part in ("upload_s", "detect_s", "download_s", "start_s", "load_s", "deliver_s"))]
            for _, r in frame.iterrows()]
    return Table("Where the time to serve goes (mean seconds per update)",
                 ["setup", "method", "latency ms", "model MB", "upload", "detect", "download", "pod start", "load",
                  "first answer"],
                 rows, "Detect: in place, the updater's next look at the store's pointer after the upload ended; "
                       "roll-out, the API accepting the new pod template. Pod start: a roll-out's new pod being "
                       "scheduled and starting its containers (none in place). Load: the server's load of the "
                       "version until it says it is ready (a roll-out: until the pod is Ready).")


def serving_requests(stats) -> Table:
    frame = stats.serving_requests.sort_values(["setup", "method", "latency_ms", "model_mb"])
    rows = [[r["setup"], r["method"], f"{r['latency_ms']:g}", f"{r['model_mb']:g}", str(int(r["updates"])),
             str(int(r["updates_failed"])), str(int(r["requests"])), str(int(r["failed_requests"])),
             str(int(r["unanswered_requests"])), str(int(r["old_answers_after_switch"]))] for _, r in frame.iterrows()]
    return Table("Requests through every update",
                 ["setup", "method", "latency ms", "model MB", "updates", "failed updates", "requests", "failed",
                  "no answer", "old version after switch"], rows,
                 "A request counts in the update it ran through, from the upload's start until the next update. "
                 "Failed: an answer other than a prediction with its version; no answer: refused or timed out.")


def serving_latency(stats) -> Table:
    frame = stats.serving_latency.sort_values(["setup", "method", "latency_ms", "model_mb", "phase"])
    rows = [[r["setup"], r["method"], f"{r['latency_ms']:g}", f"{r['model_mb']:g}", r["phase"], str(int(r["n"])),
             num(1000 * r["median_s"], 1), num(1000 * r["p95_s"], 1), num(1000 * r["max_s"], 1)]
            for _, r in frame.iterrows()]
    return Table("Request latency [ms] in steady serving and during an update",
                 ["setup", "method", "latency ms", "model MB", "phase", "n", "median", "95th pct", "max"], rows,
                 "Steady: before the cell's first update; during: the upload's start to the first answer from the "
                 "new version.")


def serving_comparisons(stats) -> Table:
    frame = stats.serving_comparisons
    # Methods are compared within a setup, setups within a method: the column names the one held fixed.
    rows = [[r["comparison"], r["setup"] if isinstance(r["setup"], str) and r["setup"] else r["method"],
             f"{r['latency_ms']:g}", f"{r['model_mb']:g}",
             f"{int(r['n_a'])}/{int(r['n_b'])}", interval(r["diff"], r["diff_low"], r["diff_high"]), num(r["ratio"]),
             "" if pd.isna(r.get("equivalent")) else ("yes" if r["equivalent"] else "no")]
            for _, r in frame.iterrows()]
    return Table("One update method against another, and vm against pod (time to serve)",
                 ["comparison", "within", "latency ms", "model MB", "n", "difference s [95 % CI]", "ratio",
                  "equivalent (TOST)"], rows,
                 "Welch intervals of the difference of the means; TOST within the equivalence margin of the first's "
                 "mean.")


def _side(row, which: str) -> dict:
    """One measure's summary of a cell measured twice, as ``with_ci`` reads it."""
    return {column: row[f"{column}_{which}"] for column in ("read", "mean", "median", "low", "high")}


def _measures(stats) -> tuple[str, str]:
    first, second = (", ".join(e) or "unrecorded" for e in stats.summary.compared_emulations)
    return f"one node, {first}", f"core and edge nodes, {second}"


def emulation_cells(stats) -> Table:
    """Each upload and serving cell of the reference against the same cell on the thesis's topology."""
    first, second = _measures(stats)
    rows = [[r["experiment"], r["setup"] + (f" {r['method']}" if isinstance(r["method"], str) else ""),
             f"{r['latency_ms']:g}", f"{r['model_mb']:g}", f"{int(r['n_first'])}/{int(r['n_second'])}",
             with_ci(_side(r, "first"), 3), with_ci(_side(r, "second"), 3), num(r["ratio"])]
            for _, r in stats.emulation_cells.iterrows()]
    return Table("Each cell measured twice: as the reference ran it, and on the thesis's topology (seconds)",
                 ["experiment", "setup", "latency ms", "model MB", "n", first, second, "ratio of medians"], rows,
                 "Uploads: the upload's time; serving: the time until the edge answers with the new model. The "
                 "second measure changes two things at once (the edge a node of its own, and the latency in the "
                 "kernel's path on that node's link instead of a user-space proxy), so a ratio is theirs together.")


def emulation_claims(stats) -> Table:
    first, second = _measures(stats)
    rows = [[r["id"], r["claim"], r["verdict_first"], r["verdict_second"], "yes" if r["held"] else "no"]
            for _, r in stats.emulation_claims.iterrows()]
    return Table("The upload's and serving's claims, judged on each measure",
                 ["id", "claim", first, second, "verdict held"], rows,
                 "Each verdict from its measure's own statistics, by the same rules as the claims table, both over "
                 "the cells the second measured (the first's other setups and cells left out), so that a verdict "
                 "pooled over cells reads the same cells in both.")
