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

import gzip
import json
import logging
import shutil
import subprocess
from pathlib import Path

from . import atomic, paths
from .config import load_config, pipeline_blocks, pipeline_runs, upload_cells
from .errors import InputError
from .rawdirs import FINISHED, RunDir, ServingCellDir
from .serving.plan import serving_cell_files, serving_cells

MANIFEST = "MANIFEST.json"
# The serving experiment's two update methods are measured apart: each may be pinned to its own commit.
EXPERIMENTS = ("pipeline", "upload", "serving-in-place", "serving-rollout")
INPUTS = "inputs"
# The benchmarks whose runs a reference keeps (their --keep) in results/raw/<name>, tidied into
# results/tidy/<name>_steps.parquet and _runs.parquet: the kubelet ablation (bench_cluster.py
# --ablation) and the pod's candidate causes of a slower dnnfit (bench_dnnfit.py).
ABLATION, DNNFIT_CAUSES = "ablation", "dnnfit_causes"
# Where a reference keeps its uploads and serving measured again on the thesis's core and edge nodes,
# with the latency in the kernel's path: a design of its own (its config.yaml) and its raw exports.
TOPOLOGY = "topology"
# What a run directory keeps that is no measurement: the notebook's own figures, and the data its
# steps handed each other (an unfinished attempt keeps it).
NOT_SHIPPED = (RunDir(Path()).artifacts.name, RunDir(Path()).marshal.name)

log = logging.getLogger(__name__)


def exports(config: dict) -> tuple[list[str], list[str], list[str]]:
    """The run, upload-cell and serving-cell directories of a design, relative to its working directory."""
    hidden = config["model"]["hidden_layers"]
    runs = [str(Path(paths.pipeline_run(backend, c.width, hidden, c.dataset_mb, rep)).parent)
            for backend, c, rep in pipeline_runs(config)]
    cells = [str(Path(paths.upload_cell(setup, latency)).parent) for setup, latency in upload_cells(config)]
    serving = [str(Path(cell).parent) for cell in serving_cell_files(config)]
    return runs, cells, serving


def block_records(config: dict) -> list[str]:
    """The record of every block of a design (written once all of the block's runs finished)."""
    hidden = config["model"]["hidden_layers"]
    return [paths.pipeline_block(c.width, hidden, c.dataset_mb, rep) for c, rep, _ in pipeline_blocks(config)]


def _pack(cell: Path) -> None:
    """A serving cell's request records and logs (and any earlier attempt's it keeps), gzipped: a line
    per request at the client's rate, and the server logs one too; they are most of the reference's
    weight. Every reader of the records takes the ``.gz`` copy; the logs are for people (zless)."""
    for path in [*cell.rglob(ServingCellDir(cell).requests.name), *cell.rglob("*.log")]:
        atomic.write_bytes(path.with_name(path.name + ".gz"), gzip.compress(path.read_bytes(), mtime=0))
        path.unlink()


