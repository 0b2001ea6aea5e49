"""The serving experiment's figures (beyond the thesis): time to serve by size and latency, its
parts stacked, and the requests' latency during an update against steady serving."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..rawdirs import ServingCellDir
from ..records import stored
from .bundle import StatsBundle
from .figure_registry import FIGURES
from .plotting import errorbar, save_figure
from .serving_analysis import GROUP, PARTS

PART_COLORS = ("C0", "C1", "C2", "C4", "C3", "C7")


def _sources(stats: StatsBundle) -> list[str]:
    cells = {ServingCellDir(Path(cell)) for cell in stats.serving_requests.get("cell", [])}
    return sorted(str(stored(path)) for cell in cells for path in (cell.updates, cell.requests))


MARKERS = "osD^v"   # one per update method


def _label(row) -> str:
    return f"{row.setup} {row.method} {row.latency_ms:g} ms {row.model_mb:g} MB"


def serving_figures(stats: StatsBundle, out_dir: Path) -> list[dict]:
    return [_time_figure(stats, out_dir), _parts_figure(stats, out_dir), _latency_figure(stats, out_dir)]


def _time_figure(stats: StatsBundle, out_dir: Path) -> dict:
    import matplotlib.pyplot as plt

    summary = stats.serving_summary
    latencies = sorted(summary["latency_ms"].unique())
    columns = min(4, len(latencies))
    rows = math.ceil(len(latencies) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.4 * rows), squeeze=False)
    setups, methods = sorted(summary["setup"].unique()), sorted(summary["method"].unique())
    for ax, latency in zip(axes.flat, latencies):
        for (setup, method), group in summary[summary["latency_ms"] == latency].groupby(["setup", "method"]):
            errorbar(ax, group, "model_mb", f"{setup} {method}", f"C{setups.index(setup)}",
                     MARKERS[methods.index(method) % len(MARKERS)])
        ax.set(title=f"{latency:g} ms", xlabel="model [MB]", ylabel="time to serve [s]")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(latencies):]:
        ax.set_visible(False)
    return save_figure(fig, out_dir, FIGURES["serving_time"], _sources(stats))


def _parts_figure(stats: StatsBundle, out_dir: Path) -> dict:
    import matplotlib.pyplot as plt

    parts = stats.serving_parts.sort_values(GROUP)
    setups = sorted(parts["setup"].unique())
    fig, axes = plt.subplots(1, len(setups), figsize=(max(4.0, 0.45 * len(parts) + 2), 4.2), squeeze=False)
    for ax, setup in zip(axes.flat, setups):
        frame = parts[parts["setup"] == setup]
        bars = pd.DataFrame({part.removesuffix("_s"): frame[part].fillna(0).to_numpy() for part in PARTS},
                            index=[_label(row).removeprefix(f"{setup} ") for row in frame.itertuples()])
        bars.plot.bar(stacked=True, ax=ax, width=0.7, rot=60, color=list(PART_COLORS))
        ax.set(title=setup, xlabel="", ylabel="mean seconds per update")
        ax.legend(fontsize=7)
    return save_figure(fig, out_dir, FIGURES["serving_parts"], _sources(stats))


def _latency_figure(stats: StatsBundle, out_dir: Path) -> dict:
    import matplotlib.pyplot as plt

    latency = stats.serving_latency.sort_values(GROUP)
    labels = sorted({_label(row) for row in latency.itertuples()})
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(labels) + 2), 4.2))
    width = 0.4
    for offset, (phase, color) in enumerate((("steady", "C0"), ("during an update", "C3"))):
        frame = latency[latency["phase"] == phase]
        by_label = {_label(row): row for row in frame.itertuples()}
        xs = [i + (offset - 0.5) * width for i, label in enumerate(labels) if label in by_label]
        rows = [by_label[label] for label in labels if label in by_label]
        ax.bar(xs, [1000 * r.median_s for r in rows], width, color=color, label=f"{phase}: median")
        ax.scatter(xs, [1000 * r.p95_s for r in rows], color=color, marker="_", s=200, label=f"{phase}: 95th pct")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel="request latency [ms]", yscale="log")
    ax.legend(fontsize=7)
    return save_figure(fig, out_dir, FIGURES["serving_latency"], _sources(stats))
