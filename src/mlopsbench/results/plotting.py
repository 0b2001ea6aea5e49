"""What every figure shares: error bars that show the interval the tables read, a size axis whose
ticks never collide, and saving (vector PDF and PNG, with a JSON naming the raw exports it rests on)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import atomic
from .figure_registry import Figure


def errorbar(ax, frame: pd.DataFrame, x: str, label: str, color: str, marker: str = "o", linestyle: str = "-",
             show_n: bool = True, filled: bool | None = None) -> None:
    frame = frame.sort_values(x)
    # The point and bars the tables read: the mean and its t-interval, or the median and its
    # interval, or the mean and the range of a few values (stats.summarize).
    center = frame["median"].where(frame["read"] == "median", frame["mean"])
    low, high = (center - frame["low"]).fillna(0).clip(lower=0), (frame["high"] - center).fillna(0).clip(lower=0)
    ax.errorbar(frame[x], center, yerr=[low, high], label=label, color=color, marker=marker, capsize=3,
                linestyle=linestyle, mfc=color if (linestyle == "-" if filled is None else filled) else "white")
    if show_n:
        for xi, yi, n in zip(frame[x], center, frame["n"]):
            ax.annotate(f"{int(n)}", (xi, yi), textcoords="offset points", xytext=(4, -9), fontsize=6, color=color)


def size_axis(ax, values, labels=None) -> None:
    """A log axis ticked at the values drawn, labelled plainly: no minor labels to collide."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    values = sorted(set(values))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.set_xticklabels(labels or [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_figure(fig, out_dir: Path, figure: Figure, sources: list[str]) -> dict:
    import matplotlib.pyplot as plt

    if not fig.subplotpars.right < 0.9:  # a figure with an outside legend keeps its margin
        fig.tight_layout()
    for suffix in ("pdf", "png"):
        with atomic.atomic_path(out_dir / f"{figure.name}.{suffix}") as tmp:
            # no creation date: the same data draws the same file, so a rebuild changes only what changed
            fig.savefig(tmp, format=suffix, dpi=150, metadata={"CreationDate": None} if suffix == "pdf" else None)
    plt.close(fig)
    info = {"name": figure.name, "caption": figure.caption, "sources": sources}
    atomic.write_json(out_dir / f"{figure.name}.json", info)
    return info
