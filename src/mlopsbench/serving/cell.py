"""One serving cell: a setup, an update method and a latency at one model size, measured through
``updates`` new versions while the client asks at a fixed rate.

The path is the upload experiment's: in the host and netns setups the store (an embedded
SeaweedFS or the configured one) sits behind the delay proxy, and both the publisher (this
machine) and the edge's processes reach it through the cell's latency; the vm and pod setups
run the edge as a pod (``on_cluster``). What is measured is ``measure``'s. Records: ``requests.jsonl`` (one
``ServingRequest`` per request) and ``updates.jsonl`` (one ``ServingUpdate`` per version);
``run.json`` marks the cell finished. The client runs through the whole cell, so an
interrupted cell cannot be resumed in the middle: an earlier attempt's records are set aside
whole in ``attempt-<stamp>/`` (kept, never counted) and the cell is measured again.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Callable

from .. import atomic
from ..errors import InputError
from ..locks import DirectoryLock
from ..rawdirs import ServingCellDir
from ..records import JsonLines, ServingRequest, ServingUpdate, utc_stamp
from ..store.latency import DelayProxy
from ..store.netns import Namespace
from ..store.objectstore import client, free_ports
from ..store.way import opened
from ..upload.setups import SETUPS
from .edge import EdgeProcesses
from .measure import MODEL, ServingSpec, measure
from .methods import METHODS, method
from .publishers import StorePublisher

log = logging.getLogger(__name__)


def run_local(spec: ServingSpec, versions: list[Path], python: Path, framework: str,
              request_sink: Callable[[ServingRequest], None], update_sink: Callable[[ServingUpdate], None],
              namespace: Namespace | None = None) -> None:
    """The host and netns setups, in place: the edge's processes on this machine (in ``namespace``)."""
    listen = namespace.host_ip if namespace is not None else "127.0.0.1"
    with opened(spec.way) as endpoint, DelayProxy((endpoint.host, endpoint.port), listen, spec.latency_ms,
                                                  spec.way.window_bytes) as (host, port):
        far = dataclasses.replace(endpoint, host=host, port=port)
        publisher = StorePublisher(client(far), spec.way.bucket, MODEL, spec.way.part_size)
        publisher.publish("v1", versions[0])
        cell = ServingCellDir(spec.way.out_dir)
        edge = EdgeProcesses(python, far, spec.way.bucket, MODEL, cell.models, cell.logs, free_ports(1)[0],
                             spec.poll_interval_s, spec.ready_timeout_s, namespace=namespace,
                             listen_host=namespace.peer_ip if namespace is not None else "127.0.0.1")
        way = method(spec.method)
        with edge:
            measure(spec, spec.parameters("proxy", framework), versions, edge.url, publisher.publish,
                    lambda version: way.follow(edge, version, spec.update_timeout_s), request_sink, update_sink)


def run_cell(spec: ServingSpec, versions: list[Path], framework: str, python: Path | None = None,
             image: str | None = None) -> dict:
    """Measure one cell whole (an earlier, unfinished attempt set aside first); return its manifest.
    ``python``: the serving environment, for the edge as processes here (host, netns); ``image``:
    the serving image, for the edge as a pod (vm, pod; the cluster is ``spec.way.cluster``)."""
    if len(versions) != spec.updates + 1:
        raise InputError(f"serving cell {spec.way.out_dir}: {spec.updates} updates need {spec.updates + 1} "
                         f"versions, got {len(versions)}")
    on_cluster = SETUPS[spec.setup].on_cluster
    if method(spec.method).needs_pod and not on_cluster:
        raise InputError(f"serving setup {spec.setup}: the {spec.method} method needs the edge as a pod (a setup on "
                         f"a cluster); use one whose edge can be processes ({', '.join(_on_processes())})")
    raw = ServingCellDir(spec.way.out_dir)
    with DirectoryLock(raw.root):
        raw.root.mkdir(parents=True, exist_ok=True)
        _set_aside_earlier(raw)
        try:
            with JsonLines(raw.requests) as requests, JsonLines(raw.updates) as updates:
                if on_cluster:
                    from .on_cluster import run_on_cluster

                    run_on_cluster(spec, versions, image, framework, requests.append, updates.append)
                elif spec.setup == "netns":
                    with Namespace("e") as namespace:
                        run_local(spec, versions, python, framework, requests.append, updates.append, namespace)
                else:
                    run_local(spec, versions, python, framework, requests.append, updates.append)
        finally:
            shutil.rmtree(raw.models, ignore_errors=True)   # model files are data, never raw exports
        manifest = {"v": 1, "study": spec.study, "setup": spec.setup, "method": spec.method,
                    "latency_ms": spec.latency_ms, "model_mb": spec.model_mb, "updates": spec.updates,
                    "status": "succeeded", "framework": framework}
        atomic.write_json(raw.finished, manifest)
        return manifest


def _on_processes() -> list[str]:
    return [name for name, entry in METHODS.items() if not entry.needs_pod]


def _set_aside_earlier(raw: ServingCellDir) -> None:
    """An earlier attempt (unfinished, or finished and now forced again) goes whole to ``attempt-<stamp>/``."""
    earlier = [p for p in (raw.requests, raw.updates, raw.logs, raw.finished) if p.exists()]
    if not earlier:
        return
    aside = raw.root / f"attempt-{utc_stamp()}"
    aside.mkdir()
    for path in earlier:
        path.rename(aside / path.name)
    what = "a finished attempt" if (aside / raw.finished.name).exists() else "an unfinished attempt"
    log.warning("%s: %s was set aside in %s (kept, never counted); the cell is measured again", raw.root, what,
                aside.name)
