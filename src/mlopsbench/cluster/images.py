"""The cluster's images, built here without Docker or a registry, and imported into containerd.

* ``pause``: a static C program (pause(), reap children, exit on TERM), the sandbox image.
* ``job``: the same steps as the ``Dockerfile``, in two layers so that editing the project
  does not rebuild the rest:

  1. a Debian 12 root file system (``debootstrap --variant=minbase bookworm``), Python (the
     same Debian build and version as this machine's ``python3.11``, which the study runs on, so that
     a step runs on the same interpreter in a pod as in a process) with
     ``iproute2``, a virtual environment with the project's pinned dependencies
     (``constraints.txt``) and the unprivileged user 1000: rebuilt when the pins change;
  2. the project (``src/``, ``notebooks/``, byte-compiled) on the environment's path, and
     its ``mlopsbench`` command: rebuilt when the project's files change.

Each layer is an uncompressed tar, cached under ``<cache>/images`` by the hash of its
inputs; the image is written as an OCI archive (``oci-layout``, ``index.json``, blobs) and
imported with ``ctr``, which skips what containerd already holds, or pushed to a registry for a
cluster this package did not start (``registry``). An import that would not fit on the disk is
refused before it starts; ``prune`` removes the cached layers no current image is made of.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import tomllib
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..errors import InputError
from ..locks import one_at_a_time
from .node import Layout, cache_dir

JOB_IMAGE = "docker.io/library/mlopsbench:local"
PAUSE_IMAGE = "registry.k8s.io/pause:mlopsbench"
SUITE = "bookworm"
VENV = "/opt/venv"
SERVING_IMAGE = "docker.io/library/mlopsbench-serving:local"
SERVING_VENV = "/opt/serving"
SERVING_CONSTRAINTS = "serving-constraints.txt"
SERVING_REQUIREMENTS = ("kserve", "tensorflow", "minio")
PROJECT = "/opt/mlopsbench"
# Bump when the steps below change, so that cached layers are rebuilt.
RECIPE = "3"

log = logging.getLogger(__name__)


class ImageError(InputError):
    pass


@dataclass(frozen=True)
class Layer:
    path: Path      # the uncompressed tar
    digest: str     # sha256 of the tar (the layer's diff id and, uncompressed, its blob digest)
    size: int


def _run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise ImageError(f"{' '.join(command[:4])} ... failed ({result.returncode}):\n"
                         f"{(result.stderr or result.stdout)[-3000:]}")


def _hash_files(digest, root: Path, pattern: str = "*") -> None:
    for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())


def _tar_layer(root: Path, dest: Path) -> Layer:
    """``root`` as a layer tar (owners, modes, links and times kept), with its digest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic.atomic_path(dest) as tmp:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as out:
            for directory, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(dirs) + sorted(files):
                    path = Path(directory, name)
                    info = out.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                    if info is None:  # a socket: not part of an image
                        continue
                    if info.isreg():
                        with path.open("rb") as data:
                            out.addfile(info, data)
                    else:
                        out.addfile(info)
    digest = hashlib.sha256()
    with dest.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return Layer(dest, "sha256:" + digest.hexdigest(), dest.stat().st_size)


def _layer(name: str, key: str, build) -> Layer:
    """The cached layer ``name`` for ``key``, built by ``build(rootfs)`` when missing."""
    folder = cache_dir() / "images" / f"{name}-{key}"
    tar, info = folder / "layer.tar", folder / "layer.json"
    if not (info.exists() and tar.exists()):
        with one_at_a_time(folder / "building.lock"):
            if not (info.exists() and tar.exists()):
                return _build_layer(name, key, build, tar, info)
    os.utime(info)   # its last use, which ``prune`` reads
    meta = json.loads(info.read_text())
    return Layer(tar, meta["digest"], meta["size"])


def _build_layer(name: str, key: str, build, tar: Path, info: Path) -> Layer:
    started = time.monotonic()
    log.info("building image layer %s (%s)", name, key)
    with tempfile.TemporaryDirectory(prefix=f"mlb-{name}-", dir=cache_dir()) as tmp:
        rootfs = Path(tmp, "rootfs")
        rootfs.mkdir()
        build(rootfs)
        layer = _tar_layer(rootfs, tar)
    atomic.write_json(info, {"digest": layer.digest, "size": layer.size})
    log.info("layer %s: %.0f MB in %.0f s", name, layer.size / 1e6, time.monotonic() - started)
    return layer


# --- pause ------------------------------------------------------------------------------------

def _pause_rootfs(rootfs: Path) -> None:
    source = Path(__file__).with_name("pause.c")
    _run(["gcc", "-Os", "-static", "-o", str(rootfs / "pause"), str(source)])
    _run(["strip", str(rootfs / "pause")])


