"""One upload cell's plan and records: what to upload, what was uploaded, with what.

A cell is a setup at one latency. Its records (``uploads.jsonl``, one
:class:`~mlopsbench.records.UploadRecord` a line) carry the parameters they were
measured with; a resumed cell reuses only the records measured with the parameters it
runs with now, and sets the others aside (``uploads.superseded-<stamp>.jsonl``) so
that a changed part size or window is measured again, never answered with old numbers.
"""

from __future__ import annotations

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
from ..store.way import StoreWay
# A fresh store allocates its volumes on the first write (about 0.2 s in SeaweedFS): one
# unmeasured upload first, so the first measured one pays what every other one pays.
WARMUP_UPLOADS = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadModel:
    path: Path
    size_mb: float   # the nominal size the design names (thesis: 49 ... 241)
    bytes: int


@dataclass(frozen=True, kw_only=True)
class CellSpec(StoreWay):
    """An upload cell: the way to the store, and ``reps`` uploads of every model along it."""

    reps: int
    unit: str = field(default_factory=lambda: default("upload.size_unit"))

    def parameters(self, store: str) -> UploadParameters:
        return UploadParameters(latency_ms=float(self.latency_ms), part_size=self.part_size,
                                window_bytes=self.window_bytes, unit=self.unit, store=store, bucket=self.bucket,
                                warmup_uploads=WARMUP_UPLOADS,
                                store_path=self.embedded_store_path if store == "seaweedfs" else "configured")


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
