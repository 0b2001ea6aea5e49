"""The serving environment: KServe's ModelServer with TensorFlow, in a virtual environment of its own.

KServe pins older pandas (< 3), protobuf (< 7) and psutil (< 6) than the study does, so the
server and the updater cannot share the study's environment. This one is built from
``serving-constraints.txt`` (every package pinned), the same as the serving image's (``cluster.images``),
once per machine, pin set and interpreter, under
``<cache>/serving/<hash of the pins and the interpreter>``, and runs this package's ``mlopsbench.serving``
modules from the installed package (they import only the standard library, KServe, Keras
and minio).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlopsbench

from ..cluster.images import SERVING_CONSTRAINTS, SERVING_REQUIREMENTS
from ..cluster.node import cache_dir
from ..errors import InputError
from ..locks import one_at_a_time

log = logging.getLogger(__name__)


class ServingEnvError(InputError):
    pass


def _key(constraints: Path) -> str:
    """The pins and the interpreter build the environment is made from (the study's, so that the
    server at the edge and the study's steps run on the same Python)."""
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return hashlib.sha256(constraints.read_bytes() + f"\n{base}\n{sys.version}".encode()).hexdigest()[:12]


def python(repo: Path) -> Path:
    """The serving environment's interpreter, built first if this machine lacks it."""
    constraints = repo / SERVING_CONSTRAINTS
    if not constraints.exists():
        raise ServingEnvError(f"{constraints}: missing; it pins the serving environment")
    home = cache_dir() / "serving" / _key(constraints)
    interpreter = home / "bin" / "python"
    if (home / ".complete").exists():
        return interpreter
    with one_at_a_time(home.with_name(f".{home.name}.building")):   # a second caller waits for the first's build
        if (home / ".complete").exists():
            return interpreter
        shutil.rmtree(home, ignore_errors=True)
        started = time.monotonic()
        log.info("building the serving environment in %s (KServe, TensorFlow; a few minutes, once)", home)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
            subprocess.run([str(interpreter), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c",
                            str(constraints), *SERVING_REQUIREMENTS], check=True)
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(home, ignore_errors=True)
            raise ServingEnvError(f"building the serving environment from {constraints} failed ({exc})") from None
        (home / ".complete").touch()
    log.info("serving environment ready in %.0f s", time.monotonic() - started)
    return interpreter


def environment(interpreter: Path) -> dict[str, str]:
    """The process environment that lets the serving interpreter import ``mlopsbench.serving``:
    a path holding only this package (a site-packages directory would bring the study's pins)."""
    path = interpreter.parent.parent / "mlopsbench-path"
    link = path / "mlopsbench"
    package = Path(mlopsbench.__file__).resolve().parent
    if not link.is_symlink() or link.resolve() != package:
        path.mkdir(exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(package, target_is_directory=True)
    return os.environ | {"PYTHONPATH": str(path)}


def framework(repo: Path) -> str:
    """The serving framework and the version the pins give it, e.g. "kserve 0.21.0" (the environment
    here and the serving image are both built from these pins)."""
    constraints = repo / SERVING_CONSTRAINTS
    for line in constraints.read_text().splitlines():
        name, _, version = line.split("#")[0].strip().partition("==")
        if name.strip().lower() == "kserve" and version:
            return f"kserve {version.strip()}"
    raise ServingEnvError(f"{constraints}: pins no kserve version (a line kserve==X.Y.Z)")


def serving_image(repo: Path, image: str) -> str:
    """The image the edge's pod runs. The package's own image is built (or found in the cache) and
    imported into the local cluster when that cluster runs here; any other is the cluster's to have."""
    from ..cluster import images, lifecycle

    if image == images.SERVING_IMAGE and lifecycle.status() is not None:
        lifecycle.import_image(images.SERVING_IMAGE, images.serving_layers(repo), images.SERVING_CONFIG)
    return image