def _pause_key() -> str:
    return hashlib.sha256(Path(__file__).with_name("pause.c").read_bytes()).hexdigest()[:12]


def pause_layers() -> list[Layer]:
    return [_layer("pause", _pause_key(), _pause_rootfs)]


# --- the job image ----------------------------------------------------------------------------

def _dependencies(repo: Path) -> list[str]:
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]


@contextmanager
def _mounted(source: Path, target: Path):
    target.mkdir(parents=True, exist_ok=True)
    _run(["mount", "--bind", str(source), str(target)])
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _mirror() -> str:
    return os.environ.get("MLOPSBENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def _security_mirror() -> str:
    return os.environ.get("MLOPSBENCH_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")


@functools.cache
def host_python_version() -> str | None:
    """The Debian version of this machine's python3.11 (install.sh builds the study's environment
    on it), or None where it has none."""
    try:
        found = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3.11"], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return (found.stdout.strip() or None) if found.returncode == 0 else None


def _python_packages() -> list[str]:
    """Python for the image: this machine's version of it, pinned, where it has Debian's."""
    version = host_python_version()
    family = ("python3.11", "python3.11-minimal", "python3.11-venv", "libpython3.11-stdlib", "libpython3.11-minimal")
    return ["python3", "python3-venv", *(f"{name}={version}" for name in family if version)]


def _trust_store() -> str:
    import ssl

    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), paths.cafile,
                      "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ImageError("no CA bundle found to let pip reach PyPI from the image build; set SSL_CERT_FILE")


@contextmanager
def _chroot(rootfs: Path, files: dict[str, str]):
    """Run commands in ``rootfs`` as in an image build: its /proc, this machine's pip cache, DNS and
    trust store (a registry proxy may present its own CA), and ``files`` under /tmp; yields the
    command prefix. Every build-only file is gone afterwards."""
    shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    shutil.copy(_trust_store(), rootfs / "tmp/build-ca.crt")
    for name, text in files.items():
        (rootfs / "tmp" / name).write_text(text)
    pip_cache = Path.home() / ".cache" / "pip"
    pip_cache.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:
            stack.enter_context(_mounted(Path("/proc"), rootfs / "proc"))
            stack.enter_context(_mounted(pip_cache, rootfs / "root/.cache/pip"))
            yield ["chroot", str(rootfs), "/usr/bin/env", "-i", "HOME=/root", "LANG=C.UTF-8",
                   "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "DEBIAN_FRONTEND=noninteractive", "PIP_DISABLE_PIP_VERSION_CHECK=1",
                   "PIP_ROOT_USER_ACTION=ignore", "PIP_CERT=/tmp/build-ca.crt", "PIP_DEFAULT_TIMEOUT=180"]
    finally:
        for scratch in [*(f"tmp/{name}" for name in files), "tmp/build-ca.crt", "etc/resolv.conf"]:
            (rootfs / scratch).unlink(missing_ok=True)
        shutil.rmtree(rootfs / "root/.cache", ignore_errors=True)


def _base_rootfs(repo: Path):
    def build(rootfs: Path) -> None:
        if shutil.which("debootstrap") is None:
            raise ImageError("the job image is built with debootstrap: apt-get install debootstrap")
        log.info("debootstrap %s from %s (about a minute)", SUITE, _mirror())
        _run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), _mirror()])
        files = {"constraints.txt": (repo / "constraints.txt").read_text(),
                 "requirements.txt": "\n".join(_dependencies(repo)) + "\n"}
        # The security suite too: this machine's Python has its updates, and the image's must match.
        with (rootfs / "etc/apt/sources.list").open("a") as sources:
            sources.write(f"deb {_security_mirror()} {SUITE}-security main\n")
        with _chroot(rootfs, files) as chroot:
            log.info("installing Python and the pinned dependencies in the image (a few minutes)")
            _run(chroot + ["apt-get", "update", "-q"])
            try:
                _run(chroot + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *_python_packages(),
                               "iproute2"])
            except ImageError as exc:
                raise ImageError(f"{exc}; the image installs this machine's python3.11 "
                                 f"({host_python_version()}): where the mirror has moved on, upgrade it here "
                                 "(apt-get update && apt-get install python3.11) and build again") from None
            _run(chroot + ["python3", "-m", "venv", VENV])
            _run(chroot + [f"{VENV}/bin/pip", "install", "-q", "-c", "/tmp/constraints.txt", "-r",
                           "/tmp/requirements.txt"])
            _run(chroot + ["useradd", "--uid", "1000", "--create-home", "mlopsbench"])
            _run(chroot + ["apt-get", "clean"])
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    return build


