"""How far a study has come, and about how long the rest will take, from its raw exports.

A run or upload cell counts as done once its ``run.json`` exists. The time left is estimated
from the ones done: a run that has not been measured takes what runs of the same
configuration took on any backend, else what the finished runs took per MB of dataset;
an upload cell takes what the finished cells of its latency took, else their mean. The
estimate says how many finished runs and cells it rests on.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

from . import paths
from .config import pipeline_runs, upload_cells
from .rawdirs import CellDir, RunDir


def _run_seconds(run_dir: Path) -> float | None:
    """A finished run's wall time: its first event to its ``run.json``."""
    try:
        raw = RunDir(run_dir)
        first = json.loads(raw.events.open().readline())
        return json.loads(raw.finished.read_text())["finished"] - first["t"]
    except (OSError, ValueError, KeyError):
        return None


def _cell_seconds(cell_dir: Path) -> float | None:
    """A finished upload cell's wall time: its first upload's start to its ``run.json``."""
    try:
        raw = CellDir(cell_dir)
        first = json.loads(raw.records.open().readline())
        return raw.finished.stat().st_mtime - first["started"]
    except (OSError, ValueError, KeyError):
        return None


def estimate(config: dict, study: Path) -> dict:
    """Runs and cells done out of the design's, and the seconds of measuring left (None until the
    estimate has something to rest on)."""
    hidden = config["model"]["hidden_layers"]
    runs = {study / Path(paths.pipeline_run(backend, c.width, hidden, c.dataset_mb, rep)).parent: c
            for backend, c, rep in pipeline_runs(config)}
    cells = {study / Path(paths.upload_cell(setup, latency)).parent: latency
             for setup, latency in upload_cells(config)}
    run_took = {d: s for d in runs if (s := _run_seconds(d)) is not None}
    cell_took = {d: s for d in cells if (s := _cell_seconds(d)) is not None}
    to_run = [d for d in runs if not RunDir(d).finished.exists()]
    to_upload = [d for d in cells if not CellDir(d).finished.exists()]
    if (to_run and not run_took) or (to_upload and not cell_took):
        left = None
    else:
        same = {c: [s for d, s in run_took.items() if runs[d] == c] for c in set(runs.values())}
        per_mb = mean(s / runs[d].dataset_mb for d, s in run_took.items()) if run_took else 0.0
        left = sum(mean(same[runs[d]]) if same[runs[d]] else per_mb * runs[d].dataset_mb for d in to_run)
        at = {latency: [s for d, s in cell_took.items() if cells[d] == latency] for latency in set(cells.values())}
        cell_mean = mean(cell_took.values()) if cell_took else 0.0
        left += sum(mean(at[cells[d]]) if at[cells[d]] else cell_mean for d in to_upload)
    return {"runs": len(runs), "runs_done": len(runs) - len(to_run), "cells": len(cells),
            "cells_done": len(cells) - len(to_upload), "seconds_left": left, "based_on": len(run_took) + len(cell_took)}


def describe(found: dict) -> str:
    text = (f"{found['runs_done']} of {found['runs']} pipeline runs and {found['cells_done']} of {found['cells']} "
            f"upload cells done")
    if found["runs_done"] == found["runs"] and found["cells_done"] == found["cells"]:
        return text + "; nothing left to measure"
    if found["seconds_left"] is None:
        return text + "; no estimate of the rest until a run and an upload cell have finished"
    hours, minutes = divmod(round(found["seconds_left"] / 60), 60)
    return text + f"; about {hours} h {minutes:02d} min of measuring left (from {found['based_on']} finished)"
