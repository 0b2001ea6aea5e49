"""The raw records of both experiments: one definition each, versioned, one JSON object a line.

Every writer (the runners, the host's upload worker, the cluster's upload Job) builds
these objects and every reader (resume, tidy) parses them back with ``from_json``, so a
field has one name everywhere. Each record carries ``v``, the schema version; a record
of another version is refused with the file and line, never half-read.

Identity (study, backend, configuration, rep; study, setup, latency) is written into
the records once, when they are made, and read back from them.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

from .errors import InputError

SCHEMA_VERSION = 1

log = logging.getLogger(__name__)
Record = TypeVar("Record")


class RecordError(InputError):
    """A raw record that cannot be read; the message names the file and line."""


def _plain(record) -> dict[str, Any]:
    return {"v": SCHEMA_VERSION, **asdict(record)}


def _known(cls, data: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


# --- pipeline runs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RunIdentity:
    """Which run this is, as the study names it."""

    study: str
    backend: str
    configuration: str       # paths.configuration_name: "8x8x8_2MB"
    rep: int
    series: str              # dataset, model or dataset+model (Figures 15-18)
    dataset_mb: float
    width: int
    hidden_layers: int

    @property
    def run_id(self) -> str:
        return f"{self.backend}/{self.configuration}/{self.rep}"


@dataclass(frozen=True)
class BlockPlace:
    """Where a run stands in its block: one configuration and repetition with every backend run
    back to back, in an order drawn from the study's seed."""

    configuration: str
    rep: int
    seed: int
    order: list              # the backends, in the order they ran
    position: int            # this run's index in ``order``

    @property
    def block_id(self) -> str:
        return f"{self.configuration}/{self.rep}"


@dataclass(frozen=True)
class RunStarted:
    """The first line of a run's ``events.jsonl``: who, what and with which parameters."""

    EVENT: ClassVar[str] = "run-started"
    t: float
    run: RunIdentity
    attempt: str             # UTC stamp of this attempt; names the directory if it is set aside
    parameters: dict         # the notebook's pipeline parameters as run
    cores: int
    cpu_per_step: dict       # cores each step asked for (its limit:cpu tag, or the configured request)
    notebook: str
    steps: list              # [[step, [parents...]], ...] in notebook order
    host: str
    python: str
    pid: int
    block: BlockPlace | None = None   # None: a run on its own, outside a block
    digests: dict = field(default_factory=dict)   # SHA-256 of the notebook and each input file

    def to_json(self) -> dict:
        return {"event": self.EVENT, **_plain(self)}

    @classmethod
    def from_json(cls, data: dict) -> "RunStarted":
        data = _known(cls, data)
        block = data.get("block")
        return cls(**data | {"run": RunIdentity(**data["run"]), "block": BlockPlace(**block) if block else None})


@dataclass(frozen=True)
class StepEvent:
    """Something that happened to one step, on one clock.

    ``event`` is created, dispatched, scheduled, started, finished or skipped; ``t`` is
    this machine's clock (the runner's, or the watch's receive time) and ``api_t`` the API
    server's whole seconds where a cluster reports one.
    """

    EVENTS: ClassVar[tuple[str, ...]] = ("created", "dispatched", "scheduled", "started", "finished", "skipped")
    event: str
    t: float
    step: str
    source: str              # local-runner, step-process, watch or runner
    api_t: float | None = None
    status: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    detail: dict = field(default_factory=dict)   # pid, cpu, pod, node_pin, because, peak_rss_kib

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict) -> "StepEvent":
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class RunNote:
    """A fact about the run that is not a step's: the cluster objects, clean-up, a collector's failure."""

    EVENTS: ClassVar[tuple[str, ...]] = ("cluster", "staged", "cleaned", "prometheus-failed", "cri-failed",
                                         "cleanup-failed")
    event: str
    t: float
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunNote":
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Calibration:
    """The machine's speed just before or after a run, on the run's interpreter
    (``pipeline.calibration``), with the machine's CPU tick counters around it (/proc/stat)."""

    EVENT: ClassVar[str] = "calibration"
    t: float                 # when it began
    phase: str               # before or after
    python: str              # sys.version of the interpreter it ran on
    python_loop_iterations: int
    python_loop_seconds: float
    keras_steps: int
    keras_step_seconds: float
    seconds: float           # the whole process, its imports included
    cpu_before: dict
    cpu_after: dict

    def to_json(self) -> dict:
        return {"event": self.EVENT, **_plain(self)}

    @classmethod
    def from_json(cls, data: dict) -> "Calibration":
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU tick counters (/proc/stat) as a run's steps begin and after they end:
    how much of the machine was idle, or stolen by its host, over the run."""

    EVENT: ClassVar[str] = "cpu-times"
    t: float
    phase: str               # start or end
    ticks: dict

    def to_json(self) -> dict:
        return {"event": self.EVENT, **_plain(self)}

    @classmethod
    def from_json(cls, data: dict) -> "CpuTimes":
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class RunFinished:
    """The last line of a run's ``events.jsonl``: succeeded, failed or interrupted."""

    EVENT: ClassVar[str] = "run-finished"
    t: float
    status: str
    failures: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"event": self.EVENT, **_plain(self)}

    @classmethod
    def from_json(cls, data: dict) -> "RunFinished":
        return cls(**_known(cls, data))


