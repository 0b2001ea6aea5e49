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
from .bundle import StatsBundle, Summary
from .serving_analysis import analyse_serving
from .stats import (NAN, counted_steps, describe, difference, equivalence, equivalence_verdict, in_series, p_value,
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
    ok = counted_steps(steps).copy()
    keys = ["backend", "series", "dataset_mb", "model", "trainable_params", "step"]
    bundle.pipeline_steps_summary = pd.concat(
        [describe(ok, keys, metric) for metric in ("duration_seconds", "cell_seconds", "overhead_seconds",
                                                   "overhead_pct")], ignore_index=True)
    overall = run_overhead(steps)
    bundle.pipeline_run_overhead = overall
    bundle.pipeline_overall_summary = describe(overall, keys[:-1], "overhead_pct")
    ok["pending_seconds"] = ok["scheduled"] - ok["created"]
    ok["start_seconds"] = ok["started"] - ok["scheduled"]  # claim C6: scheduling to running
    bundle.pipeline_startup_summary = pd.concat(
        [describe(ok, ["backend"], metric) for metric in ("pending_seconds", "start_seconds")], ignore_index=True)
    if runs is not None and not runs.empty:
        bundle.pipeline_runs_summary = describe(runs[runs["status"] == "succeeded"], keys[:-1], "wall_seconds")
        bundle.summary.pipeline_runs_not_succeeded = int((~runs["status"].isin(["succeeded", "superseded"])).sum())
        bundle.summary.pipeline_runs_superseded = int((runs["status"] == "superseded").sum())
        _recorded(bundle.summary, runs[runs["status"] == "succeeded"])
    names = sorted(steps["backend"].unique())
    bundle.pipeline_overhead_parts, bundle.pipeline_memory = _overhead_parts(ok, names)
    bundle.pipeline_cluster_cost = _cluster_cost(ok, names)
    bundle.pipeline_clocks, bundle.pipeline_clock_lags = _clocks(all_clocks, names)
    bundle.pipeline_pod_seconds = _pod_seconds(ok)
    bundle.pipeline_cell_pairs = _cell_pairs(ok, names)
    for backend in split_backends(names):
        split = overall[overall["backend"] == backend]
        trends += [t | {"backend": backend, "series": "dataset"}
                             for t in trend(in_series(split, "dataset"), "dataset_mb", "overhead_pct")]
        trends += [t | {"backend": backend, "series": "model"}
                             for t in trend(in_series(split, "model"), "trainable_params", "overhead_pct")]
        dnnfit = ok[(ok["backend"] == backend) & (ok["step"] == "dnnfit")]
        trends += [t | {"backend": backend, "series": "dataset", "step": "dnnfit"}
                             for t in trend(in_series(dnnfit, "dataset"), "dataset_mb", "overhead_pct")]
    bundle.summary.pipeline_runs = int(overall["run_id"].nunique())
    bundle.summary.split_backend, bundle.summary.backends = reference_backend(names), names


def _recorded(summary: Summary, counted: pd.DataFrame) -> None:
    """What the counted runs say they were measured with."""
    summary.models = list(counted.sort_values("trainable_params")["model"].unique())
    summary.epochs = sorted({int(e) for e in counted["epochs"].dropna()})
    summary.cores = sorted({int(c) for c in counted["cores"].dropna()})
    summary.cpu_per_step = [json.loads(m) for m in sorted(counted["cpu_per_step"].dropna().unique())]
    summary.kubernetes_versions = sorted(counted["server_version"].dropna().unique())
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


def _cluster_cost(ok: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per step, what a process costs (a local backend's overhead) and what a cluster adds on top
    (the cluster backend's overhead minus it, Welch 95 % interval), over every configuration."""
    split = split_backends(names)
    rows = []
    for cluster in [b for b in split if BACKENDS[b].on_cluster]:
        for local in [b for b in split if not BACKENDS[b].on_cluster]:
            for step, group in [*ok.groupby("step", sort=False), ("all steps", ok)]:
                on_cluster = group.loc[group["backend"] == cluster, "overhead_seconds"]
                process = group.loc[group["backend"] == local, "overhead_seconds"]
                rows.append({"step": step, "cluster": cluster, "local": local,
                             "process_mean": float(process.mean()) if len(process) else NAN,
                             "cluster_mean": float(on_cluster.mean()) if len(on_cluster) else NAN}
                            | difference(on_cluster, process))
    return pd.DataFrame(rows, columns=["step", "cluster", "local", "process_mean", "cluster_mean", "n_a", "n_b",
                                       "diff", "diff_low", "diff_high"])


# A pod's life from the create call to the watch seeing it end, cut at each clock that marks it:
# the watch's receive times, the runtime's (CRI) nanosecond times, and the step's own statements.
POD_PARTS = (("scheduling", "created", "scheduled"),
             ("kubelet to sandbox", "scheduled", "sandbox_created"),
             ("sandbox and network", "sandbox_created", "container_created"),
             ("container start", "container_created", "container_started"),
             ("interpreter start", "container_started", "step_started"),
             ("the step's own work", "step_started", "step_finished"),
             ("process exit", "step_finished", "container_finished"),
             ("exit seen by the watch", "container_finished", "finished"))


def _cell_pairs(ok: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """dnnfit's own cell time as a job of its own beside the same cell in the notebook's one process,
    paired by configuration and repetition: does a cell split out run at the notebook's speed?"""
    keys = ["series", "dataset_mb", "model", "rep"]
    fits = ok[ok["step"] == "dnnfit"]
    split = split_backends(names)
    pairs = []
    for baseline in (n for n in names if n not in split):
        notebook = fits[fits["backend"] == baseline][keys + ["cell_seconds"]].rename(
            columns={"cell_seconds": "notebook_seconds"})
        for backend in split:
            paired = fits[fits["backend"] == backend][keys + ["cell_seconds"]].merge(notebook, on=keys)
            pairs.append(paired.assign(backend=backend, baseline=baseline,
                                       ratio=paired["cell_seconds"] / paired["notebook_seconds"]))
    columns = ["backend", "baseline", *keys, "cell_seconds", "notebook_seconds", "ratio"]
    return pd.concat(pairs, ignore_index=True)[columns] if pairs else pd.DataFrame(columns=columns)


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

    def claim(cid, text, cite, experiment, judge):
        if experiment in summary.missing:
            out.append({"id": cid, "claim": text, "cite": cite, "evidence": f"{experiment} experiment missing",
                        "verdict": "cannot tell"})
        else:
            evidence, decision = judge()
            if experiment == "pipeline":
                evidence = f"{reference} backend: {evidence}"
            out.append({"id": cid, "claim": text, "cite": cite, "evidence": evidence, "verdict": decision})

    def slope_claim(match, unit, sign):
        def judge():
            t = _trend(trends, **match)
            if t is None or math.isnan(t["slope"]):
                return "too few runs for a trend", "cannot tell"
            return (f"slope {t['slope']:+.3g} {unit} (95 % CI {t['low']:+.3g} to {t['high']:+.3g}, "
                    f"p {p_value(t['p'])}, n = {t['n']})", verdict(t["low"], t["high"], sign))
        return judge

    claim("C1", "Overall overhead decreases as the dataset grows (81 % at 2 MB to 23.8 % at 40 MB)",
          "Section 6.1, Figure 15", "pipeline",
          slope_claim({"backend": reference, "series": "dataset", "x": "dataset_mb", "y": "overhead_pct"},
                      "points per MB", "negative"))
    claim("C2", "Model size changes the overall overhead little (36.4 % to about 33 %)",
          "Section 6.1, Figure 16", "pipeline", lambda: _little_change(bundle, trends))
    claim("C3", "dnnfit dominates the computation time of the pipeline", "Section 6.1, Tables 2 and 4",
          "pipeline", lambda: _dominates(bundle))
    claim("C4", "Trivial jobs (createdict, dnnpredictsummary, modelerrorssummary) stay around 99 % overhead",
          "Section 6.1, Figure 17", "pipeline", lambda: _trivial(bundle))
    claim("C5", "dnnfit's overhead share falls as the dataset grows (38 % to 3.2 %)", "Section 6.1, Figure 17",
          "pipeline", slope_claim({"backend": reference, "step": "dnnfit", "x": "dataset_mb"}, "points per MB",
                                  "negative"))
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


def _little_change(bundle: StatsBundle, trends: list[dict]):
    t = _trend(trends, backend=bundle.summary.split_backend, series="model", x="trainable_params")
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


def _trivial(bundle: StatsBundle):
    summary = bundle.pipeline_steps_summary
    rows = summary[(summary["metric"] == "overhead_pct") & (summary["backend"] == bundle.summary.split_backend)
                   & summary["step"].isin(TRIVIAL_STEPS)]
    values = summarize(rows["mean"])
    if values["n"] == 0:
        return "no succeeded trivial steps", "cannot tell"
    low, high = values["t_low"], values["t_high"]
    decision = "cannot tell" if math.isnan(low) else ("agrees" if low >= 95 else "disagrees" if high < 95 else "cannot tell")
    return (f"mean overhead {values['mean']:.1f} % over {values['n']} step-configurations "
            f"(95 % CI {low:.1f} to {high:.1f}); 'around 99 %' taken as at least 95 %", decision)


def _startup(bundle: StatsBundle):
    table = bundle.pipeline_startup_summary
    table = table[table["backend"] == bundle.summary.split_backend].set_index("metric")
    highs = [table.loc[m, "t_high"] for m in ("pending_seconds", "start_seconds") if m in table.index]
    if not highs or any(math.isnan(h) for h in highs):
        return "too few steps", "cannot tell"
    evidence = ", ".join(f"{m.split('_')[0]} {table.loc[m, 'mean']:.3f} s (95 % CI up to {table.loc[m, 't_high']:.3f} s)"
                         for m in ("pending_seconds", "start_seconds"))
    return evidence, "agrees" if max(highs) < 1 else ("disagrees" if min(table["t_low"]) > 1 else "cannot tell")


def _equivalent(bundle: StatsBundle, first: str, second: str):
    table = bundle.upload_equivalence
    table = table[(table["a"] == first) & (table["b"] == second)] if not table.empty else table
    if table.empty:
        return f"{first} and {second} have no latency x size cell in common", "cannot tell"
    tested = table[table["equivalent"].notna()]
    if tested.empty:
        return "too few repetitions to test", "cannot tell"
    return equivalence_verdict(tested, "latency x size cells")
