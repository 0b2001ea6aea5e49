"""The shipped reference run: a study at the thesis's own scale, kept as its raw exports.

Its folder (``reference/cluster-thesis/``) holds the design it ran (``config.yaml``), the raw
exports of every run and upload cell under ``results/raw/`` exactly as collected (no datasets,
models or the notebook's own figures), the checked record and counts of its input under
``inputs/``, and ``MANIFEST.json``: the commit of the measuring code, the sittings, the machine
and the checksum of every file. ``rebuild`` makes the tidy tables, statistics, figures and PDF
again from the raw exports alone, with the code of today, so a parser or statistics fix reaches
the reference without measuring anything again.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

from . import atomic, paths
from .config import load_config, pipeline_runs, upload_cells
from .errors import InputError
from .rawdirs import FINISHED, RunDir

MANIFEST = "MANIFEST.json"
INPUTS = "inputs"
# What a run directory keeps that is no measurement: the notebook's own figures.
NOT_SHIPPED = RunDir(Path()).artifacts.name

log = logging.getLogger(__name__)


def exports(config: dict) -> tuple[list[str], list[str]]:
    """The run and upload-cell directories of a design, relative to its working directory."""
    hidden = config["model"]["hidden_layers"]
    runs = [str(Path(paths.pipeline_run(backend, c.width, hidden, c.dataset_mb, rep)).parent)
            for backend, c, rep in pipeline_runs(config)]
    cells = [str(Path(paths.upload_cell(setup, latency)).parent) for setup, latency in upload_cells(config)]
    return runs, cells


def collect(study: Path, folder: Path) -> list[str]:
    """Copy the finished runs and cells of ``study`` (and the attempts kept beside them) into
    ``folder``; return the directories copied. Unfinished ones stay behind: the next sitting
    resumes them."""
    config = load_config(folder / "config.yaml")
    runs, cells = exports(config)
    copied = []
    for relative in runs + cells:
        source = study / relative
        if not (source / FINISHED).exists():
            continue
        for directory in [source, *sorted(source.parent.glob(f"{source.name}.*-*"))]:
            target = folder / directory.relative_to(study)
            if not target.exists():
                shutil.copytree(directory, target, ignore=shutil.ignore_patterns(NOT_SHIPPED))
                copied.append(str(target.relative_to(folder)))
    for name in (paths.RAW_INTEL_LAB_CHECKED, paths.node_counts(config["data"]["mote"])):
        if (study / name).exists():
            (folder / INPUTS).mkdir(exist_ok=True)
            shutil.copy2(study / name, folder / INPUTS / Path(name).name)
    return copied


def rebuild(folder: Path, template: Path) -> Path:
    """Tidy tables, statistics, figures and the PDF of ``folder``, from its raw exports alone."""
    from .results.analysis import analyse, load_table
    from .results.figures import make_figures
    from .pipeline.tidy import tidy_pipeline
    from .results.report import write_report
    from .upload.tidy import tidy_uploads

    config = load_config(folder / "config.yaml")
    runs, cells = exports(config)
    missing = [d for d in runs + cells if not (folder / d / FINISHED).exists()]
    if missing:
        raise InputError(f"{folder}: {len(missing)} runs or cells of its design have no raw exports yet, "
                                f"first {missing[0]}")
    tidy_pipeline([folder / d for d in runs], folder / paths.PIPELINE_STEPS, folder / paths.PIPELINE_RUNS)
    tidy_uploads([folder / d for d in cells], folder / paths.UPLOADS, folder / paths.UPLOAD_CELLS)
    bundle = analyse(load_table(folder / paths.PIPELINE_STEPS), load_table(folder / paths.PIPELINE_RUNS),
                     load_table(folder / paths.UPLOADS), load_table(folder / paths.UPLOAD_CELLS),
                     margin=config["analysis"]["equivalence_margin"], little=config["analysis"]["little_change_points"])
    bundle.write(folder / paths.STATS_DIR)
    make_figures(folder / paths.STATS_DIR, folder / paths.FIGURES_DIR)
    mote = config["data"]["mote"]
    report = write_report(folder / paths.STATS_DIR, folder / paths.FIGURES_DIR, folder / "config.yaml", template,
                        folder / paths.REPORT, data_files=[folder / INPUTS / Path(paths.RAW_INTEL_LAB_CHECKED).name],
                        counts_path=folder / INPUTS / Path(paths.node_counts(mote)).name,
                        manifest_path=folder / MANIFEST)
    if (folder / MANIFEST).exists():
        _refresh_checksums(folder)
    return report


def _files(folder: Path) -> dict:
    from .data.download import sha256_of

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {"bytes": sum(p.stat().st_size for p in files),
            "files": {str(p.relative_to(folder)): sha256_of(p) for p in files}}


def _refresh_checksums(folder: Path) -> None:
    """After a rebuild only what is derived from the raw exports changed: the manifest's checksums
    follow, and what it says of the measurement (commit, sittings, machine, versions) stays."""
    manifest = json.loads((folder / MANIFEST).read_text())
    atomic.write_json(folder / MANIFEST, manifest | _files(folder))


def wall_time(folder: Path, design: dict) -> dict[str, dict[str, float | None]]:
    """Per backend and upload setup: the wall time the reference measured, and what ``design``
    would take on the same machine, predicted from it (``progress.design_seconds``)."""
    from .progress import Timings, design_seconds, measured_seconds

    timings = Timings(load_config(folder / "config.yaml"), folder)
    return {"measured": measured_seconds(timings), "design": design_seconds(design, timings)}


def wall_time_table(times: dict[str, dict[str, float | None]], design_name: str) -> str:
    """``wall_time``'s answer as a plain-text table, with a total line."""
    from .progress import hours_minutes

    def shown(seconds: float | None) -> str:
        return "-" if seconds is None else hours_minutes(seconds)

    keys = sorted(times["measured"].keys() | times["design"].keys())
    lines = [f"{'':20} {'measured':>14} {design_name:>28}"]
    lines += [f"{key:20} {shown(times['measured'].get(key)):>14} {shown(times['design'].get(key)):>28}" for key in keys]
    design = list(times["design"].values())
    lines.append(f"{'all':20} {shown(sum(times['measured'].values())):>14} "
                 f"{shown(None if None in design else sum(design)):>28}")
    return "\n".join(lines)


def _command(*args: str) -> str:
    """The first line a tool prints about its version; "unknown" where it is missing or fails."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True)
    except OSError:
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "unknown"


def write_manifest(folder: Path, commit: str, sittings: list[str]) -> dict:
    """``MANIFEST.json``: the measuring commit, the sittings, the machine, and every file's checksum."""
    from .cluster.build import recorded_binary
    from .progress import Timings, measured_seconds
    from .cluster.node import Layout
    from .results.report.provenance import machine, versions

    manifest = {
        "measured_with_commit": commit, "sittings": sittings,
        "machine": machine(), "versions": versions(),
        "tools": {"kernel": _command("uname", "-r"), "containerd": _command("containerd", "--version"),
                  "runc": _command("runc", "--version"), "prometheus": _command("prometheus", "--version"),
                  "kube-apiserver": _command(str(recorded_binary(Layout.default().root, "kube-apiserver")), "--version")},
        "measured_wall_s": measured_seconds(Timings(load_config(folder / "config.yaml"), folder)),
    } | _files(folder)
    atomic.write_json(folder / MANIFEST, manifest)
    return manifest
