"""Comparisons between backends made within blocks, and the machine's speed beside every run.

A block runs every backend of one configuration and repetition back to back, so the machine's
drift over hours (the same training step took 1353 us at one hour and 2623 us at another) is
shared by the runs it compares. Here:

* ``machine``: each counted run's calibrations (just before and after it, on its interpreter),
  their drift, the CPU's idle and stolen shares over it, and its speed factor: the study's median
  calibration over the run's own, so that ``time x factor`` is that time at the study's median
  speed ("calibrated");
* ``calibrated``: the step rows with their times calibrated (``*_cal``); a share (overhead %) is
  the same either way;
* ``pairs``: per block and pair of backends, the end-to-end ratio and dnnfit's split / notebook
  ratio, as measured and calibrated; a block whose runs ran on different interpreter builds (or did
  not record theirs), or not back to back (a block resumed in a later sitting), is left out and named;
* ``pod_pairs``: per block and step, a pod's overhead minus a process's, with and without waiting
  for cores, as measured and calibrated;
* ``dnnfit_effects``: dnnfit's cell time of each backend against the notebook's, from one
  regression over every usable block, as measured and with the CPU the hypervisor stole over each
  run held equal (what moved most between the reference's runs).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..pipeline.backends import BACKENDS
from .stats import LEVEL, summarize

DRIFT_LIMIT_PCT = 10.0          # a run whose calibration moved more than this between its ends is flagged
# Runs of one block more than this apart (one's end to the next's start) no longer share the machine's
# state: a block's runs follow each other within about a minute (the calibrations between them).
BLOCK_GAP_LIMIT_S = 600.0
CALIBRATED = ("cell_seconds", "duration_seconds", "overhead_seconds", "overhead_nowait_seconds", "core_wait_seconds")
CONFIGURATION = ["series", "dataset_mb", "model", "trainable_params"]


def _drift(before: pd.Series, after: pd.Series) -> pd.Series:
    return 100 * (after / before - 1)


def keras_step(runs: pd.DataFrame) -> pd.Series:
    """Each run's speed: the seconds per Keras training step of its calibrations, before and after."""
    return runs[["cal_before_keras_step_s", "cal_after_keras_step_s"]].mean(axis=1)


