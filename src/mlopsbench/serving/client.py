"""Predictions at a fixed rate through every update: the user who waits for the new model.

The client is open-loop, as users are: request i is due at ``start + i / rate`` whether or not
earlier ones have answered, so a server that stalls during a load shows as slow or failed
answers and not as a lower rate. Each request becomes one ``Answer``: when it was due and
sent, how long it took, the HTTP status, the version that answered (the V2 response's
``model_version``) and any error. A request that the client itself could not send on time
(every worker busy) keeps its due time, so the lag is visible.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import requests

# Requests in flight at once (one thread each). A server that stalls longer than IN_FLIGHT / rate
# seconds delays the requests after them; each keeps its due time, so the lag shows in the records.
IN_FLIGHT = 64


@dataclass(frozen=True)
class Answer:
    due: float                 # wall clock
    sent: float
    seconds: float | None
    status: int | None
    model_version: str | None
    error: str | None = None


def infer_body(features: list[float]) -> dict:
    """One row of the model's inputs, as the Open Inference (V2) protocol wants it."""
    return {"inputs": [{"name": "features", "shape": [1, len(features)], "datatype": "FP32", "data": features}]}


class Client:
    def __init__(self, server: str, model: str, features: list[float], rate_per_s: float, timeout_s: float):
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be above 0, got {rate_per_s}")
        self.url = f"{server}/v2/models/{model}/infer"
        self.body, self.rate, self.timeout = infer_body(features), rate_per_s, timeout_s
        self._sessions = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._sessions, "session"):
            self._sessions.session = requests.Session()
        return self._sessions.session

    def ask(self, due: float) -> Answer:
        sent, started = time.time(), time.perf_counter()
        try:
            response = self._session().post(self.url, json=self.body, timeout=self.timeout)
        except requests.RequestException as exc:
            return Answer(due, sent, None, None, None, f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            return Answer(due, sent, seconds, response.status_code, None, response.text[:500])
        try:
            version = response.json().get("model_version")
        except ValueError:
            return Answer(due, sent, seconds, 200, None, "the answer is not JSON")
        return Answer(due, sent, seconds, 200, version, None if version else "the answer names no model_version")

    def run(self, stop: threading.Event, sink: Callable[[Answer], None]) -> int:
        """Send at the fixed rate until ``stop`` is set; hand each answer to ``sink`` (from the
        workers' threads, in the order they end). Returns how many requests were sent."""
        sent = 0
        lock = threading.Lock()

        def one(due: float) -> None:
            answer = self.ask(due)
            with lock:
                sink(answer)

        with ThreadPoolExecutor(max_workers=IN_FLIGHT, thread_name_prefix="client") as pool:
            start_wall, start = time.time(), time.monotonic()
            while not stop.is_set():
                offset = sent / self.rate
                stop.wait(max(0.0, start + offset - time.monotonic()))
                if stop.is_set():
                    break
                pool.submit(one, start_wall + offset)
                sent += 1
        return sent
