"""The one place that names the files the stages share (docs/design.md, the data contract).

Paths are relative to the study's working directory, so Snakemake rules, DVC
stages and the command line all agree on them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

RAW_INTEL_LAB = "data/raw/intel_lab/data.txt.gz"
# The record that the raw file was checked against its pin: the download job's output, so
# that the workflow never deletes the raw file itself.
RAW_INTEL_LAB_CHECKED = "data/raw/intel_lab/data.checked.json"
NODE_CSV = "data/interim/node{mote}.csv"
NODE_COUNTS = "data/interim/node{mote}_counts.json"
DATASET = "data/datasets/intel{mote}_{size}MB.csv"
REGRESSION_MODEL = "data/models/regression/dnn_{arch}.keras"
UPLOAD_MODEL = "data/models/upload/model_{size}MB.keras"
# A block: one configuration and repetition, every backend back to back; a run per backend inside it.
PIPELINE_RAW = "results/raw/pipeline"
PIPELINE_BLOCK = PIPELINE_RAW + "/{arch}_{size}MB/{rep}/block.json"
PIPELINE_RUN = PIPELINE_RAW + "/{arch}_{size}MB/{rep}/{backend}/run.json"
PIPELINE_STEPS = "results/tidy/pipeline_steps.parquet"
PIPELINE_RUNS = "results/tidy/pipeline_runs.parquet"
UPLOAD_CELL = "results/raw/upload/{setup}/{latency}ms/run.json"
UPLOADS = "results/tidy/uploads.parquet"
UPLOAD_CELLS = "results/tidy/upload_cells.parquet"
# The serving experiment: every version of a model size (v1 serves first; each later one is an update).
SERVING_VERSION = "data/models/serving/{size}MB/v{version}.keras"
SERVING_CELL = "results/raw/serving/{setup}/{method}/{latency}ms/{size}MB/run.json"
SERVING_UPDATES = "results/tidy/serving_updates.parquet"
SERVING_REQUESTS = "results/tidy/serving_requests.parquet"
STATS_DIR = "results/stats"
FIGURES_DIR = "results/figures"
REPORT = "results/report/report.pdf"
# Whether the study started the local cluster (then it stops it at the end).
CLUSTER_HOLD = "logs/cluster/hold.json"


def format_size(size_mb: float) -> str:
    """Render a size for a file name: 2 -> '2', 0.5 -> '0.5' (never '2.0')."""
    return f"{size_mb:g}"


def architecture_name(width: int, hidden_layers: int) -> str:
    """Name a dense architecture the way the thesis does: '8x8x8'."""
    return "x".join([str(width)] * hidden_layers)


def configuration_name(width: int, hidden_layers: int, size_mb: float) -> str:
    """A pipeline configuration as run directories name it: '8x8x8_2MB'."""
    return f"{architecture_name(width, hidden_layers)}_{format_size(size_mb)}MB"


def node_csv(mote: int) -> str:
    return NODE_CSV.format(mote=mote)


def node_counts(mote: int) -> str:
    return NODE_COUNTS.format(mote=mote)


def dataset(mote: int, size_mb: float) -> str:
    return DATASET.format(mote=mote, size=format_size(size_mb))


def regression_model(width: int, hidden_layers: int) -> str:
    return REGRESSION_MODEL.format(arch=architecture_name(width, hidden_layers))


def upload_model(size_mb: float) -> str:
    return UPLOAD_MODEL.format(size=format_size(size_mb))


def pipeline_block(width: int, hidden_layers: int, size_mb: float, rep: int) -> str:
    return PIPELINE_BLOCK.format(arch=architecture_name(width, hidden_layers), size=format_size(size_mb), rep=rep)


def pipeline_run(backend: str, width: int, hidden_layers: int, size_mb: float, rep: int) -> str:
    return PIPELINE_RUN.format(backend=backend, arch=architecture_name(width, hidden_layers),
                               size=format_size(size_mb), rep=rep)


def upload_cell(setup: str, latency_ms: float) -> str:
    return UPLOAD_CELL.format(setup=setup, latency=format_size(latency_ms))


def serving_versions_dir(size_mb: float) -> str:
    return str(PurePosixPath(SERVING_VERSION.format(size=format_size(size_mb), version=1)).parent)


def serving_versions(size_mb: float, updates: int) -> list[str]:
    """The version files of one model size: v1 and one per update."""
    return [SERVING_VERSION.format(size=format_size(size_mb), version=n) for n in range(1, updates + 2)]


def serving_cell(setup: str, method: str, latency_ms: float, size_mb: float) -> str:
    return SERVING_CELL.format(setup=setup, method=method, latency=format_size(latency_ms), size=format_size(size_mb))


def sidecar(path: str) -> str:
    """The JSON that describes an artifact sits beside it: x.keras -> x.json."""
    stem, _, _ = path.rpartition(".")
    return f"{stem}.json"
