"""Matplotlib analogues of the thesis's Figures 14-19, from ``results/stats``.

Each point carries the interval the tables read for it (``stats.summarize``); the thesis's
published numbers are overlaid as open markers (or bands, where it gives a range). Names and
captions come from ``figure_registry``. Every backend that runs one job per cell
and every upload setup found in the statistics is drawn; none is named here. Every
figure is saved as vector PDF and as PNG, with a JSON beside it naming the raw exports
that fed it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd

from .. import atomic
from ..data.models import trainable_params
from ..rawdirs import CellDir, RunDir
from ..upload.setups import SETUPS, THESIS_ROLES
from .analysis import PARTS, cri_sum, split_backends
from .bundle import StatsBundle
from .figure_registry import FIGURES
from .plotting import errorbar, save_figure, size_axis
from .stats import in_series, reference

log = logging.getLogger(__name__)
JOBS = ("dnnfit", "plot", "dnneval", "preprocessing")
# Bottom to top of Figure 14's stacks: notebook order, Kale's volume job last.
STACK = ("preprocessing", "plot", "createdict", "dnncompile", "dnnfit", "dnneval", "modelerrorssummary",
         "dnnpredict", "dnnpredictsummary", "kale-marshall-volume")
JOB_COLORS = {job: f"C{i}" for i, job in enumerate(JOBS)}
ROLE_MARKERS = {"vm": "o", "pod": "s"}

def _thesis(ax, xs, ys, color: str, label: str | None = "thesis") -> None:
    ax.scatter(xs, ys, facecolors="none", edgecolors=color, s=60, linewidths=1.5, label=label, zorder=3)


def _run_sources(runs: pd.DataFrame) -> list[str]:
    """Each run's event log and step logs, the raw exports a figure of runs rests on."""
    found = set()
    for raw_dir in runs["raw_dir"]:
        raw = RunDir(Path(raw_dir))
        found |= {str(raw.events), f"{raw.logs}/"}
    return sorted(found)


def _panels(plt, count: int, width: float, height: float, sharey: bool = False):
    fig, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False, sharey=sharey)
    return fig, list(axes.flat)


def pipeline_figures(stats: StatsBundle, out_dir: Path) -> list[dict]:
    overall = stats.pipeline_overall_summary
    names = sorted(overall["backend"].unique())
    backends = split_backends(names) or names[:1]  # the monolithic baseline alone stands for itself
    runs = stats.pipeline_run_overhead
    runs = runs[runs["backend"].isin(backends)]
    return [_durations_figure(stats, backends, runs, out_dir), *_overall_figures(stats, backends, runs, out_dir),
            *_job_figures(stats, backends, runs, out_dir), _parts_figure(stats, backends, runs, out_dir),
            _pod_cost_figure(stats, runs, out_dir), _calibration_figure(stats, runs, out_dir)]


def _durations_figure(stats, backends: list[str], runs: pd.DataFrame, out_dir: Path) -> dict:
    """Figure 14: stacked mean durations per dataset size, a panel per backend and the thesis's."""
    import matplotlib.pyplot as plt

    ref = reference()
    steps = stats.pipeline_steps_summary
    durations = in_series(steps[steps["metric"] == "duration_seconds"], "dataset")
    thesis = pd.DataFrame(ref["job_duration_s"]["jobs"], index=ref["job_duration_s"]["dataset_mb"])
    for job, (low, high) in ref["job_duration_range_s"]["jobs"].items():
        thesis[job] = (low + high) / 2
    step_colors = {step: f"C{i}" for i, step in enumerate(STACK)}
    # Each panel: its mean durations, title and runs per bar (printed on it; the thesis's are means of 6, Table 2).
    panels = []
    for backend in backends:
        mine = durations[durations["backend"] == backend].pivot_table(index="dataset_mb", columns="step",
                                                                      values=["mean", "n"])
        panels.append((mine["mean"], f"reproduced ({backend})", mine["n"].max(axis=1)))
    panels.append((thesis, "thesis (Table 2; Table 3 midpoints)", None))
    fig, axes = _panels(plt, len(panels), 5.2, 5, sharey=True)
    for ax, (frame, title, n) in zip(axes, panels):
        order = [step for step in STACK if step in frame.columns]
        frame[order].plot.bar(stacked=True, ax=ax, width=0.7, legend=False, rot=0,
                              color=[step_colors[step] for step in order])
        ax.set_xticks(range(len(frame)), [f"{size:g}" for size in frame.index])
        if n is not None:
            for i, (size, total) in enumerate(frame[order].sum(axis=1).items()):
                ax.annotate(f"n={int(n[size])}", (i, total), ha="center", va="bottom", fontsize=7)
        ax.set(title=title, xlabel="dataset [MB]", ylabel="mean duration [s]")
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center right", fontsize=8)
    fig.subplots_adjust(left=0.05, right=0.88)
    return save_figure(fig, out_dir, FIGURES["durations"], _run_sources(in_series(runs, "dataset")))


