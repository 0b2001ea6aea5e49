"""Statistics over the tidy tables: plain functions, no I/O but reading the thesis's numbers.

* ``summarize``: n, mean, SD, median, min, max, the 95 % t-interval of the mean, a
  distribution-free 95 % interval of the median (binomial order statistics), Shapiro-Wilk,
  and which interval to read (``read``, with its bounds in ``low`` and ``high``):

  - ``t``: the mean's t-interval, from 3 values on, where Shapiro-Wilk does not reject
    normality and, for a quantity that cannot be negative (a duration, a share), the
    interval stays at or above 0;
  - ``median``: otherwise the median's order-statistic interval, which needs 6 values to
    reach 95 % and always lies within the data;
  - ``range``: otherwise (2 to 5 values) the smallest and largest value: too few values for
    any interval, and the report says so;
  - ``value``: a single value.
* ``trend``: OLS with HC3 robust errors and Student's t with the residual degrees of
  freedom (statsmodels ``use_t``); the slope, its CI and p-value.
* ``equivalence``: two one-sided t-tests (statsmodels ``ttost_ind``) with a stated margin.

Groups too small for a statistic get NaN, which the report prints as "n/a".
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pandas as pd
import yaml

LEVEL = 0.95
NAN = float("nan")


def reference() -> dict:
    """The thesis's published numbers (thesis_reference.yaml), each with its citation."""
    return yaml.safe_load(resources.files(__package__).joinpath("thesis_reference.yaml").read_text())


