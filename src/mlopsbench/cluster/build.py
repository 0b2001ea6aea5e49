"""Build the cluster's binaries from the Go module proxy, once per machine and version.

Three small wrapper modules ship with the package (``cluster/go/*``), each with its
``go.sum``, so every module's hash is pinned here and checked by ``go`` on download:

* ``kubernetes``: ``k8s.io/kubernetes`` at one release, a ``replace`` per staging module
  (its own go.mod wants them at v0.0.0, which no proxy serves), the five components as
  ``tool`` lines, and etcd's server at the version that release requires;
* ``kube-state-metrics`` and ``crictl``: one tool each.

Binaries go to ``<cache>/bin/<module>-<key>/``, where the key hashes the wrapper module,
the link flags and the Go toolchain; a build writes into a temporary directory and
renames it into place, so a cache entry is whole or absent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .node import cache_dir

KUBERNETES_VERSION = "v1.34.4"

log = logging.getLogger(__name__)


class BuildError(InputError):
    pass


def _version_flags(packages: tuple[str, ...], version: str, major: str, minor: str) -> tuple[str, ...]:
    flags = []
    for package in packages:
        flags += [f"-X {package}.{key}={value}" for key, value in (
            ("gitVersion", version), ("gitMajor", major), ("gitMinor", minor), ("gitTreeState", "clean"),
            ("gitCommit", "0" * 40), ("buildDate", "1970-01-01T00:00:00Z"))]
    return tuple(flags)


@dataclass(frozen=True)
class GoModule:
    name: str                  # the wrapper module's directory under cluster/go
    packages: tuple[str, ...]  # what ``go build`` builds (the tools, and local main packages)
    binaries: tuple[str, ...]  # the files it leaves
    ldflags: tuple[str, ...] = ()


MODULES = (
    GoModule("kubernetes",
             tuple(f"k8s.io/kubernetes/cmd/{c}" for c in ("kube-apiserver", "kube-controller-manager",
                                                           "kube-scheduler", "kubelet", "kube-proxy")) + ("./etcd",),
             ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "etcd"),
             _version_flags(("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"),
                            KUBERNETES_VERSION, "1", KUBERNETES_VERSION.split(".")[1])),
    GoModule("kube-state-metrics", ("k8s.io/kube-state-metrics/v2",), ("kube-state-metrics",),
             ("-X github.com/prometheus/common/version.Version=2.16.0",)),
    GoModule("crictl", ("sigs.k8s.io/cri-tools/cmd/crictl",), ("crictl",)),
)


def _source(module: GoModule) -> Path:
    return Path(__file__).with_name("go") / module.name


def _go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the cluster's binaries are built with Go: install it (Debian: golang, or go.dev) "
                         "so that `go version` works")
    return subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.strip()


def _key(module: GoModule) -> str:
    digest = hashlib.sha256(_go_version().encode())
    digest.update("\n".join(module.packages + module.ldflags).encode())
    source = _source(module)
    for item in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(source)).encode() + item.read_bytes())
    return digest.hexdigest()[:12]


def binary_dir(module: GoModule) -> Path:
    return cache_dir() / "bin" / f"{module.name}-{_key(module)}"


def recorded_binary(state_root: Path, name: str) -> Path:
    """The binary a cluster was started with (``binaries.json``, written at up), else the cache's."""
    import json

    recorded = state_root / "binaries.json"
    if recorded.exists():
        return Path(json.loads(recorded.read_text())[name])
    return binary_dir(next(m for m in MODULES if name in m.binaries)) / name


def _build(module: GoModule, dest: Path) -> None:
    started = time.monotonic()
    log.info("building %s from the Go module proxy (once per machine and version; kubernetes takes about "
             "4 minutes on 2 cores) -> %s", module.name, dest)
    with tempfile.TemporaryDirectory(prefix=f"mlb-go-{module.name}-") as tmp:
        work = Path(tmp, "src")
        shutil.copytree(_source(module), work)
        out = Path(tmp, "bin")
        env = os.environ | {"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
        command = ["go", "build", "-trimpath", "-ldflags", " ".join(("-s", "-w") + module.ldflags), "-o", f"{out}/",
                   *module.packages]
        result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"go build of {module.name} failed:\n{result.stderr[-4000:]}")
        missing = [b for b in module.binaries if not (out / b).is_file()]
        if missing:
            raise BuildError(f"go build of {module.name} left no {', '.join(missing)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(out), dest)
    log.info("built %s in %.0f s", module.name, time.monotonic() - started)


def ensure_binaries() -> dict[str, Path]:
    """Every binary of the cluster, built where the cache lacks it; name -> path."""
    found = {}
    for module in MODULES:
        dest = binary_dir(module)
        if not all((dest / b).is_file() for b in module.binaries):
            _build(module, dest)
        found |= {b: dest / b for b in module.binaries}
    return found
