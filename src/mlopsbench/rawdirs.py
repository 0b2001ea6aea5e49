"""The names of the files inside one run's or one upload cell's raw exports, kept here only.

A pipeline run's directory (``results/raw/pipeline/<configuration>/<rep>/<backend>/``, inside its
block's, whose ``block.json`` says that every run of the block finished) and an
upload cell's (``results/raw/upload/<setup>/<latency>ms/``) are written while they run and
never edited after; ``run.json``, written last, says that one finished. (An embedded store
names its own files in the cell's directory: ``objectstore.SeaweedFS``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FINISHED = "run.json"


@dataclass(frozen=True)
class RawDir:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))   # tables keep directories as text

    @property
    def finished(self) -> Path:
        return self.root / FINISHED


class RunDir(RawDir):
    @property
    def events(self) -> Path:            # one record a line: the run's, its steps' and notes
        return self.root / "events.jsonl"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, step: str) -> Path:
        return self.logs / f"{step}.log"

    @property
    def steps(self) -> Path:             # the compiled script of each step
        return self.root / "steps"

    @property
    def notebook_script(self) -> Path:   # the monolithic backend's whole notebook
        return self.root / "notebook.py"

    @property
    def marshal(self) -> Path:           # what the steps hand each other (removed unless kept)
        return self.root / "marshal"

    @property
    def watch(self) -> Path:             # the pod watch's stream, as received
        return self.root / "watch.jsonl"

    @property
    def prometheus(self) -> Path:        # Prometheus's answers about the run's pods
        return self.root / "prometheus"

    @property
    def cri(self) -> Path:               # the container runtime's own times of the run's pods
        return self.root / "cri.json"

    @property
    def artifacts(self) -> Path:         # the notebook's own figures: no measurement
        return self.root / "artifacts"


class StoreCellDir(RawDir):
    """A cell of the experiments that reach a store: upload and serving."""

    @property
    def delay(self) -> Path:             # the kernel-path delay's check: round trip and throughput, as measured
        return self.root / "delay.json"


class CellDir(StoreCellDir):
    @property
    def records(self) -> Path:           # one upload a line, written as each ends
        return self.root / "uploads.jsonl"


class ServingCellDir(StoreCellDir):
    @property
    def requests(self) -> Path:          # one client request a line, written as each answers
        return self.root / "requests.jsonl"

    @property
    def updates(self) -> Path:           # one new version a line, from its upload to the switch
        return self.root / "updates.jsonl"

    @property
    def models(self) -> Path:            # the versions the edge downloaded (removed once the cell ends)
        return self.root / "models"

    @property
    def logs(self) -> Path:              # the model server's and the updater's own logs
        return self.root / "logs"