def median_ci(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Order-statistic interval of the median, the narrowest symmetric one covering ``level``."""
    from scipy import stats

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    for j in range((n - 1) // 2, -1, -1):  # [x[j], x[n-1-j]] (0-based), widening
        coverage = stats.binom.cdf(n - 1 - j, n, 0.5) - stats.binom.cdf(j, n, 0.5)
        if coverage >= level:
            return float(x[j]), float(x[n - 1 - j]), float(coverage)
    return NAN, NAN, NAN


# Where each kind of interval keeps its bounds in a summary.
READ_BOUNDS = {"t": ("t_low", "t_high"), "median": ("median_low", "median_high"), "range": ("min", "max"),
               "value": ("mean", "mean")}


def summarize(values, nonnegative: bool = False) -> dict:
    """The statistics of one group; ``nonnegative``: the quantity cannot be below 0, so an
    interval that reaches below 0 is not read."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(x)
    out = {"n": n, "mean": NAN, "sd": NAN, "median": NAN, "min": NAN, "max": NAN, "t_low": NAN, "t_high": NAN,
           "median_low": NAN, "median_high": NAN, "median_coverage": NAN, "shapiro_p": NAN, "read": "n/a",
           "low": NAN, "high": NAN}
    if n == 0:
        return out
    out |= {"mean": float(x.mean()), "median": float(np.median(x)), "min": float(x.min()), "max": float(x.max()),
            "read": "value"}
    if n >= 2:
        sd = float(x.std(ddof=1))
        half = stats.t.ppf((1 + LEVEL) / 2, n - 1) * sd / math.sqrt(n)
        out |= {"sd": sd, "t_low": float(out["mean"] - half), "t_high": float(out["mean"] + half)}
    low, high, coverage = median_ci(x)
    out |= {"median_low": low, "median_high": high, "median_coverage": coverage}
    if n >= 3 and np.ptp(x) > 0:
        out["shapiro_p"] = float(stats.shapiro(x).pvalue)
    out["read"] = _interval_to_read(out, nonnegative)
    low_key, high_key = READ_BOUNDS[out["read"]]
    return out | {"low": out[low_key], "high": out[high_key]}


def center(found) -> float:
    """The value ``summarize``'s interval to read is of: the median, or else the mean."""
    return found["median"] if found["read"] == "median" else found["mean"]


def _interval_to_read(found: dict, nonnegative: bool) -> str:
    if found["n"] == 1:
        return "value"
    normal = math.isnan(found["shapiro_p"]) or found["shapiro_p"] >= 0.05
    if found["n"] >= 3 and normal and not (nonnegative and found["t_low"] < 0):
        return "t"
    return "median" if not math.isnan(found["median_low"]) else "range"


def describe(frame: pd.DataFrame, by: list[str], value: str, nonnegative: bool = True) -> pd.DataFrame:
    """``summarize(value)`` for every group of ``by``; the quantities described here (durations,
    shares, upload times) cannot be negative unless the caller says so."""
    rows = [dict(zip(by, key if isinstance(key, tuple) else (key,))) | {"metric": value}
            | summarize(group[value], nonnegative) for key, group in frame.groupby(by, sort=True, dropna=False)]
    return pd.DataFrame(rows)


def trend(frame: pd.DataFrame, x: str | list[str], y: str) -> list[dict]:
    """Slope of ``y`` on each of ``x`` by OLS with HC3 errors; NaN when there are too few points."""
    import statsmodels.api as sm

    xs = [x] if isinstance(x, str) else list(x)
    data = frame[[*xs, y]].dropna()
    out = [{"x": name, "y": y, "n": len(data), "df": NAN, "slope": NAN, "low": NAN, "high": NAN, "p": NAN}
           for name in xs]
    if len(data) < len(xs) + 2 or any(data[name].nunique() < 2 for name in xs):
        return out
    # HC3 errors with Student's t on the residual degrees of freedom: with a handful of points,
    # normal quantiles would make the interval too narrow and the p-value absurdly small.
    fit = sm.OLS(data[y].to_numpy(float), sm.add_constant(data[xs].to_numpy(float))).fit(cov_type="HC3", use_t=True)
    bounds = fit.conf_int(alpha=1 - LEVEL)
    for i, row in enumerate(out, start=1):
        row |= {"df": float(fit.df_resid), "slope": float(fit.params[i]), "low": float(bounds[i][0]),
                "high": float(bounds[i][1]), "p": float(fit.pvalues[i])}
    return out


def p_value(p: float) -> str:
    """'= 0.031', or '< 1e-6' below what any test here can resolve."""
    if math.isnan(p):
        return "n/a"
    return "< 1e-6" if p < 1e-6 else f"= {p:.2g}"


def equivalence(a, b, margin: float) -> dict:
    """TOST of mean(a) - mean(b) within +-margin (Welch); equivalent when p < 0.05.

    Also the Welch 95 % interval of the difference: entirely outside the margin means
    the two differ by more than it.
    """
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind

    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {"n_a": len(a), "n_b": len(b), "diff": NAN, "diff_low": NAN, "diff_high": NAN, "margin": margin,
           "p": NAN, "equivalent": None}
    if len(a) < 2 or len(b) < 2 or margin <= 0 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return out
    p, _, _ = ttost_ind(a, b, -margin, margin, usevar="unequal")
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(alpha=1 - LEVEL, usevar="unequal")
    return out | {"diff": float(a.mean() - b.mean()), "diff_low": float(low), "diff_high": float(high),
                  "p": float(p), "equivalent": bool(p < 0.05)}


def equivalence_verdict(tested: pd.DataFrame, cells: str) -> tuple[str, str]:
    """One verdict over many cells' ``equivalence`` rows (those with a test): agrees when every
    cell is equivalent, disagrees when any differs beyond the margin (its whole interval outside
    it), else cannot tell: not equivalent is not yet different."""
    equivalent = int(tested["equivalent"].astype(bool).sum())
    apart = int(((tested["diff_low"] > tested["margin"]) | (tested["diff_high"] < -tested["margin"])).sum())
    evidence = f"equivalent in {equivalent} of {len(tested)} {cells}; different beyond the margin in {apart}"
    return evidence, "agrees" if equivalent == len(tested) else ("disagrees" if apart else "cannot tell")


def difference(a, b) -> dict:
    """mean(a) - mean(b) with its Welch 95 % interval (NaN where a side has fewer than 2 values)."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    a, b = np.asarray(a, float), np.asarray(b, float)
    out = {"n_a": len(a), "n_b": len(b), "diff": NAN, "diff_low": NAN, "diff_high": NAN}
    if len(a) and len(b):
        out["diff"] = float(a.mean() - b.mean())
    if len(a) >= 2 and len(b) >= 2 and (np.ptp(a) > 0 or np.ptp(b) > 0):
        low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(alpha=1 - LEVEL, usevar="unequal")
        out |= {"diff_low": float(low), "diff_high": float(high)}
    return out


def counted_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """The steps that count: succeeded, in a run that succeeded. A step that finished before its
    attempt failed or was interrupted belongs to no counted run; its re-run is counted instead."""
    return steps[(steps["status"] == "succeeded") & (steps["run_status"] == "succeeded")]


def run_overhead(steps: pd.DataFrame) -> pd.DataFrame:
    """Overall overhead of each succeeded run as the thesis defines it (Figures 15-16):
    100 x sum of step overheads / sum of step durations."""
    ok = counted_steps(steps)
    keys = ["backend", "series", "dataset_mb", "model", "trainable_params", "rep", "run_id"]
    keys += ["raw_dir"] if "raw_dir" in steps.columns else []  # provenance, where the tidy table has it
    sums = ["overhead_seconds", "duration_seconds", "cell_seconds"]
    sums += ["core_wait_seconds", "overhead_nowait_seconds"] if "core_wait_seconds" in ok else []
    runs = ok.groupby(keys, as_index=False)[sums].sum(min_count=1)
    runs["overhead_pct"] = 100 * runs["overhead_seconds"] / runs["duration_seconds"]
    if "core_wait_seconds" in runs:  # the same, as if no step had waited for cores
        runs["overhead_nowait_pct"] = 100 * runs["overhead_nowait_seconds"] / (runs["duration_seconds"]
                                                                               - runs["core_wait_seconds"])
    return runs


def in_series(frame: pd.DataFrame, series: str) -> pd.DataFrame:
    """Rows of a series; the shared configuration ("dataset+model") belongs to both."""
    return frame[frame["series"].str.split("+").apply(lambda names: series in names)]


def verdict(low: float, high: float, agree_if: str) -> str:
    """agrees / disagrees / cannot tell, from a CI and the sign the thesis claims."""
    if math.isnan(low) or math.isnan(high):
        return "cannot tell"
    below, above = high < 0, low > 0
    if agree_if == "negative":
        return "agrees" if below else ("disagrees" if above else "cannot tell")
    return "agrees" if above else ("disagrees" if below else "cannot tell")
