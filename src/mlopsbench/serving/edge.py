"""The edge as processes on this machine (the host and netns setups): the model server and its
updater, started in the serving environment, optionally inside a network namespace.

``with EdgeProcesses(...) as edge:`` fetches the version the store's pointer names, starts the
server on it, waits until KServe says the model is ready, then starts the updater polling the
store; ``edge.observed(timeout)`` hands over the next update the updater saw. Both processes
log to files in ``log_dir``, and both are stopped on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time
from pathlib import Path

import requests

from ..store.netns import Namespace
from ..store.objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint
from . import env


class EdgeError(RuntimeError):
    pass


class EdgeProcesses:
    def __init__(self, python: Path, store: Endpoint, bucket: str, model: str, models_dir: Path, log_dir: Path,
                 http_port: int, poll_interval_s: float, ready_timeout_s: float, namespace: Namespace | None = None,
                 listen_host: str = "127.0.0.1", drain_s: float = 0.0):
        self.python, self.store, self.bucket, self.model = python, store, bucket, model
        self.models_dir, self.log_dir, self.namespace = models_dir, log_dir, namespace
        self.url = f"http://{listen_host}:{http_port}"
        self.http_port, self.poll_interval_s, self.ready_timeout_s = http_port, poll_interval_s, ready_timeout_s
        self.drain_s = drain_s   # the server's drain on ``GET DRAIN_PATH`` (a pod's preStop asks for it)
        self._processes: list[subprocess.Popen] = []
        self._observed: queue.Queue[dict] = queue.Queue()

    def _argv(self, module: str, *args: str) -> list[str]:
        argv = [str(self.python), "-m", f"mlopsbench.serving.{module}", *args]
        return self.namespace.command(argv) if self.namespace is not None else argv

    def _updater_args(self) -> list[str]:
        return ["--store", self.store.address, *(["--secure"] if self.store.secure else []), "--bucket", self.bucket,
                "--models-dir", str(self.models_dir), "--model", self.model]

    def __enter__(self) -> "EdgeProcesses":
        process_env = env.environment(self.python) | {ACCESS_KEY_VARS[0]: self.store.access_key,
                                                      SECRET_KEY_VARS[0]: self.store.secret_key}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        first = subprocess.run(self._argv("updater", *self._updater_args()), env=process_env, capture_output=True,
                               text=True, timeout=self.ready_timeout_s)
        if first.returncode != 0:
            raise EdgeError(f"fetching the first version from {self.store.url} failed: {first.stderr[-2000:]}")
        try:
            with (self.log_dir / "server.log").open("ab") as log:
                self._processes.append(subprocess.Popen(
                    self._argv("server", "--models-dir", str(self.models_dir), "--model", self.model, "--http-port",
                               str(self.http_port), "--drain-s", f"{self.drain_s:g}"),
                    env=process_env, stdout=log, stderr=subprocess.STDOUT))
            self._wait_ready()
            with (self.log_dir / "updater.log").open("ab") as log:
                updater = subprocess.Popen(
                    self._argv("updater", *self._updater_args(), "--server", f"http://127.0.0.1:{self.http_port}",
                               "--poll-interval-s", str(self.poll_interval_s)),
                    env=process_env, stdout=subprocess.PIPE, stderr=log, text=True)
            self._processes.append(updater)
            threading.Thread(target=self._read, args=(updater,), daemon=True).start()
        except BaseException:
            self._stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline, server = time.monotonic() + self.ready_timeout_s, self._processes[0]
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise EdgeError(f"the model server exited with {server.returncode}; see {self.log_dir / 'server.log'}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/v2/models/{self.model}/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise EdgeError(f"the model server at {self.url} was not ready after {self.ready_timeout_s:g} s; "
                        f"see {self.log_dir / 'server.log'}")

    def _read(self, updater: subprocess.Popen) -> None:
        for line in updater.stdout:
            self._observed.put(json.loads(line))

    def observed(self, timeout_s: float) -> dict | None:
        """The next update the updater saw, or None if it saw none within ``timeout_s``."""
        try:
            return self._observed.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def _stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def __exit__(self, *exc) -> None:
        self._stop()
