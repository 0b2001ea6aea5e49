"""How far a study has come, and about how long the rest (or another design) will take, from its
raw exports.

A run, upload cell or serving cell counts as done once its ``run.json`` exists. Times are predicted from the
ones done: a run takes what runs of its configuration took on its backend, else on any
backend, else what the finished runs took per MB of dataset; an upload cell takes what one
upload took in the finished cells of its setup and latency, else of its latency, else in any
cell, times its number of uploads; a serving cell takes what one update took in the same cell,
else in cells of its setup and method, else in any, times its updates. The estimate says how
many finished runs and cells it rests on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import mean

from . import paths
from .config import pipeline_runs, upload_cells
from .rawdirs import CellDir, RunDir, ServingCellDir
from .records import jsonl_text
from .serving.plan import serving_cells, update_count


def _run_seconds(run_dir: Path) -> float | None:
    """A finished run's wall time: its first event to its ``run.json``."""
    try:
        raw = RunDir(run_dir)
        first = json.loads(raw.events.open().readline())
        return json.loads(raw.finished.read_text())["finished"] - first["t"]
    except (OSError, ValueError, KeyError):
        return None


def _cell_seconds(cell_dir: Path) -> float | None:
    """A finished upload cell's wall time: its first upload's start to its last upload's end (from
    the records, so a copy of the cell keeps it)."""
    raw = CellDir(cell_dir)
    if not raw.finished.exists():
        return None
    try:
        records = [json.loads(line) for line in raw.records.read_text().splitlines() if line.strip()]
        return max(r["started"] + (r["seconds"] or 0.0) for r in records) - records[0]["started"]
    except (OSError, ValueError, KeyError, IndexError):
        return None


def _serving_seconds(cell_dir: Path) -> float | None:
    """A finished serving cell's wall time: its first request's send to its last answer (from the
    records, so a copy of the cell keeps it)."""
    raw = ServingCellDir(cell_dir)
    if not raw.finished.exists():
        return None
    try:
        records = [json.loads(line) for line in jsonl_text(raw.requests).splitlines() if line.strip()]
        return max(r["sent"] + (r["seconds"] or 0.0) for r in records) - min(r["sent"] for r in records)
    except (OSError, ValueError, KeyError):
        return None


def _uploads_per_cell(config: dict) -> int:
    return config["upload"]["repetitions"] * len(config["upload"]["model_sizes_mb"])


def _runs(config: dict, study: Path) -> dict[Path, tuple]:
    """Each run directory of the design, with its (backend, configuration)."""
    hidden = config["model"]["hidden_layers"]
    return {study / Path(paths.pipeline_run(backend, c.width, hidden, c.dataset_mb, rep)).parent: (backend, c)
            for backend, c, rep in pipeline_runs(config)}


def _cells(config: dict, study: Path) -> dict[Path, tuple]:
    """Each upload cell directory of the design, with its (setup, latency)."""
    return {study / Path(paths.upload_cell(setup, latency)).parent: (setup, latency)
            for setup, latency in upload_cells(config)}


def _serving(config: dict, study: Path) -> dict[Path, tuple]:
    """Each serving cell directory of the design, with its (setup, method, latency, size)."""
    return {study / Path(paths.serving_cell(*cell)).parent: cell for cell in serving_cells(config)}


class Timings:
    """What the finished runs and cells of a study took (read once), as predictions for runs and
    cells of any design."""

    def __init__(self, config: dict, study: Path):
        self.runs, self.cells, self.serving = _runs(config, study), _cells(config, study), _serving(config, study)
        self.run_took = {d: s for d in self.runs if (s := _run_seconds(d)) is not None}
        self.cell_took = {d: s for d in self.cells if (s := _cell_seconds(d)) is not None}
        self.serving_took = {d: s for d in self.serving if (s := _serving_seconds(d)) is not None}
        self.uploads_per_cell, self.updates_per_cell = _uploads_per_cell(config), update_count(config)

    @property
    def based_on(self) -> int:
        return len(self.run_took) + len(self.cell_took) + len(self.serving_took)

    def run(self, backend: str, configuration) -> float | None:
        same_backend = [s for d, s in self.run_took.items() if self.runs[d] == (backend, configuration)]
        same = [s for d, s in self.run_took.items() if self.runs[d][1] == configuration]
        if same_backend or same:
            return mean(same_backend or same)
        if not self.run_took:
            return None
        return mean(s / self.runs[d][1].dataset_mb for d, s in self.run_took.items()) * configuration.dataset_mb

    def cell(self, setup: str, latency: float, uploads: int) -> float | None:
        same_setup = [s for d, s in self.cell_took.items() if self.cells[d] == (setup, latency)]
        same = [s for d, s in self.cell_took.items() if self.cells[d][1] == latency]
        pool = same_setup or same or list(self.cell_took.values())
        return mean(pool) / self.uploads_per_cell * uploads if pool else None

    def serving_cell(self, cell: tuple, updates: int) -> float | None:
        """What one update took in the same cell, else in cells of its setup and method, else in any."""
        same = [s for d, s in self.serving_took.items() if self.serving[d] == cell]
        alike = [s for d, s in self.serving_took.items() if self.serving[d][:2] == cell[:2]]
        pool = same or alike or list(self.serving_took.values())
        return mean(pool) / self.updates_per_cell * updates if pool else None