def collect(study: Path, folder: Path) -> list[str]:
    """Copy the finished runs and cells of ``study`` (and the attempts kept beside them) into
    ``folder``; return the directories copied. Unfinished ones stay behind: the next sitting
    resumes them."""
    config = load_config(folder / "config.yaml")
    runs, cells, serving = exports(config)
    copied = []
    for relative in runs + cells + serving:
        source = study / relative
        if not (source / FINISHED).exists():
            continue
        for directory in [source, *sorted(source.parent.glob(f"{source.name}.*-*"))]:
            target = folder / directory.relative_to(study)
            if not target.exists():
                shutil.copytree(directory, target, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
                if relative in serving:
                    _pack(target)
                copied.append(str(target.relative_to(folder)))
    for record in block_records(config):
        if (study / record).exists() and not (folder / record).exists():
            shutil.copy2(study / record, folder / record)
            copied.append(record)
    for name in (paths.RAW_INTEL_LAB_CHECKED, paths.node_counts(config["data"]["mote"])):
        if (study / name).exists():
            (folder / INPUTS).mkdir(exist_ok=True)
            shutil.copy2(study / name, folder / INPUTS / Path(name).name)
    return copied


def rebuild(folder: Path, template: Path) -> Path:
    """Tidy tables, statistics, figures and the PDF of ``folder``, from its raw exports alone; where
    it keeps a ``topology`` part, that part's tables and statistics too, set beside its own."""
    from .results.ablation import ablation as ablate
    from .results.analysis import analyse
    from .results.dnnfit_causes import dnnfit_causes, dnnfit_seconds
    from .results.emulation import compare, shared_cells
    from .results.figures import make_figures
    from .results.report import write_report

    config = load_config(folder / "config.yaml")
    bundle, measured = _analysed(folder, config)
    ablation = _kept_runs(folder, ABLATION)
    if ablation is not None:
        bundle.pipeline_ablation, bundle.pipeline_ablation_parts = ablate(*ablation)
    causes = _kept_runs(folder, DNNFIT_CAUSES)
    if causes is not None:
        bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(*causes))
    part = folder / TOPOLOGY
    if _uploads_measured(part):
        second, measured_again = _analysed(part, load_config(part / "config.yaml"), pipeline=False)
        second.write(part / paths.STATS_DIR)
        # The first measure judged again on the cells the second has: a claim pooled over cells (S1,
        # S2) would otherwise read setups and cells the second never measured.
        alike = analyse(None, None, **shared_cells(measured, measured_again),
                        margin=config["analysis"]["equivalence_margin"], little=config["analysis"]["little_change_points"])
        bundle.emulation_cells, bundle.emulation_claims = compare(alike, second)
        bundle.emulation_upload_cells = second.upload_cells
        bundle.summary.compared_emulations = [bundle.summary.emulations, second.summary.emulations]
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


def _analysed(folder: Path, config: dict, pipeline: bool = True):
    """The tidy tables of ``folder``'s raw exports (written beside them) and their statistics, with the
    upload and serving tables as read (``_measured``); the pipeline's left out where ``pipeline`` is
    false (a part that measured only uploads and serving)."""
    from .pipeline.tidy import tidy_pipeline
    from .results.analysis import analyse, load_table
    from .serving.tidy import tidy_serving
    from .upload.tidy import tidy_uploads

    runs, cells, serving = exports(config)
    runs = runs if pipeline else []
    missing = [d for d in cells if not (folder / d / FINISHED).exists()]
    if missing:
        raise InputError(f"{folder}: {len(missing)} upload cells of its design have no raw exports yet, "
                         f"first {missing[0]}")
    # The pipeline and serving experiments are measured in sittings of their own: what finished is
    # shown, and the report says how much of the design is still to come.
    finished_runs, finished_cells = _finished(folder, runs, "pipeline runs"), _finished(folder, serving, "serving cells")
    unmeasured = {what: len(design) - len(done) for what, design, done in
                  (("pipeline runs", runs, finished_runs), ("serving cells", serving, finished_cells))
                  if len(done) < len(design)}
    if pipeline:
        tidy_pipeline([folder / d for d in finished_runs], folder / paths.PIPELINE_STEPS, folder / paths.PIPELINE_RUNS)
    tidy_uploads([folder / d for d in cells], folder / paths.UPLOADS, folder / paths.UPLOAD_CELLS)
    tidy_serving([folder / d for d in finished_cells], folder / paths.SERVING_UPDATES, folder / paths.SERVING_REQUESTS)
    steps, runs_table = (load_table(folder / paths.PIPELINE_STEPS), load_table(folder / paths.PIPELINE_RUNS)) \
        if pipeline else (None, None)
    measured = _measured(folder)
    bundle = analyse(steps, runs_table, **measured, margin=config["analysis"]["equivalence_margin"],
                     little=config["analysis"]["little_change_points"])
    bundle.summary.unmeasured = unmeasured
    return bundle, measured


def _measured(folder: Path) -> dict:
    """The upload and serving tidy tables of ``folder`` (None where absent), named as ``analyse`` takes them."""
    from .results.analysis import load_table

    return {"uploads": load_table(folder / paths.UPLOADS), "cells": load_table(folder / paths.UPLOAD_CELLS),
            "serving_updates": load_table(folder / paths.SERVING_UPDATES),
            "serving_requests": load_table(folder / paths.SERVING_REQUESTS)}


def _uploads_measured(part: Path) -> bool:
    """Whether ``part`` (a reference's topology part) has a design and all its upload cells; a part
    being measured is left out of the report until then, with a warning."""
    if not (part / "config.yaml").exists():
        return False
    cells = exports(load_config(part / "config.yaml"))[1]
    done = _finished(part, cells, "upload cells")
    return len(done) == len(cells)


