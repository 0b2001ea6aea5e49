"""From the tidy tables to every statistic the report shows, and the thesis's claims judged.

``analyse`` returns a ``bundle.StatsBundle`` (a field per table), which writes itself to
``results/stats/`` (CSV and JSON) for the figures and the report. A missing experiment is
carried as missing, never dropped in silence.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..pipeline.backends import BACKENDS, primary_clocks
from ..upload.setups import SETUPS, comparisons
from . import blocks
from .bundle import StatsBundle, Summary
from .serving_analysis import analyse_serving
from .stats import (NAN, counted_steps, describe, equivalence, equivalence_verdict, in_series, p_value,
                    run_overhead, summarize, trend, verdict)

TRIVIAL_STEPS = ("createdict", "dnnpredictsummary", "modelerrorssummary")


def load_table(path: str | Path | None) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path and Path(path).exists() else None


def split_backends(names) -> list[str]:
    """The backends in ``names`` that run one job per cell, the thesis's pipeline; cluster ones first."""
    split = [n for n in names if n in BACKENDS and BACKENDS[n].split]
    return sorted(split, key=lambda n: (not BACKENDS[n].on_cluster, n))


def reference_backend(names) -> str:
    """The backend whose jobs stand for the thesis's and judge its claims: a cluster's if one ran,
    else local processes."""
    return (split_backends(names) or sorted(names))[0]


def analyse(steps: pd.DataFrame | None, runs: pd.DataFrame | None, uploads: pd.DataFrame | None,
            cells: pd.DataFrame | None, margin: float, little: float,
            serving_updates: pd.DataFrame | None = None, serving_requests: pd.DataFrame | None = None) -> StatsBundle:
    """``margin``: claim C9's (and S4's) equivalence margin as a share of the first setup's mean;
    ``little``: claim C2's band in percentage points (both from the configuration's ``analysis``).
    The serving tables are optional: a study without a ``serving`` section has none."""
    bundle = StatsBundle(Summary(equivalence_margin=margin, little_change_points=little))
    trends: list[dict] = []
    if steps is None or not steps["timestamp_source"].isin(primary_clocks()).any():
        bundle.summary.missing.append("pipeline")
    else:
        _pipeline(bundle, trends, steps, runs)
    if uploads is None or uploads.empty:
        bundle.summary.missing.append("upload")
    else:
        _upload(bundle, trends, uploads, cells)
    bundle.summary.setups = _setups(uploads, cells)
    judged = claims(bundle, trends)
    if serving_updates is None or serving_updates.empty:
        bundle.summary.missing.append("serving")
    else:
        judged += analyse_serving(bundle, serving_updates, serving_requests)
    for claim in judged:  # the package's own claims (S1-S4) are counted apart from the thesis's
        claim.setdefault("kind", "package" if claim["id"].startswith("S") else "thesis")
        claim.setdefault("counted", True)
    bundle.trends, bundle.claims = pd.DataFrame(trends), pd.DataFrame(judged)
    bundle.summary.claims = {c["id"]: c["verdict"] for c in judged}
    return bundle


def _setups(uploads: pd.DataFrame | None, cells: pd.DataFrame | None) -> list[str]:
    """The setups the study had: those with uploads or cells; with neither, this machine's setups."""
    names = set()
    for frame in (uploads, cells):
        if frame is not None and not frame.empty:
            names |= set(frame["setup"])
    return sorted(names or {name for name, s in SETUPS.items() if not s.on_cluster})


