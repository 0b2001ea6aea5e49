"""Uploads from this machine: the delay proxy in front of the store and the worker process.

The host, netns and vm setups differ only in where the worker runs and which store it
reaches; this module is the path they share. The worker is a subprocess (``mlopsbench
upload-worker``) fed a job on stdin; each record it prints is handed to ``sink`` as it
comes, so an interrupted cell keeps every upload that finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Callable

from tqdm import tqdm

from ..records import UploadRecord
from ..store.latency import DelayProxy
from ..store.netns import Namespace
from ..store.objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, StoreError
from .plan import CellSpec
from .worker import job

Sink = Callable[[UploadRecord], None]


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
