"""How measuring a reference's uploads and serving again on the thesis's topology moved each cell:
the ratio of the two measures' medians, per cell, against the added latency."""

from __future__ import annotations

from pathlib import Path

from .bundle import StatsBundle
from .figure_registry import FIGURES
from .plotting import save_figure

SETUP_STYLES = {"vm": ("-", "o"), "pod": ("--", "s")}   # line and marker per setup; others dotted


def emulation_figure(stats: StatsBundle, source: Path, out_dir: Path) -> dict:
    """One panel per experiment and update method; a colour per model size, a line style per setup."""
    import matplotlib.pyplot as plt

    cells = stats.emulation_cells
    cells = cells.assign(panel=cells["experiment"] + cells["method"].map(lambda m: f" {m}" if isinstance(m, str) else ""))
    panels = sorted(cells["panel"].unique())
    latencies = sorted(cells["latency_ms"].unique())
    colors = {size: f"C{i}" for i, size in enumerate(sorted(cells["model_mb"].unique()))}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.6), squeeze=False, sharey=True)
    for ax, panel in zip(axes.flat, panels):
        for (setup, size), group in cells[cells["panel"] == panel].groupby(["setup", "model_mb"]):
            linestyle, marker = SETUP_STYLES.get(setup, (":", "^"))
            group = group.sort_values("latency_ms")
            ax.plot([latencies.index(latency) for latency in group["latency_ms"]], group["ratio"], color=colors[size],
                    linestyle=linestyle, marker=marker, label=f"{setup} {size:g} MB")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(latencies)), [f"{latency:g}" for latency in latencies])
        ax.set(title=panel, xlabel="added latency [ms]")
    axes.flat[0].set_ylabel("topology / first measure (medians)")
    axes.flat[-1].legend(fontsize=6, ncol=2)
    return save_figure(fig, out_dir, FIGURES["emulation"], [str(source)])
