"""The model-update experiment (thesis Sections 4.2 and 6.2).

One *cell* is a setup (``host`` or ``netns``) at one latency: every model is uploaded
``reps`` times to the object store through the emulated latency, and every upload is
verified and recorded as one JSON line in ``uploads.jsonl`` as soon as it ends. A cell
that is interrupted resumes with the uploads it lacks; ``run.json`` marks it finished.

The uploads themselves run in a separate worker process (``mlopsbench upload-worker``),
in this network namespace for ``host`` or in its own namespace behind a veth pair for
``netns``, so both setups run the same code and differ only in the network path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .. import atomic, paths
from ..config import CLUSTER_SETUPS
from ..errors import InputError
from ..latency import DelayProxy, netem_available, set_netem
from ..netns import Namespace, namespaces_supported
from ..objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, SeaweedFS, StoreError, ensure_bucket
from .cluster import job_manifest, netem_delay, pod_plan, run_job

RECORDS = "uploads.jsonl"
MANIFEST = "run.json"
MIB = 1 << 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadModel:
    path: Path
    size_mb: float   # the nominal size the design names (thesis: 49 ... 241)
    bytes: int


@dataclass(frozen=True)
class ClusterUpload:
    """What the "vm" and "pod" setups need from a cluster (the kubernetes section of the config)."""

    core: object
    batch: object
    apps: object
    namespace: str
    image: str
    service_endpoint: str       # MinIO as a pod reaches it
    vm_endpoint: Endpoint | None  # MinIO as this host reaches it
    secret: str
    node_selector: dict
    netem: bool
    netem_manifest: str
    netem_interface: str
    job_timeout_s: float = 3600.0


@dataclass(frozen=True)
class CellSpec:
    setup: str                  # "host" or "netns" here; "vm" or "pod" on a cluster
    latency_ms: float           # added round-trip time, as the thesis's netem delay
    reps: int
    out_dir: Path
    part_size: int = 16 * MIB
    window_bytes: int = 4 * MIB
    bucket: str = "mlopsbench"
    endpoint: Endpoint | None = None  # None: an embedded SeaweedFS
    cluster: ClusterUpload | None = None
    unit: str = "MiB"


def model_from_sidecar(path: str | Path) -> UploadModel:
    path = Path(path)
    info_path = Path(paths.sidecar(str(path)))
    try:
        info = json.loads(info_path.read_text())
        return UploadModel(path, float(info["size"]), path.stat().st_size)
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{info_path}: cannot read the upload model's size ({exc})") from None


def read_records(out_dir: Path) -> list[dict]:
    path = out_dir / RECORDS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- the cell: store, network, emulation, worker ---------------------------------------------

@contextlib.contextmanager
def _cluster_latency(spec: CellSpec):
    """The netem DaemonSet on the edge node when enabled; else None (the proxy, for "vm")."""
    cluster = spec.cluster
    if cluster.netem and spec.latency_ms > 0:
        with netem_delay(cluster.apps, cluster.namespace, cluster.netem_manifest, spec.latency_ms,
                         cluster.netem_interface) as emulation:
            yield emulation
    elif spec.setup == "pod" and spec.latency_ms > 0:
        raise InputError(f"setup pod at {spec.latency_ms:g} ms: set kubernetes.upload.netem: true "
                         "(no proxy can sit between a pod and the Service)")
    else:
        yield None


@contextlib.contextmanager
def _network(spec: CellSpec):
    """Yield (namespace or None, address the proxy listens on, emulation)."""
    if spec.setup in ("host", "vm"):
        yield None, "127.0.0.1", "proxy"
        return
    with Namespace() as ns:
        netem, why = netem_available(ns.peer_device, ns.name)
        if netem and spec.latency_ms > 0:
            set_netem(ns.peer_device, spec.latency_ms / 2, ns.name)
            set_netem(ns.host_device, spec.latency_ms / 2)
        elif not netem:
            log.info("netem unavailable in %s (%s): using the delay proxy", ns.name, why)
        yield ns, ns.host_ip, "netem" if netem else "proxy"


@contextlib.contextmanager
def _store(spec: CellSpec):
    if spec.setup == "vm":
        yield spec.cluster.vm_endpoint
    elif spec.endpoint is not None:
        yield spec.endpoint
    else:
        with SeaweedFS(spec.out_dir) as endpoint:
            yield endpoint


def run_cell(spec: CellSpec, models: list[UploadModel]) -> dict:
    """Run (or resume) one cell; return its manifest. Raises StoreError if the store fails."""
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"setup": spec.setup, "latency_ms": spec.latency_ms, "reps": spec.reps}
    if spec.setup == "netns":
        supported, why = namespaces_supported()
        if not supported:
            log.warning("setup netns skipped: %s", why)
            manifest |= {"status": "skipped", "reason": why}
            atomic.write_json(spec.out_dir / MANIFEST, manifest)
            return manifest
    if spec.setup in CLUSTER_SETUPS and spec.cluster is None:
        raise InputError(f"setup {spec.setup} runs on a cluster: give --cluster-config")
    done = {(r["model_mb"], r["rep"]) for r in read_records(spec.out_dir) if r.get("status") == "ok"}
    if spec.setup == "pod":
        plan = [p for p in pod_plan([(m.size_mb, spec.unit) for m in models], spec.reps, spec.latency_ms)
                if (p["model_mb"], p["rep"]) not in done]
    else:
        plan = [{"path": str(m.path.resolve()), "model_mb": m.size_mb, "rep": rep,
                 "object": f"{spec.setup}-{spec.latency_ms:g}ms-{m.path.stem}-rep{rep}"}
                for rep in range(1, spec.reps + 1) for m in models if (m.size_mb, rep) not in done]
    if plan:
        log.info("%s at %g ms: %d uploads to do, %d already recorded", spec.setup, spec.latency_ms,
                 len(plan), len(done))
        if spec.cluster is None:
            _upload(spec, plan)
        else:
            with _cluster_latency(spec) as emulation:
                if spec.setup == "pod":
                    _upload_from_pod(spec, plan, emulation or "none")
                else:
                    _upload(spec, plan, emulation)
    manifest |= {"status": "succeeded", "uploads": len(read_records(spec.out_dir))}
    atomic.write_json(spec.out_dir / MANIFEST, manifest)
    return manifest


def _upload(spec: CellSpec, plan: list[dict], cluster_emulation: str | None = None) -> None:
    with _store(spec) as endpoint:
        ensure_bucket(endpoint, spec.bucket)
        with _network(spec) as (ns, listen, emulation):
            emulation = cluster_emulation or emulation  # the edge node's netem, where it runs
            rtt = spec.latency_ms if emulation == "proxy" else 0.0
            with DelayProxy((endpoint.host, endpoint.port), listen, rtt, spec.window_bytes) as (host, port):
                argv = [sys.executable, "-m", "mlopsbench.cli", "upload-worker", "--endpoint", f"{host}:{port}",
                        "--bucket", spec.bucket, "--part-size", str(spec.part_size)]
                argv += ["--secure"] if endpoint.secure else []
                if ns is not None:
                    argv = ns.command(argv)
                context = {"setup": spec.setup, "store": endpoint.kind, "endpoint": endpoint.url,
                           "latency_ms": spec.latency_ms, "emulation": emulation, "window_bytes": spec.window_bytes}
                _drive_worker(argv, plan, endpoint, context, spec.out_dir)


def _upload_from_pod(spec: CellSpec, plan: list[dict], emulation: str) -> None:
    cluster = spec.cluster
    name = f"mlb-upload-{spec.latency_ms:g}ms-{int(time.time())}".replace(".", "-")
    labels = {"app.kubernetes.io/name": "mlopsbench", "app.kubernetes.io/part-of": "mlopsbench",
              "app.kubernetes.io/component": "uploader", "app.kubernetes.io/instance": name}
    sizes = sorted({(p["model_mb"], spec.unit) for p in plan})
    manifest = job_manifest(cluster.namespace, name, labels, cluster.image, sizes, plan, cluster.service_endpoint,
                            spec.bucket, spec.part_size, cluster.secret, cluster.node_selector,
                            int(cluster.job_timeout_s))
    records = run_job(cluster.core, cluster.batch, cluster.namespace, manifest, cluster.service_endpoint,
                      cluster.job_timeout_s + 60)
    context = {"setup": "pod", "store": "minio", "endpoint": f"http://{cluster.service_endpoint}",
               "latency_ms": spec.latency_ms, "emulation": emulation, "window_bytes": None}
    with (spec.out_dir / RECORDS).open("a") as out:
        failures = [_append(out, context, record) for record in records]
    if any(failures):
        raise StoreError(next(f for f in failures if f))


def _append(out, context: dict, record: dict) -> str | None:
    """Write one upload record with its cell's context, at once; return its error if it failed."""
    record = context | record
    if record["status"] == "failed":
        record["error"] = f"store {context['endpoint']}: {record.get('error')}"
    out.write(json.dumps(record, sort_keys=True) + "\n")
    out.flush()
    return record.get("error") if record["status"] == "failed" else None


def _drive_worker(argv: list[str], plan: list[dict], endpoint: Endpoint, context: dict, out_dir: Path) -> None:
    env = os.environ | {ACCESS_KEY_VARS[0]: endpoint.access_key, SECRET_KEY_VARS[0]: endpoint.secret_key}
    worker = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    worker.stdin.write(json.dumps(plan))
    worker.stdin.close()
    failure = None
    with (out_dir / RECORDS).open("a") as records, tqdm(total=len(plan), unit="upload", disable=None,
                                                        desc=f"{context['setup']} {context['latency_ms']:g} ms") as bar:
        for line in worker.stdout:
            failure = _append(records, context, json.loads(line)) or failure
            bar.update()
    stderr = worker.stderr.read()
    if worker.wait() != 0:
        raise StoreError(failure or f"{endpoint.url}: upload worker exited with {worker.returncode}: {stderr[-2000:]}")