def _kept_runs(folder: Path, benchmark: str):
    """The runs of ``benchmark`` the folder keeps, tidied beside the study's tables; None where it
    keeps none."""
    from .pipeline.tidy import tidy_pipeline

    found = sorted(d.parent for d in (folder / "results/raw" / benchmark).glob(f"**/{FINISHED}"))
    if not found:
        return None
    tidy = folder / "results/tidy"
    return tidy_pipeline(found, tidy / f"{benchmark}_steps.parquet", tidy / f"{benchmark}_runs.parquet")


def _finished(folder: Path, design: list[str], what: str) -> list[str]:
    """The directories of ``design`` that finished; a warning counts the rest."""
    done = [d for d in design if (folder / d / FINISHED).exists()]
    if len(done) < len(design):
        log.warning("%s: %d of %d %s have raw exports; the rest are still to be measured", folder, len(done),
                    len(design), what)
    return done


def _files(folder: Path) -> dict:
    from .checksums import sha256_of

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


def compare_block(folder: Path, study: Path, block: str):
    """A block measured again elsewhere (``study``'s ``results/raw/pipeline/<block>/``) against the
    reference's blocks of the same configuration: per backend, each step's cell time and the run's
    wall time, calibrated to the reference's median machine speed, beside the reference's range."""
    import pandas as pd

    from .pipeline.backends import primary_clocks
    from .pipeline.tidy import read_run
    from .results.blocks import keras_step

    configuration = block.split("/")[0]
    runs = pd.read_parquet(folder / paths.PIPELINE_RUNS)
    runs = runs[runs["status"] == "succeeded"]
    if runs.empty or "block" not in runs:
        raise InputError(f"{folder}: no calibrated blocks to compare with")
    median = keras_step(runs).median()
    mine = runs[runs["block"].fillna("").str.startswith(f"{configuration}/")].assign(
        factor=lambda f: median / keras_step(f))
    steps = pd.read_parquet(folder / paths.PIPELINE_STEPS)
    steps = steps[steps["timestamp_source"].isin(primary_clocks())].merge(mine[["run_id", "factor"]], on="run_id")
    raw = study / paths.PIPELINE_RAW / block
    again = [read_run(d) for d in sorted(raw.iterdir()) if d.is_dir() and (d / FINISHED).exists()] \
        if raw.is_dir() else []
    if not again:
        raise InputError(f"{raw}: no finished run of block {block} to compare")
    rows = []
    for step_rows, run in again:
        factor = median / keras_step(pd.DataFrame([run])).iloc[0]
        ours = {r["step"]: r["cell_seconds"] for r in step_rows if r["timestamp_source"] in primary_clocks()}
        theirs = steps[steps["backend"] == run["backend"]]
        for what, new, reference_values in (
                [("end to end", run["wall_seconds"],
                  mine.loc[mine["backend"] == run["backend"], "wall_seconds"] * mine["factor"])]
                + [(step, seconds, theirs.loc[theirs["step"] == step, "cell_seconds"] * theirs["factor"])
                   for step, seconds in ours.items() if seconds is not None]):
            values = reference_values.dropna()
            rows.append({"backend": run["backend"], "what": what, "n": len(values),
                         "reference_low": values.min(), "reference_high": values.max(), "measured": new,
                         "calibrated": new * factor,
                         "within": bool(len(values)) and values.min() <= new * factor <= values.max()})
    return pd.DataFrame(rows)


def compare_table(rows, block: str) -> str:
    """``compare_block``'s answer as plain text: per backend and step, within the reference's range or not."""
    lines = [f"block {block} measured again, calibrated to the reference's median speed, against the reference's "
             "blocks of its configuration (calibrated alike):",
             f"{'backend':<12}{'what':<20}{'measured s':>12}{'calibrated s':>14}{'reference range s':>22}  n"]
    for r in rows.itertuples():
        lines.append(f"{r.backend:<12}{r.what:<20}{r.measured:>12.2f}{r.calibrated:>14.2f}"
                     f"{f'{r.reference_low:.2f} - {r.reference_high:.2f}':>22}  {r.n}"
                     f"{'' if r.within else '  outside'}")
    lines.append(f"{int(rows['within'].sum())} of {len(rows)} within the reference's range")
    return "\n".join(lines)