def _serving_rootfs(repo: Path, base: Layer):
    """Only ``SERVING_VENV``: KServe, TensorFlow and minio as ``serving-constraints.txt`` pins them,
    installed with the base layer's Python, for the serving image (base + this + project)."""
    def build(rootfs: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="mlb-serving-below-", dir=cache_dir()) as tmp:
            below = Path(tmp)
            with tarfile.open(base.path) as layer:
                # Our own layer, links and owners kept; Debian's 3.11.2 predates extraction filters.
                trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
                layer.extractall(below, **trusted)
            with _chroot(below, {"constraints.txt": (repo / SERVING_CONSTRAINTS).read_text()}) as chroot:
                log.info("installing the serving environment in the image (a few minutes)")
                _run(chroot + ["python3", "-m", "venv", SERVING_VENV])
                _run(chroot + [f"{SERVING_VENV}/bin/pip", "install", "-q", "-c", "/tmp/constraints.txt",
                               *SERVING_REQUIREMENTS])
            (rootfs / "opt").mkdir()
            shutil.move(below / SERVING_VENV.lstrip("/"), rootfs / SERVING_VENV.lstrip("/"))
    return build


def _project_rootfs(repo: Path):
    def build(rootfs: Path) -> None:
        project = rootfs / PROJECT.lstrip("/")
        shutil.copytree(repo / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        shutil.copytree(repo / "notebooks", project / "notebooks")
        # The image's Python is 3.11 as here: byte-compile now, since user 1000 cannot write there.
        _run(["python3", "-m", "compileall", "-q", "-d", f"{PROJECT}/src", str(project / "src")])
        site = rootfs / VENV.lstrip("/") / "lib/python3.11/site-packages"
        site.mkdir(parents=True)
        (site / "mlopsbench.pth").write_text(f"{PROJECT}/src\n")
        command = rootfs / VENV.lstrip("/") / "bin/mlopsbench"
        command.parent.mkdir(parents=True, exist_ok=True)
        command.write_text(f"#!{VENV}/bin/python\nimport sys\nfrom mlopsbench.cli import main\nsys.exit(main())\n")
        command.chmod(0o755)
    return build


def _base_key(repo: Path) -> str:
    base = hashlib.sha256(f"{RECIPE}\n{SUITE}\n{_mirror()}\n{_security_mirror()}\n{host_python_version()}\n".encode())
    base.update((repo / "constraints.txt").read_bytes())
    base.update("\n".join(_dependencies(repo)).encode())
    return base.hexdigest()[:12]


def _project_key(repo: Path) -> str:
    project = hashlib.sha256(RECIPE.encode())
    _hash_files(project, repo / "src", "*.py")
    _hash_files(project, repo / "src", "*.yaml")
    _hash_files(project, repo / "src", "go*")
    _hash_files(project, repo / "notebooks")
    return project.hexdigest()[:12]


def _project_layer(repo: Path) -> Layer:
    return _layer("job-project", _project_key(repo), _project_rootfs(repo))


def _serving_key(repo: Path, base_digest: str) -> str:
    key = hashlib.sha256(f"{RECIPE}\n{base_digest}\n".encode() + (repo / SERVING_CONSTRAINTS).read_bytes())
    return key.hexdigest()[:12]


def job_layers(repo: Path) -> list[Layer]:
    return [_layer("job-base", _base_key(repo), _base_rootfs(repo)), _project_layer(repo)]


def serving_layers(repo: Path) -> list[Layer]:
    """The job image's base, the serving environment on it, the project on top."""
    base = _layer("job-base", _base_key(repo), _base_rootfs(repo))
    return [base, _layer("serving-env", _serving_key(repo, base.digest), _serving_rootfs(repo, base)),
            _project_layer(repo)]


def _current_folders(repo: Path) -> set[str]:
    """The cache folders of the layers this checkout's images are made of, built or not (the
    serving environment's only once the base it sits on is built: its key is that base's digest)."""
    base = f"job-base-{_base_key(repo)}"
    current = {f"pause-{_pause_key()}", base, f"job-project-{_project_key(repo)}"}
    built = cache_dir() / "images" / base / "layer.json"
    if built.exists():
        current.add(f"serving-env-{_serving_key(repo, json.loads(built.read_text())['digest'])}")
    return current


def prune(repo: Path, unused_hours: float) -> list[tuple[Path, int]]:
    """Remove the cached layers that no image of ``repo`` is made of and that nothing used for
    ``unused_hours`` (another checkout, a pinned sitting, may still use one); return each removed
    folder with the bytes it held. A layer being built is never removed (it was just touched)."""
    current, cutoff = _current_folders(repo), time.time() - unused_hours * 3600
    removed = []
    for folder in sorted((cache_dir() / "images").glob("*-*")):
        last_used = max((p.stat().st_mtime for p in (folder, *folder.iterdir())), default=0.0)
        if folder.name in current or last_used > cutoff:
            continue
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        shutil.rmtree(folder)
        removed.append((folder, size))
    return removed


JOB_CONFIG = {"User": "1000", "WorkingDir": "/home/mlopsbench", "Entrypoint": ["python"],
              "Env": [f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                      "MPLBACKEND=Agg", "PYTHONUNBUFFERED=1"]}
PAUSE_CONFIG = {"Entrypoint": ["/pause"], "Env": ["PATH=/"]}
# The serving environment imports only the package (never the study's pins from /opt/venv).
SERVING_CONFIG = {"User": "1000", "WorkingDir": "/home/mlopsbench", "Entrypoint": [f"{SERVING_VENV}/bin/python"],
                  "Env": [f"PATH={SERVING_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          f"PYTHONPATH={PROJECT}/src", "PYTHONUNBUFFERED=1"]}


# --- OCI archives and import ------------------------------------------------------------------

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def documents(name: str, layers: list[Layer], config: dict) -> tuple[str, dict[str, bytes], bytes]:
    """(manifest digest, small blobs by digest, index.json) of the image."""
    def blob(data: bytes) -> tuple[str, int]:
        return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)

    image_config = json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                               "rootfs": {"type": "layers", "diff_ids": [l.digest for l in layers]},
                               "history": [{"created_by": "mlopsbench.cluster.images"} for _ in layers]},
                              sort_keys=True).encode()
    config_digest, config_size = blob(image_config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.digest, "size": l.size}
                   for l in layers]}, sort_keys=True).encode()
    manifest_digest, manifest_size = blob(manifest)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": MANIFEST_TYPE,
                                       "digest": manifest_digest, "size": manifest_size,
                                       "platform": {"architecture": "amd64", "os": "linux"},
                                       "annotations": {"io.containerd.image.name": name,
                                                       "org.opencontainers.image.ref.name": name.rpartition(":")[2]}}]}
                       ).encode()
    return manifest_digest, {config_digest: image_config, manifest_digest: manifest}, index