def _overall_figures(stats, backends: list[str], runs: pd.DataFrame, out_dir: Path) -> list[dict]:
    """Figures 15 and 16: overall overhead, a series per backend."""
    import matplotlib.pyplot as plt

    overall = stats.pipeline_overall_summary
    colors = {backend: f"C{i}" for i, backend in enumerate(backends)}
    points = pd.DataFrame(reference()["overall_overhead_pct"])
    made = []
    for figure, series, x, xlabel in ((FIGURES["overhead_dataset"], "dataset", "dataset_mb", "dataset [MB]"),
                                      (FIGURES["overhead_model"], "model", "trainable_params", "trainable parameters")):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        drawn = in_series(overall[overall["backend"].isin(backends)], series)
        for backend in backends:
            mine = drawn[drawn["backend"] == backend]
            errorbar(ax, mine[mine["metric"] == "overhead_pct"], x, f"{backend}", colors[backend])
            errorbar(ax, mine[mine["metric"] == "overhead_nowait_pct"], x, f"{backend}, without waiting for cores",
                     colors[backend], linestyle="--", show_n=False)
        mine = points[points["series"] == series]
        xs = mine["dataset_mb"] if series == "dataset" else mine["model"].map(_params_of)
        _thesis(ax, xs, mine["value"], "black")
        _size_ticks(ax, drawn, series, x)
        ax.set(xlabel=xlabel, ylabel="overall overhead [%]", ylim=(0, 100))
        ax.legend(fontsize=7)
        made.append(save_figure(fig, out_dir, figure, _run_sources(in_series(runs, series))))
    return made


def _job_figures(stats, backends: list[str], runs: pd.DataFrame, out_dir: Path) -> list[dict]:
    """Figures 17 and 18: overhead of selected jobs, a panel per backend."""
    import matplotlib.pyplot as plt

    steps = stats.pipeline_steps_summary
    shares = steps[steps["metric"].isin(["overhead_pct", "overhead_nowait_pct"]) & steps["step"].isin(JOBS)]
    made = []
    for figure, series, x, xlabel in ((FIGURES["job_overhead_dataset"], "dataset", "dataset_mb", "dataset [MB]"),
                                      (FIGURES["job_overhead_model"], "model", "trainable_params",
                                       "trainable parameters")):
        fig, axes = _panels(plt, len(backends), 6.5, 4.2, sharey=True)
        for ax, backend in zip(axes, backends):
            data = in_series(shares[shares["backend"] == backend], series)
            for job in JOBS:
                mine = data[data["step"] == job]
                errorbar(ax, mine[mine["metric"] == "overhead_pct"], x, job, JOB_COLORS[job])
                errorbar(ax, mine[mine["metric"] == "overhead_nowait_pct"], x, None, JOB_COLORS[job],
                         linestyle="--", show_n=False)
            _job_references(ax, reference(), series)
            _size_ticks(ax, data, series, x)
            ax.set(title=f"{backend} (dashed: without waiting for cores)", xlabel=xlabel, ylabel="job overhead [%]",
                   ylim=(0, 105))
            ax.legend(fontsize=8)
        made.append(save_figure(fig, out_dir, figure, _run_sources(in_series(runs, series))))
    return made