def parse_event(data: dict):
    kind = data.get("event")
    if kind == RunStarted.EVENT:
        return RunStarted.from_json(data)
    if kind == RunFinished.EVENT:
        return RunFinished.from_json(data)
    if kind == Calibration.EVENT:
        return Calibration.from_json(data)
    if kind == CpuTimes.EVENT:
        return CpuTimes.from_json(data)
    if kind in StepEvent.EVENTS:
        return StepEvent.from_json(data)
    if kind in RunNote.EVENTS:
        return RunNote.from_json(data)
    raise ValueError(f"unknown event {kind!r}")


# --- uploads ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class UploadParameters:
    """What an upload was measured with; a resumed cell reuses only records with the same."""

    latency_ms: float
    part_size: int
    window_bytes: int | None   # the delay proxy's window; None where no proxy sits in the path
    unit: str
    store: str                 # seaweedfs, external or minio
    bucket: str
    warmup_uploads: int = 0    # unmeasured uploads before the first measured one (0: records made before them)
    store_path: str = "loopback"  # the embedded store: "veth" into its own namespace, or "loopback"; else "configured"


@dataclass(frozen=True)
class UploadRecord:
    """One upload: who (study, setup, model, rep), with what, and what was measured."""

    study: str
    setup: str
    model_mb: float
    rep: int
    parameters: UploadParameters
    endpoint: str
    emulation: str             # proxy, netem, netem-daemonset or none
    bytes: int
    requests: int
    started: float
    status: str                # ok, unverified or failed
    seconds: float | None = None
    verified: bool = False
    verify_method: str | None = None
    etag: str | None = None
    error: str | None = None

    @property
    def latency_ms(self) -> float:
        return self.parameters.latency_ms

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict) -> "UploadRecord":
        data = _known(cls, data)
        return cls(**data | {"parameters": UploadParameters(**data["parameters"])})


# --- serving: time to serve a new model ------------------------------------------------------

@dataclass(frozen=True)
class ServingParameters:
    """What an update was measured with; recorded with every request and update of a cell."""

    setup: str                 # host, netns, vm or pod
    method: str                # in-place (the server swaps versions) or rollout (a new pod)
    latency_ms: float
    model_mb: float
    poll_interval_s: float | None   # in-place: how often the updater asks the store; rollout: None
    rate_per_s: float          # the client's fixed request rate
    emulation: str             # proxy, netem, netem-daemonset or none
    framework: str             # the serving framework and its version, e.g. "kserve 0.21.0"
    # rollout: the Deployment's strategy and how long the old pod drains (answering, closing each
    # connection) before it stops; in-place, and records from before they were kept: None
    max_surge: int | None = None
    max_unavailable: int | None = None
    drain_s: float | None = None


