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

import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
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
    # Patches (files in cluster/patches) applied to k8s.io/kubernetes's vendored source before the
    # build, and the variant they make; none for a stock build.
    patches: tuple[str, ...] = ()
    variant: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name


# The modules the daemons' entries (``components.COMPONENTS``) name, and crictl, a tool the runner uses.
KUBERNETES = GoModule(
    "kubernetes",
    tuple(f"k8s.io/kubernetes/cmd/{c}" for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                                  "kubelet", "kube-proxy")) + ("./etcd",),
    ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "etcd"),
    _version_flags(("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"),
                   KUBERNETES_VERSION, "1", KUBERNETES_VERSION.split(".")[1]))
KUBE_STATE_METRICS = GoModule("kube-state-metrics", ("k8s.io/kube-state-metrics/v2",), ("kube-state-metrics",),
                              ("-X github.com/prometheus/common/version.Version=2.16.0",))
CRICTL = GoModule("crictl", ("sigs.k8s.io/cri-tools/cmd/crictl",), ("crictl",))
MODULES = (KUBERNETES, KUBE_STATE_METRICS, CRICTL)
# The kubelet's measurement variants: each the patches it is built with (stock has none). A variant's
# name is in its kubelet's version ("v1.34.4+relist-100ms"), its patches in its cache key.
KUBELET_VARIANTS = {"stock": (), "relist-100ms": ("kubelet-relist-100ms.patch",)}
PATCHES = Path(__file__).with_name("patches")


def kubelet_module(variant: str) -> GoModule:
    """The module that builds the kubelet of ``variant``: the stock build, or the kubelet alone from
    a vendored and patched source."""
    if variant not in KUBELET_VARIANTS:
        raise BuildError(f"kubelet variant {variant!r}: not one of {', '.join(KUBELET_VARIANTS)}")
    if not KUBELET_VARIANTS[variant]:
        return KUBERNETES
    return GoModule("kubernetes", ("k8s.io/kubernetes/cmd/kubelet",), ("kubelet",),
                    _version_flags(("k8s.io/component-base/version",), f"{KUBERNETES_VERSION}+{variant}", "1",
                                   KUBERNETES_VERSION.split(".")[1]),
                    patches=KUBELET_VARIANTS[variant], variant=variant)
# What each module's last build took on this machine, so the next build's log can say what to expect.
BUILD_SECONDS = "build-seconds.json"


def _source(module: GoModule) -> Path:
    return Path(__file__).with_name("go") / module.name


@functools.cache
def _go_version() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the cluster's binaries are built with Go: install it (Debian: golang, or go.dev) "
                         "so that `go version` works")
    return subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.strip()


def _key(module: GoModule) -> str:
    digest = hashlib.sha256(_go_version().encode())
    digest.update("\n".join(module.packages + module.ldflags).encode())
    for patch in module.patches:
        digest.update((PATCHES / patch).read_bytes())
    source = _source(module)
    for item in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(source)).encode() + item.read_bytes())
    return digest.hexdigest()[:12]


def binary_dir(module: GoModule) -> Path:
    return cache_dir() / "bin" / f"{module.label}-{_key(module)}"


def recorded_binary(state_root: Path, name: str) -> Path:
    """The binary a cluster was started with (``binaries.json``, written at up), else the cache's."""
    recorded = state_root / "binaries.json"
    if recorded.exists():
        return Path(json.loads(recorded.read_text())[name])
    return binary_dir(next(m for m in MODULES if name in m.binaries)) / name


def _build_seconds() -> dict[str, float]:
    try:
        return json.loads((cache_dir() / "bin" / BUILD_SECONDS).read_text())
    except (OSError, ValueError):
        return {}


def _patch(module: GoModule, work: Path, env: dict) -> None:
    """Vendor the wrapper module's dependencies and apply the module's patches to k8s.io/kubernetes;
    a patch that does not apply to this version fails the build, naming both."""
    done = subprocess.run(["go", "mod", "vendor"], cwd=work, env=env | {"GOFLAGS": "-mod=mod"}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise BuildError(f"go mod vendor for {module.label} failed:\n{done.stderr[-4000:]}")
    apply_patches(module.patches, work / "vendor/k8s.io/kubernetes")


def apply_patches(patches, source: Path) -> None:
    """Apply ``patches`` (files in cluster/patches) to a k8s.io/kubernetes source tree; one that does
    not apply fails, naming the patch and the pinned version."""
    for patch in patches:
        applied = subprocess.run(["patch", "-p1", "--forward", "--batch", "-d", str(source), "-i", str(PATCHES / patch)],
                                 capture_output=True, text=True)
        if applied.returncode != 0:
            raise BuildError(f"patch {patch} does not apply to k8s.io/kubernetes {KUBERNETES_VERSION}: "
                             f"{(applied.stdout + applied.stderr).strip()[-2000:]}")
        log.info("applied %s to k8s.io/kubernetes %s", patch, KUBERNETES_VERSION)


def _build(module: GoModule, dest: Path) -> None:
    started, before = time.monotonic(), _build_seconds().get(module.label)
    expected = f"its last build here took {before:.0f} s" if before else "its first build on this machine"
    log.info("building %s (%s) from the Go module proxy, once per machine and version; %s -> %s", module.label,
             ", ".join(module.binaries), expected, dest)
    with tempfile.TemporaryDirectory(prefix=f"mlb-go-{module.name}-") as tmp:
        work = Path(tmp, "src")
        shutil.copytree(_source(module), work)
        out = Path(tmp, "bin")
        env = os.environ | {"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
        if module.patches:
            _patch(module, work, env)
            env["GOFLAGS"] = "-mod=vendor -buildvcs=false"
        command = ["go", "build", "-trimpath", "-ldflags", " ".join(("-s", "-w") + module.ldflags), "-o", f"{out}/",
                   *module.packages]
        result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"go build of {module.label} failed:\n{result.stderr[-4000:]}")
        missing = [b for b in module.binaries if not (out / b).is_file()]
        if missing:
            raise BuildError(f"go build of {module.label} left no {', '.join(missing)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.move(str(out), dest)
    took = time.monotonic() - started
    atomic.write_json(cache_dir() / "bin" / BUILD_SECONDS, _build_seconds() | {module.label: round(took, 1)})
    log.info("built %s in %.0f s", module.label, took)


def ensure_binaries(modules) -> dict[str, Path]:
    """Every binary of ``modules``, built where the cache lacks it; name -> path."""
    found = {}
    for module in modules:
        dest = binary_dir(module)
        if not all((dest / b).is_file() for b in module.binaries):
            _build(module, dest)
        found |= {b: dest / b for b in module.binaries}
    return found
