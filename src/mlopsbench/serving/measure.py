"""What one serving cell measures, wherever its edge runs: the client at a fixed rate through
steady serving and every update, each request and update recorded.

``ServingSpec`` names the cell (its method, model size, updates, rates and timeouts, and the way
to the store it shares with the upload experiment). ``measure`` starts the client once the edge
answers through the path it uses, and for each new version publishes it, waits for the edge's
account of it (the method's), then for the first answer from it; then ``settle_s`` more of
steady serving.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ..errors import InputError
from ..records import ServingParameters, ServingRequest, ServingUpdate
from ..store.way import StoreWay
from .client import Answer, Client
from .methods import method

log = logging.getLogger(__name__)

MODEL = "intel54"
FEATURES = [37.1, 45.0, 2.68]   # one reading of the three inputs: humidity %, light lux, voltage V


@dataclass(frozen=True)
class ServingSpec:
    method: str
    model_mb: float
    updates: int
    poll_interval_s: float
    rate_per_s: float
    settle_s: float
    update_timeout_s: float
    request_timeout_s: float
    ready_timeout_s: float
    way: StoreWay              # the setup, the latency and the store the edge reads, with the cell's directory

    @property
    def setup(self) -> str:
        return self.way.setup

    @property
    def latency_ms(self) -> float:
        return self.way.latency_ms

    @property
    def study(self) -> str:
        return self.way.study

    def parameters(self, emulation: str, framework: str) -> ServingParameters:
        return ServingParameters(setup=self.setup, method=self.method, latency_ms=float(self.latency_ms),
                                 model_mb=float(self.model_mb), rate_per_s=self.rate_per_s, emulation=emulation,
                                 framework=framework, **method(self.method).recorded(self))


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