def _parts_figure(stats, backends: list[str], runs: pd.DataFrame, out_dir: Path) -> dict:
    """What the overhead is made of, per step, a panel per backend."""
    import matplotlib.pyplot as plt

    parts = stats.pipeline_overhead_parts
    fig, axes = _panels(plt, len(backends), 6.5, 4.2)
    for ax, backend in zip(axes, backends):
        frame = parts[parts["backend"] == backend].set_index("step").reindex([s for s in STACK if s in set(parts["step"])])
        frame = frame[list(PARTS)].dropna(how="all")
        if frame.empty:  # the notebook in one process has no parts to split
            ax.text(0.5, 0.5, f"{backend}: no split runs", ha="center", va="center", transform=ax.transAxes)
        else:
            frame.rename(columns=lambda c: c.removesuffix("_seconds")).plot.bar(
                stacked=True, ax=ax, width=0.7, rot=45, color=["C3", "C0", "C2", "C7"])
            ax.legend(fontsize=8)
        ax.set(title=backend, xlabel="", ylabel="mean overhead [s]")
    return save_figure(fig, out_dir, FIGURES["overhead_parts"], _run_sources(runs))


def _nothing(ax, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _pod_cost_figure(stats, runs: pd.DataFrame, out_dir: Path) -> dict:
    """A pod's overhead minus a process's, paired within blocks, per step, with the CRI parts' sum."""
    import matplotlib.pyplot as plt

    cost = stats.pipeline_pod_cost
    fig, ax = plt.subplots(figsize=(7.5, 4))
    if cost.empty:
        _nothing(ax, "no block ran a pod and a process side by side")
    else:
        steps = [s for s in STACK if s in set(cost["step"])] + ["all steps"]
        where = {step: i for i, step in enumerate(steps)}
        for value, marker, label in (("overhead_nowait_seconds", "o", "without waiting for cores"),
                                     ("overhead_seconds", "s", "waiting included")):
            mine = cost[cost["value"] == value].assign(position=lambda f: f["step"].map(where))
            shift = -0.12 if value == "overhead_nowait_seconds" else 0.12
            errorbar(ax, mine.assign(position=mine["position"] + shift), "position", label, "C0", marker,
                     linestyle="none", filled=value == "overhead_nowait_seconds")
        parts = cri_sum(stats)
        if parts is not None:
            ax.axhline(parts, color="grey", linewidth=1, label=f"the pod's own parts (CRI), {parts:.2f} s")
        ax.set_xticks(range(len(steps)), steps, rotation=40, ha="right")
        ax.set(ylabel="pod minus process [s]")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.legend(fontsize=7)
    return save_figure(fig, out_dir, FIGURES["pod_cost"], _run_sources(runs))


def sittings(times: pd.Series, gap_s: float = 3600.0) -> pd.Series:
    """Which sitting each time belongs to: a new one begins after a pause of ``gap_s``."""
    order = times.sort_values()
    return (order.diff() > gap_s).cumsum().reindex(times.index)


def _calibration_figure(stats, runs: pd.DataFrame, out_dir: Path) -> dict:
    """The calibrations against the time, a column per sitting, Keras on top, Python below."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    machine = stats.pipeline_machine
    machine = machine[machine["cal_before_t"].notna()] if not machine.empty else machine
    if machine.empty:
        fig, ax = plt.subplots(figsize=(6, 2))
        _nothing(ax, "no run was calibrated")
        return save_figure(fig, out_dir, FIGURES["calibration"], _run_sources(runs))
    machine = machine.assign(sitting=sittings(machine["cal_before_t"]))
    count = int(machine["sitting"].max()) + 1
    fig, axes = plt.subplots(2, count, figsize=(max(7.5, 3.6 * count), 6), squeeze=False, sharey="row")
    colors = {backend: f"C{i}" for i, backend in enumerate(sorted(machine["backend"].unique()))}
    for column, (_, group) in enumerate(machine.groupby("sitting")):
        for row, (what, scale, label) in enumerate((("keras_step_s", 1e6, "Keras step [us]"),
                                                    ("python_s", 1.0, "Python loop [s]"))):
            ax = axes[row][column]
            for backend, mine in group.groupby("backend"):
                for phase, marker in (("before", "o"), ("after", "x")):
                    when = pd.to_datetime(mine[f"cal_{phase}_t"], unit="s")
                    ax.scatter(when, mine[f"cal_{phase}_{what}"] * scale, marker=marker, s=14, color=colors[backend],
                               label=f"{backend} {phase}" if column == 0 and row == 0 else None)
            drifted = group[group["drifted"]]
            ax.scatter(pd.to_datetime(drifted["cal_after_t"], unit="s"), drifted[f"cal_after_{what}"] * scale,
                       s=80, facecolors="none", edgecolors="red")
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
            ax.tick_params(axis="x", labelsize=7, rotation=45)
            if column == 0:
                ax.set_ylabel(label)
            if row == 0:
                first, last = (pd.to_datetime(group["cal_before_t"].agg(end), unit="s") for end in ("min", "max"))
                ax.set_title(f"{first:%Y-%m-%d %H:%M}-{last:%H:%M} (UTC)", fontsize=9)
    fig.legend(loc="lower center", ncol=3, fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 0.89, 1))   # a right margin under 0.9: save_figure keeps this layout
    return save_figure(fig, out_dir, FIGURES["calibration"], _run_sources(runs))


def _job_references(ax, ref: dict, series: str) -> None:
    if series == "dataset":
        marks = pd.DataFrame(ref["job_overhead_pct"])
        for job in JOBS:
            job_marks = marks[marks["step"] == job]
            _thesis(ax, job_marks["dataset_mb"], job_marks["value"], JOB_COLORS[job], "thesis" if job == JOBS[0] else None)
    else:
        for band in ref["job_overhead_pct_range"]:
            if band["series"] == "model" and band["step"] in JOBS:
                ax.axhspan(band["low"] - 0.5, band["high"] + 0.5, color=JOB_COLORS[band["step"]], alpha=0.15)


def _size_ticks(ax, drawn: pd.DataFrame, series: str, x: str) -> None:
    """Ticks at the sizes drawn: the datasets in MB, or the models by name at their parameter counts."""
    if drawn.empty:
        return
    if series == "dataset":
        size_axis(ax, drawn[x])
    else:
        models = drawn.drop_duplicates(x).sort_values(x)
        size_axis(ax, models[x], [f"{m}\n{p:,}" for m, p in zip(models["model"], models[x])])


def _params_of(model: str) -> int:
    width = int(model.split("x")[0])
    return trainable_params(width, model.count("x") + 1)


def upload_figure(stats: StatsBundle, out_dir: Path) -> dict:
    import matplotlib.pyplot as plt

    summary = stats.upload_summary
    setups = sorted(summary["setup"].unique())
    colors = {setup: f"C{i}" for i, setup in enumerate(setups)}
    role_colors = {}
    for setup in setups:
        role_colors.setdefault(_role(setup), colors[setup])
    latencies = sorted(summary["latency_ms"].unique())
    columns = min(4, len(latencies))
    rows = math.ceil(len(latencies) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False, sharey=False)
    marks = pd.DataFrame(reference()["upload_s"])
    for ax, latency in zip(axes.flat, latencies):
        cell = summary[summary["latency_ms"] == latency]
        for setup, group in cell.groupby("setup"):
            errorbar(ax, group, "model_mb", setup, colors[setup], ROLE_MARKERS.get(_role(setup), "^"))
        for role, group in marks[marks["latency_ms"] == latency].groupby("setup"):
            _thesis(ax, group["model_mb"], group["seconds"], role_colors.get(role, "black"),
                    f"thesis {THESIS_ROLES[role]}")
        size_axis(ax, cell["model_mb"])
        ax.set(title=f"{latency:g} ms", xlabel="model [MB]", ylabel="upload time [s]", yscale="log")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(latencies):]:
        ax.set_visible(False)
    sources = sorted(str(CellDir(cell).records) for cell in stats.upload_cells.get("cell", []))
    return save_figure(fig, out_dir, FIGURES["uploads"], sources)


def _role(setup: str) -> str | None:
    return SETUPS[setup].thesis_role if setup in SETUPS else None


def make_figures(stats_dir: str | Path, out_dir: str | Path) -> list[dict]:
    """Every figure the statistics allow; a missing experiment's figures are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    stats = StatsBundle.read(stats_dir)
    missing = stats.summary.missing
    made = []
    if "pipeline" not in missing:
        made += pipeline_figures(stats, out_dir)
    if "upload" not in missing:
        made.append(upload_figure(stats, out_dir))
    if "serving" not in missing:
        from .serving_figures import serving_figures

        made += serving_figures(stats, out_dir)
    if not stats.emulation_cells.empty:
        from .emulation_figures import emulation_figure

        made.append(emulation_figure(stats, Path(stats_dir) / "emulation_cells.csv", out_dir))
    atomic.write_json(out_dir / "index.json", {"figures": made, "missing": missing})
    log.info("%d figures -> %s (missing experiments: %s)", len(made), out_dir, missing or "none")
    return made