def _measured_before(manifest: dict) -> dict:
    """A manifest from before experiments recorded their own commit: one commit and machine for all."""
    commit = manifest.get("measured_with_commit")
    if not isinstance(commit, str):
        return {}
    recorded = {"commit": commit} | {key: manifest[key] for key in ("machine", "versions", "tools")}
    return {experiment: dict(recorded) for experiment in EXPERIMENTS}


def _command(*args: str) -> str:
    """The first line a tool prints about its version; "unknown" where it is missing or fails."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True)
    except OSError:
        return "unknown"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "unknown"


def experiment_commits(folder: Path, given: list[str]) -> dict[str, str]:
    """Each experiment of the folder's design and its measuring commit, from ``COMMIT`` (every
    experiment not named otherwise) and ``EXPERIMENT=COMMIT`` arguments; ``serving=COMMIT`` names
    both of its parts, and a part named on its own wins over that, in any order. A folder with a
    topology part has that part too (``topology=COMMIT``): its uploads and serving, measured apart."""
    methods = {method for _, method, _, _ in serving_cells(load_config(folder / "config.yaml"))}
    design = [e for e in EXPERIMENTS if not e.startswith("serving-") or e.removeprefix("serving-") in methods]
    design += [TOPOLOGY] if (folder / TOPOLOGY / "config.yaml").exists() else []
    named: dict[str, str] = {}
    pairs = [item.split("=", 1) for item in given if "=" in item]
    for name, commit in sorted(pairs, key=lambda pair: pair[0] in design):   # groups first, parts after
        parts = [e for e in design if e == name or e.startswith(f"{name}-")]
        if not parts:
            raise InputError(f"--commit {name}=...: {folder / 'config.yaml'} designs only {', '.join(design)}")
        named |= dict.fromkeys(parts, commit)
    bare = [item for item in given if "=" not in item]
    if len(bare) > 1:
        raise InputError(f"--commit: one commit for every experiment, or EXPERIMENT=COMMIT; got {', '.join(bare)}")
    missing = [e for e in design if e not in named and not bare]
    if missing:
        raise InputError(f"--commit: no commit for {', '.join(missing)}")
    return {e: named.get(e) or bare[0] for e in design}


def _provenance() -> dict:
    """This machine, the package's versions and the cluster's tools, as a measurement records them."""
    from .cluster.build import recorded_binary
    from .cluster.node import Layout
    from .results.report.provenance import machine, versions

    return {"machine": machine(), "versions": versions(),
            "tools": {"kernel": _command("uname", "-r"), "containerd": _command("containerd", "--version"),
                      "runc": _command("runc", "--version"), "prometheus": _command("prometheus", "--version"),
                      "kube-apiserver": _command(str(recorded_binary(Layout.default().root, "kube-apiserver")),
                                                 "--version")}}


def write_manifest(folder: Path, commits: dict[str, str], sittings: list[str]) -> dict:
    """``MANIFEST.json``: per experiment the commit of the measuring code and the machine it ran on,
    the sittings, and every file's checksum. An experiment already in the manifest at the same
    commit keeps what it recorded (it was measured then, perhaps elsewhere); one at a new commit
    records this machine. The top-level machine, versions and tools are the first experiment's."""
    from .progress import Timings, measured_seconds

    earlier = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).exists() else {}
    measured = earlier.get("measured") or _measured_before(earlier)
    here = None
    for experiment, commit in commits.items():
        if measured.get(experiment, {}).get("commit") != commit:
            here = here or _provenance()
            measured[experiment] = {"commit": commit} | here
    measured = {experiment: measured[experiment] for experiment in commits}
    first = next(iter(measured.values()))
    manifest = {
        "measured_with_commit": {experiment: m["commit"] for experiment, m in measured.items()},
        "measured": measured, "sittings": sittings,
        "machine": first["machine"], "versions": first["versions"], "tools": first["tools"],
        "measured_wall_s": measured_seconds(Timings(load_config(folder / "config.yaml"), folder)),
    } | _files(folder)
    atomic.write_json(folder / MANIFEST, manifest)
    return manifest
