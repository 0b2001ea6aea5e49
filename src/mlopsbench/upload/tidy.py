"""Build ``uploads.parquet`` (one row per upload) and ``upload_cells.parquet`` from raw cells.

A failed or unverified upload keeps its row with ``seconds`` empty: it is never a time.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import atomic
from ..errors import InputError
from ..rawdirs import CellDir
from ..records import UploadRecord
from ..store.kernel_delay import DELAY_COLUMNS, delay_checked
from .plan import read_records

UPLOAD_COLUMNS = ["setup", "store", "store_path", "model_mb", "bytes", "latency_ms", "emulation", "rep", "seconds",
                  "throughput_mb_s", "verified", "part_size", "verify_method", "requests", "window_bytes",
                  "warmup_uploads", "started", "status", "error", "cell", "study", "endpoint", "unit", "bucket"]
CELL_COLUMNS = ["cell", "setup", "latency_ms", "status", "reason", "uploads", "failed", *DELAY_COLUMNS]


def _row(record: UploadRecord, cell_dir: Path) -> dict:
    """A failed or unverified upload keeps its row, never with a time."""
    seconds = record.seconds if record.status == "ok" else None
    parameters = record.parameters
    return {"setup": record.setup, "store": parameters.store, "store_path": parameters.store_path,
            "model_mb": record.model_mb, "bytes": record.bytes,
            "latency_ms": parameters.latency_ms, "emulation": record.emulation, "rep": record.rep,
            "seconds": seconds, "throughput_mb_s": record.bytes / 1e6 / seconds if seconds else None,
            "verified": record.verified, "part_size": parameters.part_size, "verify_method": record.verify_method,
            "requests": record.requests, "window_bytes": parameters.window_bytes,
            "warmup_uploads": parameters.warmup_uploads, "started": record.started,
            "status": record.status, "error": record.error, "cell": str(cell_dir), "study": record.study,
            "endpoint": record.endpoint, "unit": parameters.unit, "bucket": parameters.bucket}


def tidy_uploads(cell_dirs: list[str | Path], uploads_out: str | Path, cells_out: str | Path):
    import pandas as pd

    rows, cells = [], []
    for cell_dir in map(Path, cell_dirs):
        manifest_path = CellDir(cell_dir).finished
        if not manifest_path.exists():
            raise InputError(f"{cell_dir}: no {manifest_path.name}; the cell has not finished")
        manifest = json.loads(manifest_path.read_text())
        records = read_records(cell_dir)
        for record in records:
            rows.append(_row(record, cell_dir))
        cells.append({"cell": str(cell_dir), "setup": manifest["setup"], "latency_ms": manifest["latency_ms"],
                      "status": manifest["status"], "reason": manifest.get("reason"), "uploads": len(records),
                      "failed": sum(r.status != "ok" for r in records)} | delay_checked(CellDir(cell_dir).delay))
    uploads = pd.DataFrame(rows, columns=UPLOAD_COLUMNS)
    cell_table = pd.DataFrame(cells, columns=CELL_COLUMNS)
    atomic.write_parquet(uploads_out, uploads)
    atomic.write_parquet(cells_out, cell_table)
    return uploads, cell_table