@dataclass(frozen=True)
class ServingRequest:
    """One prediction request of the client: when it was due and sent, what answered, how fast.
    Times are this machine's wall clock (``clock``), which the pods on its node share."""

    study: str
    parameters: ServingParameters
    update: int                # the update this request ran through (1, 2, ...)
    due: float                 # when the fixed rate wanted it sent
    sent: float
    seconds: float | None      # until the answer; None where none came
    status: int | None         # HTTP status; None where the connection failed
    model_version: str | None  # the version that answered, as the server says
    error: str | None = None
    clock: str = "CLOCK_REALTIME"

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict) -> "ServingRequest":
        data = _known(cls, data)
        return cls(**data | {"parameters": ServingParameters(**data["parameters"])})


@dataclass(frozen=True)
class ServingUpdate:
    """One new version, from its upload to the server's switch, as the updater (in place) or the
    rollout watcher saw it. ``status``: ok, or failed with the server's ``error``."""

    study: str
    parameters: ServingParameters
    update: int
    version: str
    upload_started: float
    upload_ended: float
    detected: float | None = None          # the updater saw the new version (rollout: the rollout began)
    download_started: float | None = None
    download_ended: float | None = None
    load_started: float | None = None
    ready: float | None = None             # the server answered that the version is loaded (rollout: Ready)
    status: str = "ok"
    error: str | None = None
    clock: str = "CLOCK_REALTIME"

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict) -> "ServingUpdate":
        data = _known(cls, data)
        return cls(**data | {"parameters": ServingParameters(**data["parameters"])})


# --- JSON lines --------------------------------------------------------------------------------

class JsonLines:
    """Append records to a JSON-lines file, each flushed at once (a crash loses at most one line)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._out = self.path.open("a", encoding="utf-8")

    def append(self, record) -> None:
        self._out.write(json.dumps(record.to_json(), sort_keys=True) + "\n")
        self._out.flush()

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> "JsonLines":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stored(path: str | Path) -> Path:
    """Where a raw record file is: itself, or its gzipped copy (``<name>.gz``, as a shipped
    reference run keeps its largest records) where only that exists."""
    path = Path(path)
    packed = path.with_name(path.name + ".gz")
    return packed if not path.exists() and packed.exists() else path


def jsonl_text(path: str | Path) -> str:
    """The text of a JSON-lines file, or of its gzipped copy."""
    path = stored(path)
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def read_jsonl(path: str | Path, parse: Callable[[dict], Record], tolerate_truncated_tail: bool = False) -> list[Record]:
    """Every record of ``path`` (or of its gzipped copy). A bad line names the file and line; a
    truncated last line (a crash mid-write, no newline after it) is skipped with a warning when
    ``tolerate_truncated_tail``."""
    path = Path(path)
    text = jsonl_text(path)
    lines = text.split("\n")
    complete = text.endswith("\n") or not text
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) and not complete and tolerate_truncated_tail:
                log.warning("%s:%d: truncated last line (a write cut short); left out", path, number)
                continue
            raise RecordError(f"{path}:{number}: not a JSON record ({exc.msg})") from None
        if not isinstance(data, dict):
            raise RecordError(f"{path}:{number}: not a JSON object")
        version = data.get("v")
        if version != SCHEMA_VERSION:
            raise RecordError(f"{path}:{number}: record schema version {version!r}, this mlopsbench reads "
                              f"version {SCHEMA_VERSION}; re-run with this version")
        try:
            records.append(parse(data))
        except (TypeError, KeyError, ValueError) as exc:
            raise RecordError(f"{path}:{number}: not a valid record ({exc})") from None
    return records


def set_aside_truncated_tail(path: str | Path) -> int | None:
    """If ``path`` ends in a line cut short by a crash, move that fragment to a file beside it
    (``<name>.truncated-<stamp>``) and leave the complete lines; return its line number."""
    path = Path(path)
    if not path.exists():
        return None
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return None
    cut = data.rfind(b"\n") + 1
    number = data.count(b"\n") + 1
    aside = path.with_name(f"{path.name}.truncated-{utc_stamp()}")
    aside.write_bytes(data[cut:])
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data[:cut])
    os.replace(tmp, path)
    log.warning("%s:%d: a truncated last line (a crash mid-write) was set aside as %s", path, number, aside)
    return number


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
