"""One serving cell: a setup, an update method and a latency at one model size, measured through
``updates`` new versions while the client asks at a fixed rate.

The path is the upload experiment's: in the host and netns setups the store (an embedded
SeaweedFS or the configured one) sits behind the delay proxy, and both the publisher (this
machine) and the edge's processes reach it through the cell's latency; the vm and pod setups
run the edge as a pod (``on_cluster``). Per update: publish the next version (file, then
pointer), wait for the edge's account of it (the updater's, or the roll-out's), then, where it
loaded, for the first answer from it; then ``settle_s`` more of steady serving. Records: ``requests.jsonl`` (one
``ServingRequest`` per request) and ``updates.jsonl`` (one ``ServingUpdate`` per version);
``run.json`` marks the cell finished. The client runs through the whole cell, so an
interrupted cell cannot be resumed in the middle: an earlier attempt's records are set aside
whole in ``attempt-<stamp>/`` (kept, never counted) and the cell is measured again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from .. import atomic
from ..errors import InputError
from ..locks import DirectoryLock
from ..rawdirs import ServingCellDir
from ..records import JsonLines, ServingParameters, ServingRequest, ServingUpdate, utc_stamp
from ..upload.latency import DelayProxy
from ..upload.netns import Namespace
from ..upload.objectstore import client, free_ports
from ..upload.plan import CellSpec
from ..upload.setups import SETUPS
from ..upload.transfer import store
from .client import Answer, Client
from .edge import EdgeProcesses
from .pods import DRAIN_S, MAX_SURGE, MAX_UNAVAILABLE
from .publishers import StorePublisher

MODEL = "intel54"
FEATURES = [37.1, 45.0, 2.68]   # one reading of the three inputs: humidity %, light lux, voltage V

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingSpec:
    setup: str
    method: str
    latency_ms: float
    model_mb: float
    updates: int
    poll_interval_s: float
    rate_per_s: float
    settle_s: float
    update_timeout_s: float
    request_timeout_s: float
    ready_timeout_s: float
    store: CellSpec            # the store, its bucket and part size, as an upload cell of this latency has them

    @property
    def study(self) -> str:
        return self.store.study

    def parameters(self, emulation: str, framework: str) -> ServingParameters:
        rollout = {"max_surge": MAX_SURGE, "max_unavailable": MAX_UNAVAILABLE,
                   "drain_s": float(DRAIN_S)} if self.method == "rollout" else {}
        return ServingParameters(setup=self.setup, method=self.method, latency_ms=float(self.latency_ms),
                                 model_mb=float(self.model_mb),
                                 poll_interval_s=self.poll_interval_s if self.method == "in-place" else None,
                                 rate_per_s=self.rate_per_s, emulation=emulation, framework=framework, **rollout)


class Recorder:
    """The client's answers as records of the update they ran through."""

    def __init__(self, spec: ServingSpec, parameters: ServingParameters, sink: Callable[[ServingRequest], None]):
        self.spec, self.parameters, self.sink = spec, parameters, sink
        self.update = 0
        self.versions_seen: set[str] = set()

    def __call__(self, answer: Answer) -> None:
        self.versions_seen.add(answer.model_version)
        self.sink(ServingRequest(study=self.spec.study, parameters=self.parameters, update=self.update,
                                 **asdict(answer)))


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def measure(spec: ServingSpec, parameters: ServingParameters, versions: list[Path], url: str,
            publish_version: Callable[[str, Path], tuple[float, float]], follow: Callable[[str], dict | None],
            request_sink: Callable[[ServingRequest], None], update_sink: Callable[[ServingUpdate], None]) -> None:
    """The client at its fixed rate through steady serving and every update. ``publish_version``
    uploads a version (its start and end); ``follow`` waits for the edge's account of it (None
    when none came in time)."""
    recorder, stop = Recorder(spec, parameters, request_sink), threading.Event()
    fixed_rate = Client(url, MODEL, FEATURES, spec.rate_per_s, spec.request_timeout_s)
    _first_answer(fixed_rate, spec.ready_timeout_s)
    with _client_running(fixed_rate, recorder, stop):
        time.sleep(spec.settle_s)   # steady serving before the first update
        label = f"{spec.setup} {spec.method} {spec.latency_ms:g} ms {spec.model_mb:g} MB"
        for number, path in enumerate(tqdm(versions[1:], unit="update", disable=None, desc=label), start=1):
            recorder.update = number
            update_sink(_one_update(spec, parameters, number, f"v{number + 1}", path, publish_version, follow,
                                    recorder))
            time.sleep(spec.settle_s)


