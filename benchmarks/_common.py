"""What the benchmarks share: a dataset in the published format, and one pipeline run."""

from __future__ import annotations

from pathlib import Path

from mlopsbench import paths
from mlopsbench.data.datasets import build_dataset
from mlopsbench.data.intel_lab import filter_mote
from mlopsbench.data.synthetic import write_published_file
from mlopsbench.pipeline.backends import backend
from mlopsbench.pipeline.run import RunSpec
from mlopsbench.pipeline.tidy import read_run
from mlopsbench.records import RunIdentity

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks/intel54_pipeline.ipynb"


def make_dataset(folder: Path, size_mb: float, lines: int = 50_000) -> Path:
    """A synthetic file in the published format, filtered and grown to ``size_mb``."""
    write_published_file(folder / "data.txt.gz", lines, seed=3)
    filter_mote(folder / "data.txt.gz", 54, folder / "node.csv", folder / "counts.json", progress=False)
    return Path(build_dataset(folder / "node.csv", size_mb, folder / f"dataset_{size_mb:g}MB.csv") and
                folder / f"dataset_{size_mb:g}MB.csv")


def run_once(plan, backend_name: str, root: Path, dataset: Path, size_mb: float, width: int, epochs: int, rep: int,
             cores: int, cluster=None, inputs=("DATASET",), parameters=None, study: str = "bench",
             **spec) -> tuple[list[dict], dict]:
    """Run the pipeline once on ``backend_name``; return its step rows and run row. ``parameters``
    replaces the notebook's (those of the regression pipeline by default)."""
    identity = RunIdentity(study=study, backend=backend_name, configuration=paths.configuration_name(width, 3, size_mb),
                           rep=rep, series="dataset", dataset_mb=size_mb, width=width, hidden_layers=3)
    run_dir = root / backend_name / identity.configuration / str(rep)
    if parameters is None:
        parameters = {"DATASET": str(dataset), "EPOCHS": epochs, "WIDTH": width, "SEED": 1}
    backend(backend_name).run(plan, RunSpec(identity, run_dir, parameters, cores=cores, inputs=inputs,
                                            cluster=cluster, **spec))
    return read_run(run_dir)
