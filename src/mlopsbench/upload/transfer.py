"""Uploads from this machine: the store, the delay proxy in front of it and the worker process.

The host, netns and vm setups differ only in where the worker runs and which store it
reaches; this module is the path they share. The worker is a subprocess (``mlopsbench
upload-worker``) fed a job on stdin; each record it prints is handed to ``sink`` as it
comes, so an interrupted cell keeps every upload that finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Callable

from tqdm import tqdm

from ..records import UploadRecord
from .latency import DelayProxy
from .netns import Namespace
from .objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, SeaweedFS, StoreError, ensure_bucket
from .plan import CellSpec
from .worker import job

Sink = Callable[[UploadRecord], None]


@contextlib.contextmanager
def store(spec: CellSpec):
    """The configured endpoint, or an embedded SeaweedFS for the block; its bucket exists."""
    if spec.endpoint is not None:
        ensure_bucket(spec.endpoint, spec.bucket)
        yield spec.endpoint
    else:
        embedded = SeaweedFS(spec.out_dir, isolate=spec.embedded_store_path == "veth")
        with embedded as endpoint:
            ensure_bucket(endpoint, spec.bucket)
            try:
                yield endpoint
            except StoreError as exc:  # the S3 answer hides the cause; the store's own log names it
                cause = SeaweedFS.fatal_cause(embedded.log_path)
                if cause is None:
                    raise
                raise StoreError(f"{exc}; the store's log ({embedded.log_path}) says: {cause}") from None


def upload_from_here(spec: CellSpec, plan: list[dict], endpoint: Endpoint, store_kind: str, emulation: str,
                     sink: Sink, namespace: Namespace | None = None, listen: str = "127.0.0.1") -> None:
    """Run the worker (in ``namespace`` if given) through the delay proxy to ``endpoint``.

    The proxy adds the latency when ``emulation`` is "proxy"; otherwise it only relays, so
    every setup pays the same relay."""
    rtt = spec.latency_ms if emulation == "proxy" else 0.0
    with DelayProxy((endpoint.host, endpoint.port), listen, rtt, spec.window_bytes) as (host, port):
        argv = [sys.executable, "-m", "mlopsbench.cli", "upload-worker", "--endpoint", f"{host}:{port}"]
        argv += ["--secure"] if endpoint.secure else []
        if namespace is not None:
            argv = namespace.command(argv)
        context = {"study": spec.study, "setup": spec.setup, "endpoint": endpoint.url, "emulation": emulation,
                   "parameters": asdict(spec.parameters(store_kind))}
        drive_worker(argv, job(context, plan), endpoint, sink, f"{spec.setup} {spec.latency_ms:g} ms")


def drive_worker(argv: list[str], work: dict, endpoint: Endpoint, sink: Sink, label: str) -> None:
    env = os.environ | {ACCESS_KEY_VARS[0]: endpoint.access_key, SECRET_KEY_VARS[0]: endpoint.secret_key}
    worker = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    failure = None
    try:
        worker.stdin.write(json.dumps(work))
        worker.stdin.close()
        with tqdm(total=len(work["items"]), unit="upload", disable=None, desc=label) as bar:
            for line in worker.stdout:
                record = UploadRecord.from_json(json.loads(line))
                sink(record)
                failure = failure or record.error
                bar.update()
        stderr = worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
    if worker.returncode != 0:
        raise StoreError(failure or f"{endpoint.url}: upload worker exited with {worker.returncode}: {stderr[-2000:]}")