def oci_archive(name: str, layers: list[Layer], config: dict, dest: Path, present: set[str] = frozenset()) -> str:
    """Write the OCI image archive ``dest``; return its manifest digest. Layers whose blobs are
    in ``present`` (containerd holds them already) are left out: the importer finds them there."""
    manifest_digest, blobs, index = documents(name, layers, config)
    with atomic.atomic_path(dest) as tmp, tarfile.open(tmp, "w") as out:
        def put(member: str, data: bytes) -> None:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))

        put("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        put("index.json", index)
        for digest, data in blobs.items():
            put(f"blobs/sha256/{digest[7:]}", data)
        for layer in layers:
            if layer.digest not in present:
                out.add(str(layer.path), arcname=f"blobs/sha256/{layer.digest[7:]}")
    return manifest_digest


def imported_digest(ctr: list[str], name: str) -> str | None:
    listing = subprocess.run(ctr + ["images", "ls"], capture_output=True, text=True).stdout.splitlines()
    for line in listing[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            return fields[2]
    return None


# Beside the import itself: the pods' logs and writable layers, and the study's own files.
ROOM_TO_SPARE = 2 * 2**30


def check_room(store: Path, name: str, missing: list[Layer]) -> None:
    """Refuse an import that would not fit: each missing layer is written three times on this disk
    (into the archive, into containerd's content store, unpacked as a snapshot). The nodes' kubelets
    do not evict for disk, so a full disk would fail a run half-way instead."""
    need = 3 * sum(layer.size for layer in missing) + ROOM_TO_SPARE
    free = shutil.disk_usage(store if store.exists() else cache_dir()).free
    if free < need:
        raise ImageError(f"{store}: importing {name} needs about {need / 1e9:.1f} GB on its disk, which has "
                         f"{free / 1e9:.1f} GB free; make room (`mlopsbench cluster prune` removes the cached "
                         f"image layers no current image is made of)")


def ensure_imported(node: Layout, name: str, layers: list[Layer], config: dict) -> str:
    """Import the image into the node's containerd unless it already holds exactly this one; return
    its digest."""
    ctr = node.ctr
    digest = documents(name, layers, config)[0]
    if imported_digest(ctr, name) == digest:
        log.info("image %s is current (%s)", name, digest[:19])
        return digest
    started = time.monotonic()
    present = set(subprocess.run(ctr + ["content", "ls", "-q"], capture_output=True, text=True).stdout.split())
    check_room(node.containerd_root, name, [layer for layer in layers if layer.digest not in present])
    with tempfile.TemporaryDirectory(prefix="mlb-oci-", dir=cache_dir()) as tmp:
        archive = Path(tmp, "image.oci.tar")
        oci_archive(name, layers, config, archive, present)
        _run(ctr + ["images", "import", str(archive)])
    log.info("imported %s (%s) in %.0f s", name, digest[:19], time.monotonic() - started)
    return digest