def _pipeline(bundle: StatsBundle, trends: list[dict], steps: pd.DataFrame, runs: pd.DataFrame | None) -> None:
    # One clock per backend for the statistics (the watcher's for Kubernetes); the others
    # (the API's and kube-state-metrics' whole seconds) stay in the tidy table.
    bundle.pipeline_timestamp_sources = steps.groupby(["backend", "timestamp_source"], as_index=False).size()
    all_clocks = counted_steps(steps)
    steps = steps[steps["timestamp_source"].isin(primary_clocks())]
    runs = runs if runs is not None else pd.DataFrame(columns=["run_id", "status"])
    bundle.pipeline_machine = blocks.machine(runs)
    ok = blocks.calibrated(counted_steps(_with_blocks(steps, runs)), bundle.pipeline_machine)
    keys = ["backend", "series", "dataset_mb", "model", "trainable_params", "step"]
    # A metric no run has (the calibrated one in an uncalibrated study) gets no rows of n = 0.
    measured = [metric for metric in STEP_METRICS if metric in ok and ok[metric].notna().any()]
    bundle.pipeline_steps_summary = pd.concat([describe(ok, keys, metric) for metric in measured], ignore_index=True)
    overall = run_overhead(steps)
    bundle.pipeline_run_overhead = overall
    bundle.pipeline_overall_summary = pd.concat(
        [describe(overall, keys[:-1], metric) for metric in ("overhead_pct", "overhead_nowait_pct")], ignore_index=True)
    ok["pending_seconds"] = ok["scheduled"] - ok["created"]
    ok["start_seconds"] = ok["started"] - ok["scheduled"]  # claim C6: scheduling to running
    bundle.pipeline_startup_summary = pd.concat(
        [describe(ok, ["backend"], metric) for metric in ("pending_seconds", "start_seconds")], ignore_index=True)
    if not runs.empty:
        bundle.pipeline_runs_summary = describe(runs[runs["status"] == "succeeded"], keys[:-1], "wall_seconds")
        bundle.summary.pipeline_runs_not_succeeded = int((~runs["status"].isin(["succeeded", "superseded"])).sum())
        bundle.summary.pipeline_runs_superseded = int((runs["status"] == "superseded").sum())
        _recorded(bundle.summary, runs[runs["status"] == "succeeded"])
    _blocks(bundle, ok, runs)
    names = sorted(steps["backend"].unique())
    bundle.pipeline_overhead_parts, bundle.pipeline_memory = _overhead_parts(ok, names)
    bundle.pipeline_clocks, bundle.pipeline_clock_lags = _clocks(all_clocks, names)
    bundle.pipeline_clock_twins = _clock_twins(all_clocks, names)
    bundle.pipeline_pod_seconds = _pod_seconds(ok)
    for backend in split_backends(names):
        split = overall[overall["backend"] == backend]
        dnnfit = ok[(ok["backend"] == backend) & (ok["step"] == "dnnfit")]
        for y in ("overhead_pct", "overhead_nowait_pct"):
            trends += [t | {"backend": backend, "series": "dataset"}
                       for t in trend(in_series(split, "dataset"), "dataset_mb", y)]
            trends += [t | {"backend": backend, "series": "model"}
                       for t in trend(in_series(split, "model"), "trainable_params", y)]
            trends += [t | {"backend": backend, "series": "dataset", "step": "dnnfit"}
                       for t in trend(in_series(dnnfit, "dataset"), "dataset_mb", y)]
    bundle.summary.pipeline_runs = int(overall["run_id"].nunique())
    bundle.summary.split_backend, bundle.summary.backends = reference_backend(names), names
    if BACKENDS.get(bundle.summary.split_backend) and BACKENDS[bundle.summary.split_backend].on_cluster:
        bundle.pipeline_startup_shares = blocks.startup_shares(ok, bundle.summary.split_backend)


# Per step, the thesis's numbers and ours beside them: calibrated cell times (the study's median
# machine speed), and each overhead also without the step's wait for cores.
STEP_METRICS = ("duration_seconds", "cell_seconds", "overhead_seconds", "overhead_pct", "cell_seconds_cal",
                "core_wait_seconds", "overhead_nowait_seconds", "overhead_nowait_pct")