def run_local(spec: ServingSpec, versions: list[Path], python: Path, framework: str,
              request_sink: Callable[[ServingRequest], None], update_sink: Callable[[ServingUpdate], None],
              namespace: Namespace | None = None) -> None:
    """The host and netns setups, in place: the edge's processes on this machine (in ``namespace``)."""
    listen = namespace.host_ip if namespace is not None else "127.0.0.1"
    with store(spec.store) as endpoint, DelayProxy((endpoint.host, endpoint.port), listen, spec.latency_ms,
                                                  spec.store.window_bytes) as (host, port):
        far = dataclasses.replace(endpoint, host=host, port=port)
        publisher = StorePublisher(client(far), spec.store.bucket, MODEL, spec.store.part_size)
        publisher.publish("v1", versions[0])
        cell = ServingCellDir(spec.store.out_dir)
        edge = EdgeProcesses(python, far, spec.store.bucket, MODEL, cell.models, cell.logs, free_ports(1)[0],
                             spec.poll_interval_s, spec.ready_timeout_s, namespace=namespace,
                             listen_host=namespace.peer_ip if namespace is not None else "127.0.0.1")
        with edge:
            measure(spec, spec.parameters("proxy", framework), versions, edge.url, publisher.publish,
                    lambda version: edge.observed(spec.update_timeout_s), request_sink, update_sink)


class EdgeNotAnswering(InputError):
    pass


def _first_answer(fixed_rate: Client, timeout_s: float) -> None:
    """Steady serving starts once the edge answers through the path the client uses. A ready
    server is not yet reachable everywhere (a Service's endpoints reach kube-proxy's rules a moment
    later): requests before that would measure the edge's start, not serving."""
    last: list[Answer] = []

    def answered() -> bool:
        last[:] = [fixed_rate.ask(time.time())]
        return last[0].status == 200 and last[0].model_version is not None

    if not wait_until(answered, timeout_s):
        raise EdgeNotAnswering(f"{fixed_rate.url}: no answer from the first version within {timeout_s:g} s "
                               f"(last: status {last[0].status}, {last[0].error})")


@contextlib.contextmanager
def _client_running(fixed_rate: Client, recorder: Recorder, stop: threading.Event):
    thread = threading.Thread(target=fixed_rate.run, args=(stop, recorder), name="client")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _one_update(spec: ServingSpec, parameters: ServingParameters, number: int, version: str, path: Path,
                publish_version: Callable[[str, Path], tuple[float, float]], follow: Callable[[str], dict | None],
                recorder: Recorder) -> ServingUpdate:
    started, ended = publish_version(version, path)
    upload = dict(study=spec.study, parameters=parameters, update=number, version=version, upload_started=started,
                  upload_ended=ended)
    observed = follow(version)
    if observed is None:
        return ServingUpdate(**upload, status="failed",
                             error=f"the edge did not take up the new version within {spec.update_timeout_s:g} s")
    if observed.pop("version") != version:
        raise RuntimeError(f"the edge reported another version than {version}: {observed}")
    update = ServingUpdate(**upload, **observed)
    if update.status == "ok" and not wait_until(lambda: version in recorder.versions_seen, spec.update_timeout_s):
        log.warning("%s loaded but no answer came from it within %g s", version, spec.update_timeout_s)
    return update


def run_cell(spec: ServingSpec, versions: list[Path], framework: str, python: Path | None = None,
             image: str | None = None) -> dict:
    """Measure one cell whole (an earlier, unfinished attempt set aside first); return its manifest.
    ``python``: the serving environment, for the edge as processes here (host, netns); ``image``:
    the serving image, for the edge as a pod (vm, pod; the cluster is ``spec.store.options``)."""
    if len(versions) != spec.updates + 1:
        raise InputError(f"serving cell {spec.store.out_dir}: {spec.updates} updates need {spec.updates + 1} "
                         f"versions, got {len(versions)}")
    on_cluster = SETUPS[spec.setup].on_cluster
    if spec.method == "rollout" and not on_cluster:
        raise InputError(f"serving setup {spec.setup}: the rollout method needs the edge as a pod (a setup on a "
                         f"cluster); use in-place")
    raw = ServingCellDir(spec.store.out_dir)
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
