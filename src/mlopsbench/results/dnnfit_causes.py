"""Why dnnfit trains slower as a pod than as a process, each candidate cause taken away.

The runs of ``benchmarks/bench_dnnfit.py --keep`` (a reference keeps them in
``results/raw/dnnfit_causes/``): the pipeline up to dnnfit, in rounds, each variant once per round
in a shuffled order: a local process (each round's baseline), a process under the pod's CFS quota,
the pod as the kubernetes backend makes it, the pod without its CPU limit, and the pod without its
seccomp profile. Per dataset size and variant (the benchmark may have run at several sizes):
dnnfit's cell time and its ratio to the process of the same size and round, calibrated to the
runs' median speed where every run of that size was calibrated (the runs minutes apart in a round
still see the machine's speed move), as measured where not. A variant is slower than the process
where its ratio is above 1.05 and its interval above 1, as fast where its interval is at most 1.05,
and neither can be told where its interval holds both. A candidate is the cause where the pod is
slower than the process and the pod without it is as fast. Where the steps printed them: how busy
each cell kept its cores, how many cores' worth of its threads waited for a CPU, how busy the rest
of the machine was, and how often a cell was off its CPU, with what those runs waited on.
"""

from __future__ import annotations

import logging

import pandas as pd

from ..pipeline.backends import primary_clocks
from .blocks import keras_step
from .stats import center, summarize

CAUSES = "dnnfit causes: "        # how the benchmark's runs name their study: "dnnfit causes: <variant>"
BASELINE, POD = "process", "pod"
# Each candidate: the variant that takes it away from the pod, and (where there is one) the
# variant that puts it on the process.
CANDIDATES = {"the CPU limit's CFS quota": ("pod-no-limit", "process-quota"),
              "the seccomp profile": ("pod-unconfined", None)}
SAME = 1.05   # a ratio above this (its interval above 1) is slower; one whose interval is at most this, as fast
# The cores the cell kept busy, its threads waiting for a CPU and the rest of the machine kept busy,
# each with the column counting the runs that printed it.
CORES = {"cores_busy": "cores_runs", "cores_queued": "queued_runs", "rest_cores_busy": "rest_cores_runs"}
ON_CPU = 0.95   # a cell that kept fewer cores busy was off its CPU a twentieth of its time or more
RATIO_KEYS = ("n", "mean", "median", "low", "high", "read")   # of the ratio's summary, kept as ratio_<key>
CALIBRATIONS = ["cal_before_keras_step_s", "cal_after_keras_step_s"]

log = logging.getLogger(__name__)


def fits(steps: pd.DataFrame) -> pd.DataFrame:
    """dnnfit's rows on the clock the statistics read (the runner's for a process, the watch's for a pod)."""
    return steps[(steps["step"] == "dnnfit") & steps["timestamp_source"].isin(primary_clocks())]


