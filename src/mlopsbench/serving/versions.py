"""Where a served model's versions live in the object store, and how a new one is published.

``serving/<model>/<version>/model.keras`` holds a version's file and ``serving/<model>/LATEST``
its name. A version is published file first, pointer second, so a poller that reads the
pointer always finds the whole file behind it. On this machine the versions downloaded for a
server lie in ``<models dir>/<model>/<version>/model.keras``, and ``<model>/REQUESTED`` names
the one its next load takes.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

MODEL_FILE = "model.keras"
POINTER = "LATEST"
REQUESTED = "REQUESTED"
LOADED = "mlopsbench-loaded"   # the event of the server's log line about its first load
DRAIN_PATH = "/drain"          # the server's route for a pod's last seconds (``server.Drain``)


def object_key(model: str, version: str) -> str:
    return f"serving/{model}/{version}/{MODEL_FILE}"


def pointer_key(model: str) -> str:
    return f"serving/{model}/{POINTER}"


def publish(minio, bucket: str, model: str, version: str, path: Path, part_size: int) -> tuple[float, float]:
    """Upload ``path`` as ``version`` of ``model``, then point LATEST at it; the wall-clock start and
    end of the whole publication."""
    started = time.time()
    minio.fput_object(bucket, object_key(model, version), str(path), part_size=part_size)
    name = version.encode()
    minio.put_object(bucket, pointer_key(model), io.BytesIO(name), len(name), content_type="text/plain")
    return started, time.time()


def local_path(models_dir: Path, model: str, version: str) -> Path:
    return models_dir / model / version / MODEL_FILE


def requested(models_dir: Path, model: str) -> str | None:
    """The version the next load of ``model`` takes, or None before the first download."""
    try:
        return (models_dir / model / REQUESTED).read_text().strip() or None
    except FileNotFoundError:
        return None