def machine(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per counted run: its calibrations, their drift, the CPU's shares and its speed factor
    (NaN where the run was not calibrated)."""
    counted = runs[runs["status"] == "succeeded"].copy()
    if "cal_before_keras_step_s" not in counted:  # tables tidied before runs were calibrated
        return pd.DataFrame()
    speed = keras_step(counted)
    counted["keras_drift_pct"] = _drift(counted["cal_before_keras_step_s"], counted["cal_after_keras_step_s"])
    counted["python_drift_pct"] = _drift(counted["cal_before_python_s"], counted["cal_after_python_s"])
    counted["drifted"] = (counted[["keras_drift_pct", "python_drift_pct"]].abs() > DRIFT_LIMIT_PCT).any(axis=1)
    counted["keras_step_s"] = speed
    counted["factor"] = speed.median() / speed
    # One interpreter per run: its steps' build(s) and the calibration's, which ran as a process of the runner.
    builds = counted[["python", "cal_python"]].apply(lambda r: {b for b in r if isinstance(b, str)}, axis=1)
    counted["builds"] = builds.map(lambda found: " | ".join(sorted(found)) or None)
    columns = ["run_id", "backend", *CONFIGURATION, "rep", "block", "block_position", "block_order", "created", "finished",
               "cal_before_t", "cal_after_t", "cal_before_keras_step_s", "cal_after_keras_step_s",
               "cal_before_python_s", "cal_after_python_s", "keras_drift_pct", "python_drift_pct", "drifted",
               "cal_before_steal_pct", "cal_after_steal_pct", "cpu_idle_pct", "cpu_steal_pct", "keras_step_s",
               "factor", "builds"]
    return counted[columns].sort_values("created").reset_index(drop=True)


def calibrated(steps: pd.DataFrame, machine_table: pd.DataFrame) -> pd.DataFrame:
    """``steps`` with ``<time>_cal`` for each time of ``CALIBRATED``: the time at the study's median speed."""
    factors = machine_table.set_index("run_id")["factor"] if not machine_table.empty else pd.Series(dtype=float)
    factor = steps["run_id"].map(factors)
    return steps.assign(**{f"{column}_cal": steps[column] * factor for column in CALIBRATED if column in steps})


def left_out_blocks(machine_table: pd.DataFrame) -> dict[str, str]:
    """Blocks whose runs cannot be compared, with why: they did not all record one interpreter build,
    or they did not run back to back."""
    left_out = {}
    for block, group in machine_table.dropna(subset=["block"]).groupby("block"):
        builds = {b for found in group["builds"] for b in (found.split(" | ") if isinstance(found, str) else [None])}
        if len(builds) != 1 or None in builds:
            left_out[block] = "its runs did not record one interpreter build: " + "; ".join(
                f"{r['backend']}: {r['builds'] or 'not recorded'}" for _, r in group.iterrows())
            continue
        ordered = group.sort_values("created")
        gaps = ordered["created"].iloc[1:].to_numpy() - ordered["finished"].iloc[:-1].to_numpy()
        if len(gaps) and gaps.max() > BLOCK_GAP_LIMIT_S:
            at = int(gaps.argmax())
            left_out[block] = (f"its runs were not back to back: {gaps[at] / 60:.0f} min between "
                               f"{ordered['backend'].iloc[at]}'s end and {ordered['backend'].iloc[at + 1]}'s start")
    return left_out


def _backend_pairs(names) -> list[tuple[str, str]]:
    """(a, b) of every two backends, the one that splits the notebook, or runs on a cluster, first."""
    order = sorted(names, key=lambda n: (not BACKENDS[n].split, not BACKENDS[n].on_cluster, n))
    return list(itertools.combinations(order, 2))


def pairs(steps: pd.DataFrame, runs: pd.DataFrame, machine_table: pd.DataFrame) -> pd.DataFrame:
    """Per block and pair of backends: a's over b's end-to-end wall time and, where a splits the
    notebook and b runs it whole, a's dnnfit cell over b's; each as measured and calibrated."""
    left_out = left_out_blocks(machine_table)
    usable = machine_table[machine_table["block"].notna() & ~machine_table["block"].isin(left_out)]
    walls = runs.set_index("run_id")["wall_seconds"]
    fits = steps[steps["step"] == "dnnfit"].set_index("run_id")["cell_seconds"]
    rows = []
    for block, group in usable.groupby("block"):
        by_backend = group.set_index("backend")
        for a, b in _backend_pairs(by_backend.index):
            ra, rb = by_backend.loc[a], by_backend.loc[b]
            base = {"block": block, **{k: ra[k] for k in CONFIGURATION}, "rep": ra["rep"], "a": a, "b": b}
            speed = rb["factor"] / ra["factor"]   # a's time x its factor over b's time x its factor
            ratio = walls[ra["run_id"]] / walls[rb["run_id"]]
            rows.append(base | {"metric": "end to end", "ratio": ratio, "ratio_cal": ratio / speed})
            if BACKENDS[a].split and not BACKENDS[b].split:
                ratio = fits[ra["run_id"]] / fits[rb["run_id"]]
                rows.append(base | {"metric": "dnnfit split / notebook", "ratio": ratio, "ratio_cal": ratio / speed})
    return pd.DataFrame(rows, columns=["block", *CONFIGURATION, "rep", "a", "b", "metric", "ratio", "ratio_cal"])


def pod_pairs(steps: pd.DataFrame, machine_table: pd.DataFrame) -> pd.DataFrame:
    """Per block and step: a cluster backend's overhead minus a process backend's (both one job per
    cell), with and without waiting for cores, as measured and calibrated."""
    left_out = left_out_blocks(machine_table)
    keyed = steps[steps["block"].notna() & ~steps["block"].isin(left_out)]
    split = [n for n in keyed["backend"].unique() if BACKENDS[n].split]
    values = ["overhead_seconds", "overhead_nowait_seconds", "overhead_seconds_cal", "overhead_nowait_seconds_cal"]
    rows = []
    for cluster in [n for n in split if BACKENDS[n].on_cluster]:
        for local in [n for n in split if not BACKENDS[n].on_cluster]:
            a = keyed[keyed["backend"] == cluster].set_index(["block", "step"])
            b = keyed[keyed["backend"] == local].set_index(["block", "step"])
            joined = a[CONFIGURATION + values].merge(b[values], left_index=True, right_index=True,
                                                     suffixes=("", "_b"))
            for column in values:
                joined[column] = joined[column] - joined.pop(f"{column}_b")
            rows.append(joined.reset_index().assign(cluster=cluster, local=local))
    columns = ["cluster", "local", "block", "step", *CONFIGURATION, *values]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)


