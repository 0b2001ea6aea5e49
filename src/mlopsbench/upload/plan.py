"""One upload cell's plan and records: what to upload, what was uploaded, with what.

A cell is a setup at one latency. Its records (``uploads.jsonl``, one
:class:`~mlopsbench.records.UploadRecord` a line) carry the parameters they were
measured with; a resumed cell reuses only the records measured with the parameters it
runs with now, and sets the others aside (``uploads.superseded-<stamp>.jsonl``) so
that a changed part size or window is measured again, never answered with old numbers.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..config import default
from ..errors import InputError
from ..rawdirs import CellDir
from ..records import UploadParameters, UploadRecord, read_jsonl, set_aside_truncated_tail, utc_stamp
from .netns import namespaces_supported
from .objectstore import Endpoint

MIB = 1 << 20
# A fresh store allocates its volumes on the first write (about 0.2 s in SeaweedFS): one
# unmeasured upload first, so the first measured one pays what every other one pays.
WARMUP_UPLOADS = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadModel:
    path: Path
    size_mb: float   # the nominal size the design names (thesis: 49 ... 241)
    bytes: int


@dataclass(frozen=True)
class CellSpec:
    setup: str                  # a name of upload.setups.SETUPS
    latency_ms: float           # added round-trip time, as the thesis's netem delay
    reps: int
    out_dir: Path
    study: str = field(default_factory=lambda: default("study"))
    part_size: int = field(default_factory=lambda: default("upload.part_size_mib") * MIB)
    window_bytes: int = field(default_factory=lambda: default("upload.proxy_window_kib") * 1024)
    bucket: str = field(default_factory=lambda: default("upload.store.bucket"))
    unit: str = field(default_factory=lambda: default("upload.size_unit"))
    endpoint: Endpoint | None = None  # None: an embedded SeaweedFS
    options: object | None = None     # a cluster setup's cluster (cluster.target.ClusterTarget)

    def parameters(self, store: str) -> UploadParameters:
        return UploadParameters(latency_ms=float(self.latency_ms), part_size=self.part_size,
                                window_bytes=self.window_bytes, unit=self.unit, store=store, bucket=self.bucket,
                                warmup_uploads=WARMUP_UPLOADS,
                                store_path=self.embedded_store_path if store == "seaweedfs" else "configured")

    @property
    def store_kind(self) -> str:
        return "external" if self.endpoint is not None else "seaweedfs"

    @functools.cached_property
    def embedded_store_path(self) -> str:
        """How the embedded store is reached: "veth", into a namespace of its own where namespaces can
        be made (its internal ports then reach no one else), else "loopback"."""
        return "veth" if namespaces_supported()[0] else "loopback"


def model_from_sidecar(path: str | Path) -> UploadModel:
    path = Path(path)
    info_path = Path(paths.sidecar(str(path)))
    try:
        info = json.loads(info_path.read_text())
        return UploadModel(path, float(info["size"]), path.stat().st_size)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{info_path}: cannot read the upload model's size ({exc})") from None


def read_records(out_dir: Path) -> list[UploadRecord]:
    path = CellDir(out_dir).records
    return read_jsonl(path, UploadRecord.from_json) if path.exists() else []


def reusable_records(spec: CellSpec, store: str) -> set[tuple[float, int]]:
    """(model_mb, rep) already measured with this cell's parameters. A line cut short by a
    crash and records of other parameters are set aside first, named in the log."""
    path = CellDir(spec.out_dir).records
    set_aside_truncated_tail(path)
    records = read_records(spec.out_dir)
    wanted = spec.parameters(store)
    stale = [r for r in records if r.parameters != wanted or r.setup != spec.setup]
    if stale:
        aside = spec.out_dir / f"uploads.superseded-{utc_stamp()}.jsonl"
        keep = [r for r in records if r not in stale]
        aside.write_text("".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in stale))
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in keep))
        os.replace(tmp, path)
        log.warning("%s: %d records were measured with other parameters (now %s); set aside in %s and measured "
                    "again", path, len(stale), wanted, aside.name)
        records = keep
    return {(r.model_mb, r.rep) for r in records if r.status == "ok"}


def local_plan(spec: CellSpec, models: list[UploadModel], done: set) -> list[dict]:
    """Every model ``reps`` times, from this machine's files, minus what is done."""
    return [{"path": str(m.path.resolve()), "model_mb": m.size_mb, "rep": rep,
             "object": f"{spec.setup}-{spec.latency_ms:g}ms-{m.path.stem}-rep{rep}"}
            for rep in range(1, spec.reps + 1) for m in models if (m.size_mb, rep) not in done]
