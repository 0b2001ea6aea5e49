"""The statistics of the serving experiment (beyond the thesis): time to serve a new model, its
parts, the requests through every update, and four judged claims of our own.

Every group is a setup, update method, latency and model size. Time to serve counts only
updates that served (status ok); failed updates are counted beside it, with the requests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..serving.methods import METHODS
from ..upload.setups import comparisons
from .bundle import StatsBundle
from .stats import describe, difference, equivalence, equivalence_verdict, summarize, verdict

GROUP = ["setup", "method", "latency_ms", "model_mb"]
PARTS = ("upload_s", "detect_s", "download_s", "start_s", "load_s", "deliver_s")
# "The upload dominates" from this added round-trip time on (the claim, at the thesis's 250 and 400 ms).
UPLOAD_DOMINATES_FROM_MS = 250.0


def _compared_methods() -> list:
    """The methods compared with another (a method's ``baseline``), with the claim it judges."""
    return [entry for entry in METHODS.values() if entry.baseline]


def analyse_serving(bundle: StatsBundle, updates: pd.DataFrame, requests: pd.DataFrame) -> list[dict]:
    """Fill the bundle's serving tables and summary; return the serving claims, judged."""
    ok = updates[updates["status"] == "ok"]
    bundle.serving_summary = describe(ok, GROUP, "time_to_serve_s")
    bundle.serving_parts = ok.groupby(GROUP, as_index=False)[[*PARTS, "time_to_serve_s"]].mean()
    bundle.serving_requests = updates.groupby(GROUP, as_index=False).agg(
        cell=("cell", "first"), updates=("update", "size"), updates_failed=("status", lambda s: int((s != "ok").sum())),
        requests=("requests", "sum"), failed_requests=("failed_requests", "sum"),
        unanswered_requests=("unanswered_requests", "sum"),
        old_answers_after_switch=("old_answers_after_switch", "sum"))
    bundle.serving_latency = _latency_during_updates(updates, requests)
    bundle.serving_comparisons = _comparisons(ok, bundle.summary.equivalence_margin)
    summary = bundle.summary
    summary.serving_updates, summary.serving_updates_failed = int(len(updates)), int(len(updates) - len(ok))
    summary.serving_failed_requests = int(updates["failed_requests"].sum() + updates["unanswered_requests"].sum())
    summary.serving_frameworks = sorted(updates["framework"].dropna().unique().tolist())
    summary.serving_poll_intervals = sorted(float(v) for v in updates["poll_interval_s"].dropna().unique())
    summary.serving_rates = sorted(float(v) for v in updates["rate_per_s"].dropna().unique())
    summary.serving_rollouts = _rollout_settings(updates[updates["max_surge"].notna() | updates["drain_s"].notna()]
                                                 if "drain_s" in updates else updates.iloc[0:0])
    return _claims(bundle, ok)


def _rollout_settings(rollouts: pd.DataFrame) -> list[str]:
    """The roll-outs' Deployment strategy and drain, as their records say them."""
    said = set()
    for row in rollouts.reindex(columns=["max_surge", "max_unavailable", "drain_s"]).itertuples(index=False):
        if pd.isna(row.drain_s):
            said.add("settings not recorded (measured before roll-outs recorded them)")
        else:
            said.add(f"maxSurge {row.max_surge:g}, maxUnavailable {row.max_unavailable:g}; the old pod answers for "
                     f"{row.drain_s:g} s more, closing each connection it answers on, then stops")
    return sorted(said)


def _latency_during_updates(updates: pd.DataFrame, requests: pd.DataFrame) -> pd.DataFrame:
    """Per group: the answered requests' latency in steady serving (before the first update) against
    during an update (its upload's start to the first answer from the new version)."""
    windows = updates[["cell", "update", "upload_started", "served"]]
    joined = requests.merge(windows, on=["cell", "update"], how="left")
    answered = joined[joined["status"] == 200]
    during = answered[(answered["sent"] >= answered["upload_started"]) & (answered["sent"] <= answered["served"])]
    rows = []
    for phase, frame in (("steady", answered[answered["update"] == 0]), ("during an update", during)):
        for key, group in frame.groupby(GROUP):
            seconds = group["seconds"].to_numpy(float)
            rows.append(dict(zip(GROUP, key)) | {"phase": phase, "n": len(seconds),
                                                 "median_s": float(np.median(seconds)),
                                                 "p95_s": float(np.percentile(seconds, 95)),
                                                 "max_s": float(seconds.max())})
    return pd.DataFrame(rows, columns=[*GROUP, "phase", "n", "median_s", "p95_s", "max_s"])


def _comparisons(ok: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Each method against its baseline (rolling a pod out against swapping in place: difference and
    ratio of the means), and each vm-role setup against its pod-role peer (TOST within ``margin`` of
    the first's mean)."""
    rows = []
    for method in _compared_methods():
        for (setup, latency, size), group in ok.groupby(["setup", "latency_ms", "model_mb"]):
            a = group.loc[group["method"] == method.name, "time_to_serve_s"]
            b = group.loc[group["method"] == method.baseline, "time_to_serve_s"]
            if len(a) and len(b):
                rows.append({"comparison": f"{method.name} - {method.baseline}", "a": method.name,
                             "b": method.baseline, "setup": setup, "method": "", "latency_ms": latency,
                             "model_mb": size, "ratio": a.mean() / b.mean()} | difference(a, b))
    for first, second in comparisons(ok["setup"].unique()):
        for (method, latency, size), group in ok.groupby(["method", "latency_ms", "model_mb"]):
            a = group.loc[group["setup"] == first, "time_to_serve_s"]
            b = group.loc[group["setup"] == second, "time_to_serve_s"]
            if len(a) and len(b):
                rows.append({"comparison": f"{first} - {second}", "a": first, "b": second, "setup": "",
                             "method": method, "latency_ms": latency, "model_mb": size, "ratio": a.mean() / b.mean()}
                            | equivalence(a, b, margin * a.mean()))
    return pd.DataFrame(rows, columns=["comparison", "a", "b", "setup", "method", "latency_ms", "model_mb", "ratio",
                                       "n_a", "n_b", "diff", "diff_low", "diff_high", "margin", "p", "equivalent"])


def _claims(bundle: StatsBundle, ok: pd.DataFrame) -> list[dict]:
    def claim(cid, text, judge):
        evidence, decision = judge()
        return {"id": cid, "claim": text, "cite": "beyond the thesis (Section 1's question)", "evidence": evidence,
                "verdict": decision}

    margin = bundle.summary.equivalence_margin
    compared = bundle.serving_comparisons
    methods = _compared_methods()
    between_methods = {f"{m.name} - {m.baseline}" for m in methods}
    setups = compared.loc[~compared["comparison"].isin(between_methods), ["a", "b"]].drop_duplicates()
    pairs = [(row.a, row.b) for row in setups.itertuples()] or [("vm", "pod")]
    return [
        claim("S1", "Every request through every update is answered, by one version or the other",
              lambda: _none_failed(bundle)),
        claim("S2", f"The upload is most of the time to serve from {UPLOAD_DOMINATES_FROM_MS:g} ms on",
              lambda: _upload_dominates(ok)),
        *(claim("S3" if len(methods) == 1 else f"S3-{m.name}", m.claim, lambda m=m: _slower(compared, m))
          for m in methods),
        *(claim(f"S4-{first}-{second}", f"The {first} and {second} setups serve a new model equally fast (within "
                f"+-{margin:.0%} of the {first} mean)", lambda first=first, second=second:
                _setups_equivalent(compared, first, second))
          for first, second in pairs),
    ]


def _none_failed(bundle: StatsBundle):
    counts = bundle.serving_requests
    failed = int(counts["failed_requests"].sum() + counts["unanswered_requests"].sum())
    total, late = int(counts["requests"].sum()), int(counts["old_answers_after_switch"].sum())
    evidence = (f"{failed} of {total} requests failed or got no answer; {late} answered by the old version after "
                f"the first answer from the new one")
    return evidence, "agrees" if failed == 0 and total > 0 else ("disagrees" if failed else "cannot tell")


def _upload_dominates(ok: pd.DataFrame):
    far = ok[ok["latency_ms"] >= UPLOAD_DOMINATES_FROM_MS]
    if far.empty:
        return f"no update at {UPLOAD_DOMINATES_FROM_MS:g} ms or more", "cannot tell"
    share = summarize(far["upload_s"] / far["time_to_serve_s"])
    low, high = share["t_low"], share["t_high"]
    evidence = (f"upload share of time to serve {share['mean']:.0%} (95 % CI {low:.0%} to {high:.0%}, "
                f"n = {share['n']} updates)")
    return evidence, verdict(low - 0.5, high - 0.5, "positive")


def _slower(compared: pd.DataFrame, method):
    """A method takes longer than its baseline in every cell that ran both."""
    pairs = compared[compared["comparison"] == f"{method.name} - {method.baseline}"]
    if pairs.empty:
        return "no cell ran both methods", "cannot tell"
    decisions = [verdict(row.diff_low, row.diff_high, "positive") for row in pairs.itertuples()]
    ratios = pairs["ratio"]
    evidence = (f"{method.name} / {method.baseline} {ratios.min():.2f}-{ratios.max():.2f}x over {len(pairs)} cells; "
                f"the 95 % interval of the difference is above 0 in {decisions.count('agrees')}")
    return evidence, _overall(decisions)


def _setups_equivalent(compared: pd.DataFrame, first: str, second: str):
    pairs = compared[(compared["a"] == first) & (compared["b"] == second)]
    if pairs.empty:
        return f"no cell ran both {first} and {second}", "cannot tell"
    tested = pairs[pairs["equivalent"].notna()]   # None: too few updates to test
    if tested.empty:
        return "too few updates to test", "cannot tell"
    return equivalence_verdict(tested, "method x latency x size cells")


def _overall(decisions: list[str]) -> str:
    """One verdict from many cells': all agree, all disagree, or cannot tell."""
    if decisions and all(d == "agrees" for d in decisions):
        return "agrees"
    if decisions and all(d == "disagrees" for d in decisions):
        return "disagrees"
    return "cannot tell"