def dnnfit_effects(steps: pd.DataFrame, machine_table: pd.DataFrame, min_mb: float = 20.0) -> pd.DataFrame:
    """From ``min_mb`` on, dnnfit's cell time of each backend that splits the notebook against the
    notebook's: one least-squares fit of the time's logarithm with every block as a fixed effect,
    once as measured and once with the share of CPU the hypervisor stole over the run as a
    covariate. Each term's ratio is exp(coefficient) with its interval; the stolen CPU's is what one
    point of it multiplies the cell's time by. Empty where fewer than two usable blocks hold both."""
    import statsmodels.formula.api as smf

    columns = ["model", "term", "against", "ratio", "low", "high", "runs", "blocks"]
    left_out = left_out_blocks(machine_table)
    fits = steps[(steps["step"] == "dnnfit") & steps["block"].notna() & ~steps["block"].isin(left_out)
                 & (steps["dataset_mb"] >= min_mb)]
    data = fits[["run_id", "block", "backend", "cell_seconds"]].merge(
        machine_table[["run_id", "cpu_steal_pct"]], on="run_id").dropna()
    notebook = [n for n in data["backend"].unique() if not BACKENDS[n].split]
    if len(notebook) != 1 or data["backend"].nunique() < 2 or data["block"].nunique() < 2:
        return pd.DataFrame(columns=columns)
    data = data.assign(log_seconds=np.log(data["cell_seconds"]))
    backend = f'C(backend, Treatment("{notebook[0]}"))'
    rows = []
    for model, covariate in (("as measured", ""), ("stolen CPU held equal", " + cpu_steal_pct")):
        fit = smf.ols(f"log_seconds ~ C(block) + {backend}{covariate}", data).fit()
        bounds = fit.conf_int(alpha=1 - LEVEL)
        for term, value in fit.params.items():
            if term.startswith(backend) or term == "cpu_steal_pct":
                name = term.rpartition("[T.")[2].rstrip("]") if term.startswith(backend) else "a point of stolen CPU"
                rows.append({"model": model, "term": name, "against": notebook[0], "ratio": float(np.exp(value)),
                             "low": float(np.exp(bounds.loc[term, 0])), "high": float(np.exp(bounds.loc[term, 1])),
                             "runs": len(data), "blocks": data["block"].nunique()})
    return pd.DataFrame(rows, columns=columns)


def pair_summary(pair_table: pd.DataFrame) -> pd.DataFrame:
    """The paired ratios per configuration and pooled over the 20 MB and larger datasets (where the
    training dominates), as measured and calibrated."""
    rows = []
    for (a, b, metric), group in pair_table.groupby(["a", "b", "metric"], sort=False):
        scopes = [(f"{r['model']} {r['dataset_mb']:g} MB", g) for r, g in
                  ((g.iloc[0], g) for _, g in group.groupby(["dataset_mb", "model"]))]
        large = group[group["dataset_mb"] >= 20]
        scopes += [("20 MB and larger", large)] if len(large) else []
        for scope, values in scopes:
            for column, how in (("ratio", "measured"), ("ratio_cal", "calibrated")):
                rows.append({"a": a, "b": b, "metric": metric, "scope": scope, "times": how}
                            | summarize(values[column], nonnegative=True))
    return pd.DataFrame(rows)


def pod_cost(pod_table: pd.DataFrame) -> pd.DataFrame:
    """What a pod adds to a step over a process, per step and over all steps (paired differences:
    mean with its t-interval, median with its order-statistic interval)."""
    rows = []
    for (cluster, local), group in pod_table.groupby(["cluster", "local"]):
        for step, values in [*group.groupby("step", sort=False), ("all steps", group)]:
            for column in ("overhead_nowait_seconds", "overhead_seconds", "overhead_nowait_seconds_cal"):
                rows.append({"cluster": cluster, "local": local, "step": step, "value": column}
                            | summarize(values[column]))
    return pd.DataFrame(rows)


def startup_shares(steps: pd.DataFrame, backend: str, limit_s: float = 1.0) -> pd.DataFrame:
    """Claim C6 in its own words: the share of ``backend``'s pods scheduled, and started, within
    ``limit_s`` of the step before, with a Clopper-Pearson 95 % interval; also without the steps
    that waited for cores."""
    from statsmodels.stats.proportion import proportion_confint

    pods = steps[steps["backend"] == backend]
    rows = []
    for what, seconds in (("created to scheduled", pods["scheduled"] - pods["created"]),
                          ("scheduled to started", pods["started"] - pods["scheduled"])):
        for scope, keep in (("every pod", seconds.notna()),
                            ("pods that did not wait for cores", seconds.notna() & (pods["core_wait_seconds"] <= 0))):
            n, within = int(keep.sum()), int((seconds[keep] < limit_s).sum())
            low, high = proportion_confint(within, n, alpha=0.05, method="beta") if n else (np.nan, np.nan)
            rows.append({"backend": backend, "interval": what, "scope": scope, "n": n, "within": within,
                         "share": within / n if n else np.nan, "low": low, "high": high, "limit_s": limit_s})
    return pd.DataFrame(rows)
