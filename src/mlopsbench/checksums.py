"""A file's SHA-256, read in blocks: how inputs, shipped files and data are recognised."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
