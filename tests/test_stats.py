"""Unit tests of the statistics against hand-computable cases and scipy."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from mlopsbench.results.stats import (describe, equivalence, in_series, median_ci, p_value, reference, run_overhead,
                              summarize, trend, verdict)


def test_summary_of_known_values_matches_scipy():
    values = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
    out = summarize(values)
    assert out["n"] == 8 and out["mean"] == 5.0 and out["median"] == 4.5
    assert out["sd"] == pytest.approx(np.std(values, ddof=1))
    low, high = scipy_stats.t.interval(0.95, 7, loc=5.0, scale=scipy_stats.sem(values))
    assert (out["t_low"], out["t_high"]) == pytest.approx((low, high))
    assert out["shapiro_p"] == pytest.approx(scipy_stats.shapiro(values).pvalue)


def test_median_interval_uses_binomial_order_statistics():
    # n = 10: the 95 % interval is (x(2), x(9)) with coverage 1 - 2 * P(B <= 1) = 0.9785.
    low, high, coverage = median_ci(np.arange(1, 11))
    assert (low, high) == (2, 9)
    assert coverage == pytest.approx(1 - 2 * scipy_stats.binom.cdf(1, 10, 0.5))
    assert all(math.isnan(v) for v in median_ci([1, 2, 3, 4, 5]))  # n = 5 cannot reach 95 %


@pytest.mark.parametrize("values, read", [([], "n/a"), ([3.5], "value")])
def test_tiny_groups_give_nan_not_errors(values, read):
    out = summarize(values)
    assert out["n"] == len(values) and math.isnan(out["t_low"]) and math.isnan(out["sd"]) and out["read"] == read


@pytest.mark.parametrize("values, read", [
    ([0.05, 0.3], "range"),                     # n = 2: t = 12.7 says nothing
    ([0.01, 0.02, 0.5], "range"),               # the t-interval reaches below 0, too few for the median's
    ([0.01] * 6 + [0.02, 0.9], "median"),       # it reaches below 0; the median's interval lies within the data
    ([4.0, 5.0, 6.0, 5.5], "t"),                # a positive t-interval of a normal-looking sample
])
def test_a_nonnegative_quantity_never_gets_a_negative_bound(values, read):
    out = summarize(values, nonnegative=True)
    assert out["read"] == read and 0 <= out["low"] <= out["high"]
    if read == "range":
        assert (out["low"], out["high"]) == (min(values), max(values))
    assert summarize(values)["t_low"] == out["t_low"]  # the t-interval itself is still there, unread


def test_trend_uses_student_t_on_the_residual_degrees_of_freedom():
    """Eight points: slope, HC3 interval and p-value computed here by hand, with t on 6 df."""
    x = np.array([2.0, 2.0, 10.0, 10.0, 20.0, 20.0, 40.0, 40.0])
    y = np.array([81.0, 79.0, 55.0, 60.0, 42.0, 35.0, 9.0, 5.0])
    design = np.column_stack([np.ones_like(x), x])
    inverse = np.linalg.inv(design.T @ design)
    beta = inverse @ design.T @ y
    residuals = y - design @ beta
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)
    meat = design.T @ np.diag(residuals ** 2 / (1 - leverage) ** 2) @ design
    se = math.sqrt((inverse @ meat @ inverse)[1, 1])
    quantile = scipy_stats.t.ppf(0.975, 6)
    (fit,) = trend(pd.DataFrame({"x": x, "y": y}), "x", "y")
    assert fit["df"] == 6 and fit["slope"] == pytest.approx(beta[1])
    assert (fit["low"], fit["high"]) == pytest.approx((beta[1] - quantile * se, beta[1] + quantile * se))
    assert fit["p"] == pytest.approx(2 * scipy_stats.t.sf(abs(beta[1] / se), 6))
    assert fit["p"] > 1e-6  # a normal quantile would give an absurdly small p for eight points
    assert p_value(fit["p"]).startswith("= ") and p_value(1e-9) == "< 1e-6"


def test_skewed_sample_says_read_the_median():
    values = [1.0] * 10 + [2.0, 50.0, 100.0]
    assert summarize(values)["read"] == "median"


def test_describe_groups():
    frame = pd.DataFrame({"g": ["a", "a", "b"], "v": [1.0, 3.0, 10.0]})
    table = describe(frame, ["g"], "v").set_index("g")
    assert table.loc["a", "mean"] == 2.0 and table.loc["b", "n"] == 1 and math.isnan(table.loc["b", "t_low"])


def test_trend_recovers_a_known_slope():
    rng = np.random.default_rng(0)
    x = np.repeat([2.0, 10.0, 20.0, 40.0], 6)
    frame = pd.DataFrame({"x": x, "y": 80 - 1.5 * x + rng.normal(0, 1, len(x))})
    (fit,) = trend(frame, "x", "y")
    assert fit["low"] < -1.5 < fit["high"] and fit["p"] < 1e-6 and fit["n"] == 24
    assert verdict(fit["low"], fit["high"], "negative") == "agrees"
    assert math.isnan(trend(frame.head(2), "x", "y")[0]["slope"])


def test_equivalence_tost():
    rng = np.random.default_rng(1)
    a = rng.normal(10, 0.1, 20)
    same = equivalence(a, rng.normal(10, 0.1, 20), margin=0.5)
    apart = equivalence(a, rng.normal(12, 0.1, 20), margin=0.5)
    assert same["equivalent"] and not apart["equivalent"] and apart["diff_high"] < -0.5
    assert equivalence([1.0], [1.0, 2.0], 0.5)["equivalent"] is None


def test_verdicts():
    assert verdict(-2, -1, "negative") == "agrees" and verdict(1, 2, "negative") == "disagrees"
    assert verdict(-1, 1, "positive") == "cannot tell" and verdict(float("nan"), 1, "positive") == "cannot tell"


def test_run_overhead_follows_the_thesis_definition():
    rows = [{"backend": "local", "series": "dataset", "dataset_mb": 2, "model": "8x8x8", "trainable_params": 185,
             "rep": 1, "run_id": "r1", "step": s, "overhead_seconds": o, "duration_seconds": d, "cell_seconds": d - o,
             "status": "succeeded", "run_status": "succeeded"} for s, o, d in (("a", 3.0, 4.0), ("b", 1.0, 6.0))]
    rows.append(rows[0] | {"run_id": "r2", "status": "failed", "run_status": "failed"})
    # A step that finished before its attempt was interrupted: succeeded, but of no counted run.
    rows.append(rows[0] | {"run_id": "r3", "run_status": "interrupted"})
    table = run_overhead(pd.DataFrame(rows))
    assert table["run_id"].tolist() == ["r1"]  # a failed or interrupted run has no overall overhead
    assert table["overhead_pct"].iloc[0] == pytest.approx(100 * 4 / 10)


def test_shared_configuration_is_in_both_series():
    frame = pd.DataFrame({"series": ["dataset", "model", "dataset+model"]})
    assert len(in_series(frame, "dataset")) == 2 and len(in_series(frame, "model")) == 2


def test_reference_numbers_cite_their_source():
    ref = reference()
    assert ref["job_duration_s"]["cite"] == "Table 2" and ref["job_duration_s"]["jobs"]["dnnfit"][-1] == 880.6
    assert ref["cell_time_s"]["cite"] == "Table 4" and ref["job_duration_range_s"]["cite"] == "Table 3"
    for group in ("overall_overhead_pct", "job_overhead_pct", "job_overhead_pct_range", "upload_s"):
        assert all(item["cite"].startswith("Section 6.") for item in ref[group])