def dnnfit_seconds(steps: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per succeeded run: its variant, its round, its dataset and epochs, dnnfit's cell time
    (on the backend's own clock) as measured and at the median speed of the runs of its size (NaN
    where a run was not calibrated), the CPU seconds its cells used, the machine's busy CPU seconds
    over them (every process's), the seconds their threads waited for a CPU, their major page faults
    and the seconds its cgroup's CFS quota throttled it (NaN where not recorded), and the CPU the
    host stole over the run. Runs that did not succeed are counted in the log and left out."""
    ours = runs[runs["study"].str.startswith(CAUSES)]
    counted = ours[ours["status"] == "succeeded"]
    if len(counted) < len(ours):
        log.warning("dnnfit causes: %d of %d runs did not succeed and are left out: %s", len(ours) - len(counted),
                    len(ours), ", ".join(ours[ours["status"] != "succeeded"]["run_id"]))
    speed = keras_step(counted.reindex(columns=CALIBRATIONS).apply(pd.to_numeric))
    counted = counted.assign(factor=speed.groupby(counted["dataset_mb"]).transform("median") / speed)
    frame = fits(steps).reindex(columns=["run_id", "cell_seconds", "cpu_seconds", "machine_busy_seconds",
                                         "run_queue_seconds", "major_faults", "cfs_throttled_seconds"]).merge(
        counted[["run_id", "study", "rep", "dataset_mb", "epochs", "cpu_steal_pct", "factor"]], on="run_id")
    frame["cell_seconds_cal"] = frame.pop("factor") * frame["cell_seconds"]
    return frame.assign(variant=frame["study"].str.removeprefix(CAUSES)).rename(columns={"rep": "round"})


def ratio_read(table: pd.DataFrame) -> str:
    """Which cell times the ratios of ``dnnfit_causes``' table (of one size) divide, in words."""
    calibrated = bool(len(table)) and table["calibrated"].astype(bool).all()
    return "over the process of the same round" + (", calibrated" if calibrated else ", as measured")


def ratio_summary(row) -> dict:
    """A row's ratio to the process, as ``stats.summarize`` names its keys."""
    return {key: row[f"ratio_{key}"] for key in RATIO_KEYS}


def dnnfit_causes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset size of ``frame`` (``dnnfit_seconds``), smallest first, and per variant: dnnfit's
    cell time, its ratio to the process of the same size and round (calibrated where every run of the
    size was; rounds without a finished process are left out of the ratio), the most CPU stolen over
    a run, the most seconds throttled and the most major page faults, the cores its cell kept busy,
    those its threads waited for and those the rest of the machine kept busy meanwhile (CPU seconds
    over cell seconds, median over the runs whose steps printed them, counted; NaN where none did),
    the runs whose cell was off its CPU (fewer than ``ON_CPU`` cores busy) with the most seconds
    their threads waited for a CPU and the most pages they read from disk, and whether it is slower
    than the process, as fast, or neither can be told."""
    if frame.empty:
        return pd.DataFrame()
    return pd.concat([_one_size(group) for _, group in frame.groupby("dataset_mb")], ignore_index=True)


def sizes(table: pd.DataFrame) -> list[pd.DataFrame]:
    """``dnnfit_causes``' table, one table per dataset size, smallest first."""
    return [group for _, group in table.groupby("dataset_mb")] if len(table) else []


def _one_size(frame: pd.DataFrame) -> pd.DataFrame:
    calibrated = frame["cell_seconds_cal"].notna().all()
    seconds = "cell_seconds_cal" if calibrated else "cell_seconds"
    process = frame[frame["variant"] == BASELINE].set_index("round")
    rows = []
    for variant, group in frame.groupby("variant", sort=False):
        ratio = _over_process(group, process, seconds)
        middle = center(ratio)
        # Beside a calibrated ratio, the same as measured: a calibration of a few seconds can move
        # more than the cell it corrects.
        as_measured = center(_over_process(group, process, "cell_seconds"))
        cpu, faults = pd.to_numeric(group["cpu_seconds"]), pd.to_numeric(group["major_faults"])
        queued = pd.to_numeric(group["run_queue_seconds"])
        core_seconds = {"cores_busy": cpu, "cores_queued": queued,
                        "rest_cores_busy": pd.to_numeric(group["machine_busy_seconds"]) - cpu}
        cores = {column: used / group["cell_seconds"] for column, used in core_seconds.items()}
        rows.append({"variant": variant, "dataset_mb": group["dataset_mb"].iloc[0], "epochs": group["epochs"].max(),
                     **summarize(group["cell_seconds"]), **{f"ratio_{key}": ratio[key] for key in RATIO_KEYS},
                     "steal_max_pct": group["cpu_steal_pct"].max(),
                     "throttled_max_s": pd.to_numeric(group["cfs_throttled_seconds"]).max(),
                     "major_faults_max": faults.max(),
                     **{column: share.median() for column, share in cores.items()},
                     **{CORES[column]: int(share.notna().sum()) for column, share in cores.items()},
                     "off_cpu_runs": int((cores["cores_busy"] < ON_CPU).sum()),
                     **_off_cpu_waits("queued", queued, cores["cores_busy"]),
                     **_off_cpu_waits("faults", faults, cores["cores_busy"]),
                     "ratio": middle, "ratio_as_measured": as_measured,
                     "slower": middle > SAME and ratio["low"] > 1, "as_fast": ratio["high"] <= SAME,
                     "calibrated": calibrated})
    named = [BASELINE, POD, *(v for pair in CANDIDATES.values() for v in pair if v)]
    order = {variant: i for i, variant in enumerate(named)}
    return pd.DataFrame(rows).sort_values("variant", key=lambda v: v.map(order)).reset_index(drop=True)


def _off_cpu_waits(what: str, values: pd.Series, busy: pd.Series) -> dict:
    """The most of ``what`` over the runs whose cell was off its CPU (``busy`` cores below ``ON_CPU``),
    how many of them printed it, and the most over the runs on their CPU (what it compares with);
    runs that printed no CPU seconds are neither."""
    off, on = values[busy < ON_CPU], values[busy >= ON_CPU]
    return {f"off_cpu_{what}_max": off.max(), f"off_cpu_{what}_runs": int(off.notna().sum()),
            f"on_cpu_{what}_max": on.max()}


def _over_process(group: pd.DataFrame, process: pd.DataFrame, seconds: str) -> dict:
    """``summarize`` of a variant's ``seconds`` over the process's of the same round."""
    return summarize(group[seconds].to_numpy() / group["round"].map(process[seconds]).to_numpy())


def verdicts(table: pd.DataFrame) -> list[str]:
    """What the runs of one size (``sizes``) say of each candidate: the cause, not the cause alone, or
    why it cannot be told; and, where the steps printed it, how long the quota throttled the pod's
    dnnfit, how busy its cell kept its cores and how many pages it waited to read from disk."""
    if table["dataset_mb"].nunique() > 1:
        raise ValueError("dnnfit causes: verdicts read one dataset size at a time (dnnfit_causes.sizes)")
    by = table.set_index("variant")
    return _candidates(by) + _throttled(by) + _cores(by) + _faults(by) + _off_cpu(by)


def _candidates(by: pd.DataFrame) -> list[str]:
    pod = by.loc[POD] if POD in by.index else None
    if pod is None or not pod["slower"]:
        return [_pod_not_slower(pod)]
    found = []
    for candidate, (without, on_process) in CANDIDATES.items():
        if without not in by.index:
            found.append(f"{candidate} was not taken away")
        elif by.loc[without, "slower"]:
            found.append(f"{candidate} is not the cause alone (the pod without it is still slower)")
        elif not by.loc[without, "as_fast"]:
            found.append(f"whether {candidate} is the cause cannot be told (the pod without it: "
                         f"{_interval(by.loc[without])}, neither slower nor as fast)")
        elif on_process is not None and on_process in by.index and not by.loc[on_process, "slower"]:
            found.append(f"{candidate} is not shown to be the cause (the pod without it is as fast as the process, "
                         f"but the process under it is not slowed)")
        else:
            found.append(f"{candidate} is the cause (the pod without it is as fast as the process)")
    return found


def _pod_not_slower(pod) -> str:
    if pod is None:
        return "the pod did not run: no cause can be told apart"
    if pod["as_fast"]:
        return (f"the pod is no more than {SAME:g} times as slow as the process here ({pod['ratio']:.3f}, its "
                f"interval up to {pod['ratio_high']:.3f}): no cause can be told apart")
    return (f"whether the pod is more than {SAME:g} times as slow as the process cannot be told here "
            f"({_interval(pod)}): no cause can be told apart")


def _interval(row) -> str:
    return f"{row['ratio']:.3f} [{row['ratio_low']:.3f}, {row['ratio_high']:.3f}]"


def _throttled(by: pd.DataFrame) -> list[str]:
    """The quota's throttling of the pod's dnnfit as its cgroup counted it, where the runs have it."""
    if POD not in by.index or pd.isna(by.loc[POD, "throttled_max_s"]):
        return []
    return [f"the CPU limit's CFS quota throttled the pod's dnnfit for at most {by.loc[POD, 'throttled_max_s']:.2f} s "
            f"in a run (its cell {by.loc[POD, 'median']:.1f} s, median)"]


def _cores(by: pd.DataFrame) -> list[str]:
    """How busy the pod's dnnfit kept its cores beside the process's, where the steps printed it (a
    pod that is slower with its cores as busy did more work; one with them idler waited for a CPU
    or was blocked), how many cores' worth of its threads waited for a CPU, and how busy the rest of
    the machine was meanwhile (what took the CPU it waited for)."""
    said = []
    pair = by.reindex([POD, BASELINE])
    for column, whose, seconds in (
            ("cores_busy", "the pod's dnnfit kept {} cores busy over its cell, the process's {}", "CPU seconds"),
            ("cores_queued", "the pod's dnnfit had {} cores' worth of threads waiting for a CPU, the process's {}",
             "seconds on a run queue"),
            ("rest_cores_busy", "the rest of the machine kept {} cores busy beside the pod's cell, {} beside the "
                                "process's", "CPU seconds")):
        if pair[column].isna().any():
            continue
        runs = pair[CORES[column]]
        counted = "" if (runs == pair["n"]).all() else f" of the {_span(runs)} rounds that printed it"
        said.append(whose.format(*(f"{value:.2f}" for value in pair[column])) +
                    f" ({seconds} over cell seconds, median{counted})")
    return said


def _faults(by: pd.DataFrame) -> list[str]:
    """The most pages the pod's and the process's dnnfit waited to read back from disk in a run
    (major faults: the machine evicted them), where the steps printed them."""
    pod, process = by.reindex([POD, BASELINE])["major_faults_max"]
    if pd.isna(pod) or pd.isna(process):
        return []
    return [f"the pod's dnnfit waited for at most {pod:.0f} pages from disk in a run (major faults), "
            f"the process's {process:.0f}"]


def _off_cpu(by: pd.DataFrame) -> list[str]:
    """How often each variant's cell was off its CPU, where the steps printed its CPU seconds, and
    what those runs waited on where the steps printed it: a CPU (the run queue) or pages from disk."""
    printed = by[by["cores_runs"] > 0]
    if printed.empty:
        return []
    counts = ", ".join(f"{variant} {int(r['off_cpu_runs'])} of {int(r['cores_runs'])}" for variant, r in printed.iterrows())
    said = [f"dnnfit's cell kept fewer than {ON_CPU:g} cores busy (off its CPU a twentieth of its time or more) "
            f"in runs of: {counts}"]
    for what, waited in (("queued", "its threads waited at most {:.1f} s for a CPU (run queue; the runs on their "
                                    "CPU at most {:.1f} s)"),
                         ("faults", "it read at most {:.0f} pages from disk (major faults; the runs on their CPU at "
                                    "most {:.0f})")):
        runs = int(printed[f"off_cpu_{what}_runs"].sum())
        if runs:
            said.append(f"in the {runs} of those runs that printed it, " +
                        waited.format(printed[f"off_cpu_{what}_max"].max(), printed[f"on_cpu_{what}_max"].max()))
    return said


def _span(counts: pd.Series) -> str:
    low, high = int(counts.min()), int(counts.max())
    return f"{low}" if low == high else f"{low}-{high}"