def estimate(config: dict, study: Path) -> dict:
    """Runs and cells done out of the design's, and the seconds of measuring left (None until the
    estimate has something to rest on)."""
    timings = Timings(config, study)
    to_run = [key for d, key in timings.runs.items() if not RunDir(d).finished.exists()]
    to_upload = [key for d, key in timings.cells.items() if not CellDir(d).finished.exists()]
    to_serve = [cell for d, cell in timings.serving.items() if not ServingCellDir(d).finished.exists()]
    times = [timings.run(*key) for key in to_run]
    times += [timings.cell(*key, _uploads_per_cell(config)) for key in to_upload]
    # The serving cells come last in a study: until one has finished, the rest is estimated without them.
    serving = [timings.serving_cell(cell, update_count(config)) for cell in to_serve]
    if None not in serving:
        times += serving
    return {"runs": len(timings.runs), "runs_done": len(timings.runs) - len(to_run), "cells": len(timings.cells),
            "cells_done": len(timings.cells) - len(to_upload), "serving": len(timings.serving),
            "serving_done": len(timings.serving) - len(to_serve), "serving_estimated": None not in serving,
            "seconds_left": None if None in times else sum(times), "based_on": timings.based_on}


def measured_seconds(timings: Timings) -> dict[str, float]:
    """The wall time the finished runs took per backend ("pipeline <backend>") and the finished
    upload cells per setup ("upload <setup>"), in seconds."""
    totals = defaultdict(float)
    for d, seconds in timings.run_took.items():
        totals[f"pipeline {timings.runs[d][0]}"] += seconds
    for d, seconds in timings.cell_took.items():
        totals[f"upload {timings.cells[d][0]}"] += seconds
    for d, seconds in timings.serving_took.items():
        totals[f"serving {timings.serving[d][0]}"] += seconds
    return dict(totals)


def _add(totals: dict, key: str, seconds: float | None) -> None:
    """Add to a total that stays None once any of its parts has no prediction."""
    so_far = totals.get(key, 0.0)
    totals[key] = None if seconds is None or so_far is None else so_far + seconds


def design_seconds(design: dict, timings: Timings) -> dict[str, float | None]:
    """Another design's wall time per backend and upload setup, predicted from what the finished
    runs and cells of a study took; None where nothing predicts it."""
    totals = {}
    for backend, configuration, _ in pipeline_runs(design):
        _add(totals, f"pipeline {backend}", timings.run(backend, configuration))
    for setup, latency in upload_cells(design):
        _add(totals, f"upload {setup}", timings.cell(setup, latency, _uploads_per_cell(design)))
    for cell in serving_cells(design):
        _add(totals, f"serving {cell[0]}", timings.serving_cell(cell, update_count(design)))
    return totals


def hours_minutes(seconds: float) -> str:
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def describe(found: dict) -> str:
    serving = f", {found['serving_done']} of {found['serving']} serving cells" if found["serving"] else ""
    text = (f"{found['runs_done']} of {found['runs']} pipeline runs{serving} and {found['cells_done']} of "
            f"{found['cells']} upload cells done")
    if (found["runs_done"], found["cells_done"], found["serving_done"]) == (found["runs"], found["cells"],
                                                                            found["serving"]):
        return text + "; nothing left to measure"
    if found["seconds_left"] is None:
        return text + "; no estimate of the rest until a run and an upload cell have finished"
    left = hours_minutes(found["seconds_left"])
    unknown = "" if found["serving_estimated"] else ", not counting the serving cells until one has finished"
    return text + f"; about {left} of measuring left (from {found['based_on']} finished{unknown})"