def _with_blocks(steps: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The step rows with their run's block (None for a run outside one)."""
    if "block" not in runs:
        return steps.assign(block=None)
    return steps.merge(runs[["run_id", "block"]], on="run_id", how="left")


def _blocks(bundle: StatsBundle, ok: pd.DataFrame, runs: pd.DataFrame) -> None:
    """The comparisons made within blocks, and the blocks left out of them."""
    machine = bundle.pipeline_machine
    if machine.empty:
        return
    bundle.pipeline_block_pairs = blocks.pairs(ok, runs[runs["status"] == "succeeded"], machine)
    bundle.pipeline_pair_summary = blocks.pair_summary(bundle.pipeline_block_pairs)
    bundle.pipeline_pod_pairs = blocks.pod_pairs(ok, machine)
    bundle.pipeline_pod_cost = blocks.pod_cost(bundle.pipeline_pod_pairs)
    bundle.pipeline_dnnfit_effects = blocks.dnnfit_effects(ok, machine)
    bundle.summary.blocks_left_out = blocks.left_out_blocks(machine)
    calibrated = machine["factor"].notna()
    bundle.summary.calibrated_runs, bundle.summary.drifted_runs = int(calibrated.sum()), int(machine["drifted"].sum())


def _recorded(summary: Summary, counted: pd.DataFrame) -> None:
    """What the counted runs say they were measured with."""
    summary.models = list(counted.sort_values("trainable_params")["model"].unique())
    summary.epochs = sorted({int(e) for e in counted["epochs"].dropna()})
    summary.cores = sorted({int(c) for c in counted["cores"].dropna()})
    summary.cpu_per_step = [json.loads(m) for m in sorted(counted["cpu_per_step"].dropna().unique())]
    summary.kubernetes_versions = sorted(counted["server_version"].dropna().unique())
    if "kubelet_build" in counted:  # absent from tables tidied before runs recorded it
        summary.kubelet_builds = sorted(counted["kubelet_build"].dropna().unique())
    if "python" in counted:  # absent from tables tidied before runs recorded their interpreter
        summary.pythons = {backend: sorted(group["python"].dropna().unique())
                           for backend, group in counted.groupby("backend")}
    per_group = counted.groupby(["backend", "series", "dataset_mb", "model"]).size()
    summary.pipeline_repetitions = sorted({int(n) for n in per_group})


PARTS = ("wait_seconds", "startup_seconds", "marshal_seconds", "rest_seconds")


def _overhead_parts(ok: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What each step's overhead is made of, per backend that splits the notebook; and each
    step's peak resident memory where the backend measures it."""
    split = ok[ok["backend"].isin(split_backends(names))]
    parts = split.groupby(["backend", "step"], as_index=False)[["overhead_seconds", *PARTS]].mean()
    memory = ok[ok["peak_rss_mib"].notna()] if "peak_rss_mib" in ok else ok.iloc[0:0]
    peaks = memory.groupby(["backend", "series", "dataset_mb", "model", "step"], as_index=False)["peak_rss_mib"].agg(
        ["median", "max"])
    return parts, peaks


# A pod's life from the create call to the watch seeing it end, cut at each clock that marks it:
# the watch's receive times, the runtime's (CRI) nanosecond times, and the step's own statements.
OWN_WORK = "the step's own work"
POD_PARTS = (("scheduling", "created", "scheduled"),
             ("kubelet to sandbox", "scheduled", "sandbox_created"),
             ("sandbox and network", "sandbox_created", "container_created"),
             ("container start", "container_created", "container_started"),
             ("interpreter start", "container_started", "step_started"),
             (OWN_WORK, "step_started", "step_finished"),
             ("process exit", "step_finished", "container_finished"),
             ("exit seen by the watch", "container_finished", "finished"))


def cri_sum(stats) -> float | None:
    """The sum of the medians of a pod's own parts over all steps: everything but the step's work."""
    frame = stats.pipeline_pod_seconds
    frame = frame[(frame["step"] == "all steps") & (frame["part"] != OWN_WORK)] if not frame.empty else frame
    return float(frame["median"].sum()) if not frame.empty else None


def _pod_seconds(ok: pd.DataFrame) -> pd.DataFrame:
    """Where a pod's seconds go, per backend and step and over all steps (95 % intervals; a part
    between two clocks can be slightly negative). Only pods whose runtime times were kept."""
    pods = ok[ok["container_started"].notna()] if "container_started" in ok else ok.iloc[0:0]
    groups = [*pods.groupby(["backend", "step"], sort=False)]
    groups += [((backend, "all steps"), group) for backend, group in pods.groupby("backend")]
    rows = []
    for (backend, step), group in groups:
        for part, start, end in POD_PARTS:
            rows.append({"backend": backend, "step": step, "part": part} | summarize(group[end] - group[start]))
    return pd.DataFrame(rows, columns=["backend", "step", "part", *summarize([]).keys()])


def _clock_pairs(steps: pd.DataFrame, names: list[str]):
    """(backend, the statistics' clock, another clock, its rows, the other's rows), indexed by run and step."""
    for backend in names:
        mine = steps[steps["backend"] == backend]
        primary = BACKENDS[backend].clock if backend in BACKENDS else None
        reference = mine[mine["timestamp_source"] == primary].set_index(["run_id", "step"])
        for clock in sorted(set(mine["timestamp_source"]) - {primary}):
            yield backend, primary, clock, reference, mine[mine["timestamp_source"] == clock].set_index(
                ["run_id", "step"])


STAMPS = ("created", "scheduled", "started", "finished")


def _clocks(steps: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per backend with more than one clock, per step: the overhead by each clock, and how far each
    clock moves it from the one the statistics read (paired by run and step, 95 % t-interval); and
    per event, how far each clock's stamp lies before the statistics' clock: whether a shift comes
    from the stamps' resolution or from what they mark."""
    shifts, lags = [], []
    for backend, primary, clock, reference, other in _clock_pairs(steps, names):
        ours, theirs = reference["overhead_seconds"], other["overhead_seconds"]
        for step, values in (theirs - ours).dropna().groupby(level="step", sort=False):
            found = summarize(values.tolist())
            shifts.append({"backend": backend, "step": step, "clock": clock, "reference": primary,
                           "reference_mean": float(ours.xs(step, level="step").mean()),
                           "clock_mean": float(theirs.xs(step, level="step").dropna().mean()),
                           "missing": int(theirs.xs(step, level="step").isna().sum()), "n": found["n"],
                           "shift_mean": found["mean"], "shift_low": found["t_low"], "shift_high": found["t_high"]})
        for stamp in STAMPS:
            found = summarize((reference[stamp] - other[stamp]).dropna().tolist())
            lags.append({"backend": backend, "clock": clock, "reference": primary, "event": stamp, "n": found["n"],
                         "lag_mean": found["mean"], "lag_low": found["t_low"], "lag_high": found["t_high"]})
    return (pd.DataFrame(shifts, columns=["backend", "step", "clock", "reference", "reference_mean", "clock_mean",
                                          "missing", "n", "shift_mean", "shift_low", "shift_high"]),
            pd.DataFrame(lags, columns=["backend", "clock", "reference", "event", "n", "lag_mean", "lag_low",
                                        "lag_high"]))


def _clock_twins(steps: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per backend and event, the clocks other than the statistics' that stamp it identically on
    every step (the largest difference between them): one clock printed under two names."""
    rows = []
    for backend in names:
        mine = steps[steps["backend"] == backend]
        clocks = sorted(set(mine["timestamp_source"]) - {BACKENDS[backend].clock if backend in BACKENDS else None})
        for first, second in [(a, b) for i, a in enumerate(clocks) for b in clocks[i + 1:]]:
            a = mine[mine["timestamp_source"] == first].set_index(["run_id", "step"])
            b = mine[mine["timestamp_source"] == second].set_index(["run_id", "step"])
            for stamp in STAMPS:
                apart = (a[stamp] - b[stamp]).dropna().abs()
                if len(apart) and apart.max() == 0:
                    rows.append({"backend": backend, "event": stamp, "clocks": f"{first} = {second}",
                                 "n": len(apart), "largest_difference": float(apart.max())})
    return pd.DataFrame(rows, columns=["backend", "event", "clocks", "n", "largest_difference"])


def _upload(bundle: StatsBundle, trends: list[dict], uploads: pd.DataFrame, cells: pd.DataFrame | None) -> None:
    ok = uploads[uploads["status"] == "ok"]
    bundle.upload_summary = describe(ok, ["setup", "latency_ms", "model_mb"], "seconds")
    for setup, group in ok.groupby("setup"):
        trends += [t | {"setup": setup} for t in trend(group, ["model_mb", "latency_ms"], "seconds")]
    rows = []
    for first, second in comparisons(ok["setup"].unique()):
        for (latency, size), group in ok.groupby(["latency_ms", "model_mb"]):
            a = group.loc[group["setup"] == first, "seconds"]
            b = group.loc[group["setup"] == second, "seconds"]
            margin = bundle.summary.equivalence_margin * a.mean() if len(a) else NAN
            rows.append({"latency_ms": latency, "model_mb": size, "a": first, "b": second}
                        | equivalence(a, b, margin))
    bundle.upload_equivalence = pd.DataFrame(rows, columns=["latency_ms", "model_mb", "a", "b", "n_a", "n_b",
                                                               "diff", "diff_low", "diff_high", "margin", "p",
                                                               "equivalent"])
    if cells is not None:
        bundle.upload_cells = cells
    summary = bundle.summary
    summary.uploads, summary.uploads_not_ok = int(len(uploads)), int((uploads["status"] != "ok").sum())
    summary.emulations = sorted(uploads["emulation"].dropna().unique().tolist())
    summary.warmup_uploads = sorted(int(n) for n in uploads["warmup_uploads"].dropna().unique())
    summary.upload_repetitions = sorted({int(n) for n in ok.groupby(["setup", "latency_ms", "model_mb"]).size()})


def _trend(trends: list[dict], **match) -> dict | None:
    return next((t for t in trends if all(t.get(k) == v for k, v in match.items())), None)


def claims(bundle: StatsBundle, trends: list[dict]) -> list[dict]:
    """Each claim of the thesis, our evidence, and whether our data agrees. The pipeline's claims
    are judged on the reference backend's runs (a cluster's, where one ran)."""
    out = []
    summary = bundle.summary
    reference = summary.split_backend

    def claim(cid, text, cite, experiment, judge, conditions=None, counted=True):
        row = {"id": cid, "claim": text, "cite": cite, "conditions": conditions, "counted": counted}
        if experiment in summary.missing:
            out.append(row | {"evidence": f"{experiment} experiment missing", "verdict": "cannot tell"})
        else:
            evidence, decision = judge()
            if experiment == "pipeline":
                evidence = f"{reference} backend: {evidence}"
            out.append(row | {"evidence": evidence, "verdict": decision})

    def slope_claim(match, unit, sign):
        def judge():
            t = _trend(trends, **match)
            if t is None or math.isnan(t["slope"]):
                return "too few runs for a trend", "cannot tell"
            return (f"slope {t['slope']:+.3g} {unit} (95 % CI {t['low']:+.3g} to {t['high']:+.3g}, "
                    f"p {p_value(t['p'])}, n = {t['n']})", verdict(t["low"], t["high"], sign))
        return judge

    def both_ways(cid, text, cite, judge_on):
        """A claim about the thesis's overhead, judged on it as defined (a step's wait for cores
        included) and without that wait, which is the thesis's condition: its workers had 8 vCPUs and
        its pods waited under a second. The second is the one counted."""
        for suffix, y, conditions in (("", "overhead_pct", AS_DEFINED), ("-nowait", "overhead_nowait_pct", NO_WAIT)):
            claim(f"{cid}{suffix}", text, cite, "pipeline", judge_on(y), conditions, counted=bool(suffix))

    both_ways("C1", "Overall overhead decreases as the dataset grows (81 % at 2 MB to 23.8 % at 40 MB)",
              "Section 6.1, Figure 15", lambda y: slope_claim(
                  {"backend": reference, "series": "dataset", "x": "dataset_mb", "y": y}, "points per MB", "negative"))
    both_ways("C2", "Model size changes the overall overhead little (36.4 % to about 33 %)",
              "Section 6.1, Figure 16", lambda y: lambda: _little_change(bundle, trends, y))
    claim("C3", "dnnfit dominates the computation time of the pipeline", "Section 6.1, Tables 2 and 4",
          "pipeline", lambda: _dominates(bundle))
    both_ways("C4", "Trivial jobs (createdict, dnnpredictsummary, modelerrorssummary) stay around 99 % overhead",
              "Section 6.1, Figure 17", lambda y: lambda: _trivial(bundle, y))
    both_ways("C5", "dnnfit's overhead share falls as the dataset grows (38 % to 3.2 %)", "Section 6.1, Figure 17",
              lambda y: slope_claim({"backend": reference, "step": "dnnfit", "x": "dataset_mb", "y": y},
                                    "points per MB", "negative"))
    claim("C6", "Creation to scheduling and scheduling to running mostly take under one second",
          "Section 6.1.1", "pipeline", lambda: _startup(bundle))
    setups = summary.setups
    for setup in setups:
        claim(f"C7-{setup}", f"Upload time grows with network latency ({setup})", "Section 6.2, Figure 19", "upload",
              slope_claim({"setup": setup, "x": "latency_ms"}, "s per ms", "positive"))
        claim(f"C8-{setup}", f"Upload time grows with model size ({setup})", "Section 6.2, Figure 19", "upload",
              slope_claim({"setup": setup, "x": "model_mb"}, "s per MB", "positive"))
    margin = summary.equivalence_margin
    pairs = [] if "upload" in summary.missing else comparisons(setups)
    for first, second in pairs:
        claim(f"C9-{first}-{second}", f"No significant difference between {first} and {second} (the thesis's "
              f"VM against pod; equivalence margin +-{margin:.0%} of the {first} mean)", "Section 6.2.1", "upload",
              lambda first=first, second=second: _equivalent(bundle, first, second))
    if not pairs:
        claim("C9", f"No significant difference between the VM and the pod setups (equivalence margin "
              f"+-{margin:.0%})", "Section 6.2.1", "upload", lambda: ("no pair of setups ran", "cannot tell"))
    return out


# Which overhead a claim about it was judged on.
AS_DEFINED = "the thesis's definition as measured here, waiting for cores included"
NO_WAIT = "without waiting for cores, the thesis's conditions (its pods waited under a second)"


def _little_change(bundle: StatsBundle, trends: list[dict], y: str):
    t = _trend(trends, backend=bundle.summary.split_backend, series="model", x="trainable_params", y=y)
    overall = bundle.pipeline_run_overhead
    span = in_series(overall, "model")["trainable_params"]
    if t is None or math.isnan(t["slope"]) or span.empty:
        return "too few runs for a trend", "cannot tell"
    width = span.max() - span.min()
    low, high = sorted((t["low"] * width, t["high"] * width))
    change = t["slope"] * width
    little = bundle.summary.little_change_points
    if -little <= low and high <= little:
        decision = "agrees"
    elif high < -little or low > little:
        decision = "disagrees"
    else:
        decision = "cannot tell"
    return (f"change across the models {change:+.2f} points (95 % CI {low:+.2f} to {high:+.2f}); "
            f"'little' taken as within +-{little:g} points", decision)


def _dominates(bundle: StatsBundle):
    summary = bundle.pipeline_steps_summary
    cells = summary[(summary["metric"] == "cell_seconds") & (summary["backend"] == bundle.summary.split_backend)]
    leaders = cells.loc[cells.groupby(["series", "dataset_mb", "model"])["mean"].idxmax()]
    count = int((leaders["step"] == "dnnfit").sum())
    others = sorted(set(leaders["step"]) - {"dnnfit"})
    evidence = f"dnnfit has the largest mean cell time in {count} of {len(leaders)} configurations"
    evidence += f" (otherwise: {', '.join(others)})" if others else ""
    return evidence, "agrees" if count == len(leaders) else "disagrees"


def _trivial(bundle: StatsBundle, y: str):
    summary = bundle.pipeline_steps_summary
    rows = summary[(summary["metric"] == y) & (summary["backend"] == bundle.summary.split_backend)
                   & summary["step"].isin(TRIVIAL_STEPS)]
    values = summarize(rows["mean"])
    if values["n"] == 0:
        return "no succeeded trivial steps", "cannot tell"
    low, high = values["t_low"], values["t_high"]
    decision = "cannot tell" if math.isnan(low) else ("agrees" if low >= 95 else "disagrees" if high < 95 else "cannot tell")
    return (f"mean overhead {values['mean']:.1f} % over {values['n']} step-configurations "
            f"(95 % CI {low:.1f} to {high:.1f}); 'around 99 %' taken as at least 95 %", decision)


def _startup(bundle: StatsBundle):
    """C6 as its words say: the share of pods scheduled, and started, within one second, each with its
    Clopper-Pearson interval; "mostly" is more than half."""
    shares = bundle.pipeline_startup_shares
    if shares.empty:
        return "no pods: the claim is about a cluster's", "cannot tell"
    every = shares[shares["scope"] == "every pod"]
    said = [f"{r['interval']} within {r['limit_s']:g} s: {r['share']:.0%} of {r['n']} pods (95 % CI "
            f"{r['low']:.0%} to {r['high']:.0%})" for _, r in every.iterrows()]
    rest = shares[shares["scope"] != "every pod"]
    said += [f"without the pods that waited for cores, {r['interval']}: {r['share']:.0%} of {r['n']}"
             for _, r in rest.iterrows()]
    decision = ("agrees" if (every["low"] > 0.5).all() else
                "disagrees" if (every["high"] < 0.5).any() else "cannot tell")
    return "; ".join(said) + "; 'mostly' taken as more than half", decision


def _equivalent(bundle: StatsBundle, first: str, second: str):
    table = bundle.upload_equivalence
    table = table[(table["a"] == first) & (table["b"] == second)] if not table.empty else table
    if table.empty:
        return f"{first} and {second} have no latency x size cell in common", "cannot tell"
    tested = table[table["equivalent"].notna()]
    if tested.empty:
        return "too few repetitions to test", "cannot tell"
    return equivalence_verdict(tested, "latency x size cells")
