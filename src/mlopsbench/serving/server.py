"""The edge's model server: KServe's ModelServer, the regression model behind the Open Inference
(V2) protocol, every answer naming the version that gave it.

Runs in the serving environment (``serving.env``), as a process on this machine or as a pod:

    python -m mlopsbench.serving.server --models-dir DIR --model NAME --http-port PORT

It starts with the version that ``<DIR>/<NAME>/REQUESTED`` names. KServe's repository
extension (``POST /v2/repository/models/NAME/load``) then loads the version REQUESTED names
at that moment: in a thread beside the version that serves, which keeps answering; only
once the new one has loaded does the repository switch to it. A version that fails to
load leaves the old one serving, and the load answers with KServe's error and the reason.

A pod about to stop asks for its drain (``GET /drain``, Kubernetes's preStop hook): for
``--drain-s`` seconds the server still answers, but every answer closes its connection, so
clients reconnect, through the Service, to the pod that replaces it. Without that a client's
kept-alive connections stay with the old pod (conntrack keeps an established connection on its
endpoint) until it stops and closes them: a roll-out's new version then answered only after the
drain, and a request sent as the old pod closed was reset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

import kserve
from kserve import InferOutput, InferRequest, InferResponse, ModelRepository, ModelServer
from kserve.model_server import app as kserve_app

from .versions import DRAIN_PATH, LOADED, local_path, requested

log = logging.getLogger(__name__)


class KerasRegressor(kserve.Model):
    """One version of the regression model of Section 5.3.2."""

    def __init__(self, name: str, version: str, path: Path):
        super().__init__(name)
        self.version, self.path, self.keras_model = version, path, None

    def load(self) -> bool:
        import keras

        self.keras_model = keras.models.load_model(self.path, compile=False)
        self.ready = True
        return self.ready

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        features = payload.inputs[0].as_numpy().astype("float32")
        values = self.keras_model(features, training=False).numpy()
        output = InferOutput(name="prediction", shape=list(values.shape), datatype="FP32")
        output.set_data_from_numpy(values, binary_data=False)
        # The Open Inference protocol's request id is optional; KServe's response needs one.
        return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                             model_version=self.version, infer_outputs=[output])


class VersionedRepository(ModelRepository):
    """Loads the version REQUESTED names beside the serving one, then switches to it."""

    def __init__(self, models_dir: Path):
        super().__init__(str(models_dir))
        self.root = models_dir

    def version_model(self, name: str) -> KerasRegressor:
        version = requested(self.root, name)
        if version is None:
            raise FileNotFoundError(f"{self.root / name}: no version downloaded yet")
        return KerasRegressor(name, version, local_path(self.root, name, version))

    async def load(self, name: str) -> bool:
        model = self.version_model(name)
        # Loading takes seconds for a large model: off the event loop, so the old version keeps answering.
        await asyncio.to_thread(model.load)
        self.update(model)
        log.info("%s: version %s serves", name, model.version)
        return model.ready


class Drain:
    """The server's last seconds: from ``started`` on, every answer closes its connection."""

    def __init__(self, seconds: float):
        self.seconds, self.started = seconds, None

    async def run(self) -> dict:
        """The preStop hook's request: answers once the drain is over, so the pod stops after it."""
        if self.started is None:
            self.started = time.time()
            log.info("draining for %g s: every answer closes its connection", self.seconds)
        await asyncio.sleep(max(0.0, self.started + self.seconds - time.time()))
        return {"drain_started": self.started, "drain_s": self.seconds}


class ClosingWhileDraining:
    """ASGI middleware: ``Connection: close`` on every answer once ``drain`` has started."""

    def __init__(self, app, drain: Drain):
        self.app, self.drain = app, drain

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def closing(message):   # asked as the answer starts: a request begun before the drain closes too
            if message["type"] == "http.response.start" and self.drain.started is not None:
                message = message | {"headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        return await self.app(scope, receive, closing)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mlopsbench.serving.server", description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--drain-s", type=float, default=0.0,
                        help=f"seconds a GET {DRAIN_PATH} keeps answering, closing each connection, before it returns")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    repository = VersionedRepository(args.models_dir)
    first = repository.version_model(args.model)
    started = time.time()
    first.load()
    # One line a driver can find in the log: a roll-out's new pod reports its load this way.
    print(json.dumps({"event": LOADED, "version": first.version, "load_started": started,
                      "load_ended": time.time()}), flush=True)
    # KServe serves its module-level app; what is added to it before the server starts is served with it.
    drain = Drain(args.drain_s)
    kserve_app.add_middleware(ClosingWhileDraining, drain=drain)
    kserve_app.add_api_route(DRAIN_PATH, drain.run, methods=["GET"])
    ModelServer(http_port=args.http_port, enable_grpc=False, workers=1,
                registered_models=repository).start([first])


if __name__ == "__main__":
    main()
