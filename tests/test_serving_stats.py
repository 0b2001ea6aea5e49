"""Unit tests of the serving experiment's statistics and plan, on tables made here: time to serve
per cell with its parts, the requests counted through the updates, latency during an update
against steady serving, and the four claims judged from intervals (never from a single mean)."""

import pandas as pd
import pytest

from mlopsbench.results.analysis import analyse
from mlopsbench.serving.plan import run_args, serving_cells
from mlopsbench.serving.tidy import REQUEST_COLUMNS, UPDATE_COLUMNS

PARAMETERS = {"poll_interval_s": 1.0, "rate_per_s": 20.0, "emulation": "proxy", "framework": "kserve 0.21.0"}


def updates_table(times: dict[tuple, list[float]], failed: int = 0) -> pd.DataFrame:
    """One row per update; ``times``: (setup, method, latency, size) -> each update's time to serve,
    40 % of it the upload."""
    rows = []
    for (setup, method, latency, size), served in times.items():
        cell = f"results/raw/serving/{setup}/{method}/{latency}ms/{size}MB"
        for number, seconds in enumerate(served, start=1):
            start = 1000.0 * number
            rows.append({"setup": setup, "method": method, "latency_ms": latency, "model_mb": size, **PARAMETERS,
                         "update": number, "version": f"v{number + 1}", "status": "ok", "error": None,
                         "upload_started": start, "served": start + seconds, "upload_s": 0.4 * seconds,
                         "detect_s": 0.1 * seconds, "download_s": 0.2 * seconds, "start_s": 0.0,
                         "load_s": 0.2 * seconds,
                         "deliver_s": 0.1 * seconds, "time_to_serve_s": seconds, "requests": 100,
                         "failed_requests": failed, "unanswered_requests": 0, "old_answers_after_switch": 0,
                         "cell": cell, "study": "s"})
    return pd.DataFrame(rows, columns=UPDATE_COLUMNS)


def requests_table(updates: pd.DataFrame) -> pd.DataFrame:
    """Steady requests (update 0) at 10 ms and requests during each update at 50 ms."""
    rows = []
    for _, u in updates.iterrows():
        group = {k: u[k] for k in ("setup", "method", "latency_ms", "model_mb", *PARAMETERS)}
        for sent, update, seconds in ((u["upload_started"] - 900, 0, 0.01),
                                      (u["upload_started"] + 0.5 * u["time_to_serve_s"], u["update"], 0.05)):
            rows.append(group | {"update": update, "due": sent, "sent": sent, "seconds": seconds, "status": 200,
                                 "model_version": "v1", "error": None, "lag_s": 0.0, "cell": u["cell"]})
    return pd.DataFrame(rows, columns=REQUEST_COLUMNS)


def judged(updates: pd.DataFrame):
    bundle = analyse(None, None, None, None, margin=0.10, little=5.0, serving_updates=updates,
                     serving_requests=requests_table(updates))
    return bundle, bundle.claims.set_index("id")["verdict"].to_dict()


def test_time_to_serve_its_parts_and_the_requests_per_cell():
    bundle, verdicts = judged(updates_table({("vm", "in-place", 250, 4): [10.0, 11.0, 12.0, 11.0],
                                             ("vm", "rollout", 250, 4): [20.0, 21.0, 22.0, 21.0]}))
    summary = bundle.serving_summary.set_index("method")
    assert summary.loc["in-place", "n"] == 4 and summary.loc["in-place", "mean"] == pytest.approx(11.0)
    parts = bundle.serving_parts.set_index("method")
    assert parts.loc["rollout", "upload_s"] == pytest.approx(0.4 * 21.0)
    requests = bundle.serving_requests.set_index("method")
    assert requests.loc["in-place", "requests"] == 400 and requests.loc["in-place", "failed_requests"] == 0
    latency = bundle.serving_latency.set_index(["method", "phase"])
    assert latency.loc[("in-place", "steady"), "median_s"] == pytest.approx(0.01)
    assert latency.loc[("in-place", "during an update"), "median_s"] == pytest.approx(0.05)
    assert bundle.summary.serving_updates == 8 and bundle.summary.serving_frameworks == ["kserve 0.21.0"]
    # No request failed; the upload is 40 % of the time (the claim says most); roll-out clearly slower.
    assert verdicts["S1"] == "agrees" and verdicts["S2"] == "disagrees" and verdicts["S3"] == "agrees"
    assert verdicts["S4-vm-pod"] == "cannot tell"  # no pod setup ran


def test_failed_requests_and_equivalent_setups_are_judged():
    same = [10.0, 10.2, 9.9, 10.1, 10.0]
    bundle, verdicts = judged(updates_table({("vm", "in-place", 0, 4): same, ("pod", "in-place", 0, 4): same},
                                            failed=1))
    assert verdicts["S1"] == "disagrees" and "10 of 1000 requests failed" in bundle.claims.set_index("id").loc[
        "S1", "evidence"]
    assert verdicts["S4-vm-pod"] == "agrees" and verdicts["S3"] == "cannot tell"
    assert bundle.summary.serving_failed_requests == 10


def test_setups_not_shown_equivalent_are_not_called_different():
    """Two updates per cell cannot show equivalence; only an interval beyond the margin disagrees."""
    _, verdicts = judged(updates_table({("host", "in-place", 0, 1): [0.46, 1.04], ("netns", "in-place", 0, 1): [0.5, 0.98]}))
    assert verdicts["S4-host-netns"] == "cannot tell"
    _, verdicts = judged(updates_table({("host", "in-place", 0, 1): [1.0, 1.01, 0.99],
                                        ("netns", "in-place", 0, 1): [2.0, 2.01, 1.99]}))
    assert verdicts["S4-host-netns"] == "disagrees"


def test_a_study_without_serving_reports_it_missing():
    bundle = analyse(None, None, None, None, margin=0.10, little=5.0)
    assert "serving" in bundle.summary.missing and not bundle.claims["id"].str.startswith("S").any()


def test_rollout_runs_only_where_the_edge_is_a_pod():
    config = {"serving": {"methods": ["in-place", "rollout"], "setups": ["host", "pod"], "latencies_ms": [0],
                          "model_sizes_mb": [1, 4], "updates": 2}}
    assert list(serving_cells(config)) == [("host", "in-place", 0, 1), ("host", "in-place", 0, 4),
                                           ("pod", "in-place", 0, 1), ("pod", "in-place", 0, 4),
                                           ("pod", "rollout", 0, 1), ("pod", "rollout", 0, 4)]
    assert list(serving_cells({})) == [] and run_args({}) == ""
    assert "--poll-interval-s 1.0 " in run_args(config) and "--image docker.io/library/mlopsbench-serving:local" in \
        run_args(config)
