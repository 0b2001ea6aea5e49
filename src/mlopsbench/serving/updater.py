"""The in-place update, as TF-Serving polls its model path: every poll interval, ask the store
for the LATEST pointer; when it names a new version, download that version beside the ones
already here, name it in REQUESTED and ask the server (KServe's repository extension) to load it.

Runs in the serving environment, beside the server: a process on this machine, or a second
container in the server's pod. Each update it sees is one JSON line on standard output, as
it ends (the wall-clock times of detection, download, load request and the server's answer,
and the server's reason where the load failed); a driver joins them to the upload's times.

    python -m mlopsbench.serving.updater --store HOST:PORT --bucket B --models-dir DIR --model NAME
        [--server http://127.0.0.1:PORT --poll-interval-s S]
        without --server: fetch the version LATEST names (or --version V) once, and exit: the server's first
        version, and in a roll-out the init container's fetch

The store's credentials come from the environment (``objectstore.ACCESS_KEY_VARS``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .. import atomic
from ..store.objectstore import client, endpoint_from_environment
from .versions import REQUESTED, local_path, object_key, pointer_key, requested


class Updater:
    def __init__(self, minio, bucket: str, models_dir: Path, model: str, server: str | None):
        self.minio, self.bucket, self.models_dir, self.model, self.server = minio, bucket, models_dir, model, server
        self.seen_etag: str | None = None

    def new_version(self) -> str | None:
        """The version LATEST names, if the pointer changed since the last call."""
        etag = self.minio.stat_object(self.bucket, pointer_key(self.model)).etag
        if etag == self.seen_etag:
            return None
        response = self.minio.get_object(self.bucket, pointer_key(self.model))
        try:
            version = response.read().decode().strip()
        finally:
            response.close()
            response.release_conn()
        self.seen_etag = etag
        return version

    def fetch(self, version: str) -> None:
        """Download ``version`` and name it in REQUESTED (both atomic: never a half file in place)."""
        path = local_path(self.models_dir, self.model, version)
        with atomic.atomic_path(path) as tmp:
            self.minio.fget_object(self.bucket, object_key(self.model, version), str(tmp))
        atomic.write_bytes(self.models_dir / self.model / REQUESTED, version.encode())

    def load(self) -> str | None:
        """Ask the server to load what REQUESTED names; None on success, else the server's reason."""
        request = urllib.request.Request(f"{self.server}/v2/repository/models/{self.model}/load", data=b"{}",
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {exc.read().decode(errors='replace')[:2000]}"
        except OSError as exc:
            return f"{self.server}: {exc}"

    def update(self, version: str, detected: float) -> dict:
        observed = {"version": version, "detected": detected, "download_started": time.time()}
        try:
            self.fetch(version)
        except Exception as exc:  # minio and urllib3 raise many kinds; each means this version did not arrive
            return observed | {"status": "failed", "error": f"download: {exc}"}
        observed |= {"download_ended": time.time(), "load_started": time.time()}
        reason = self.load()
        if reason is not None:
            return observed | {"status": "failed", "error": reason}
        return observed | {"ready": time.time(), "status": "ok"}

    def poll(self, interval_s: float) -> None:
        """Until stopped: one look at the store every ``interval_s``, on a fixed schedule. The
        version the server started with is no update."""
        due, handled = time.monotonic(), requested(self.models_dir, self.model)
        while True:
            version = self.new_version()
            if version is not None and version != handled:
                print(json.dumps(self.update(version, time.time()), sort_keys=True), flush=True)
                handled = version
            due += interval_s
            time.sleep(max(0.0, due - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlopsbench.serving.updater", description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True, help="host:port of the S3 store")
    parser.add_argument("--secure", action="store_true")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--server", help="the model server's URL; without it, fetch the current version and exit")
    parser.add_argument("--poll-interval-s", type=float, default=None)
    parser.add_argument("--version", help="without --server: fetch this version, not the one LATEST names")
    args = parser.parse_args(argv)
    if args.server and not (args.poll_interval_s and args.poll_interval_s > 0):
        parser.error("--server needs --poll-interval-s above 0")
    updater = Updater(client(endpoint_from_environment(args.store, args.secure)), args.bucket, args.models_dir,
                      args.model, args.server)
    if args.server is None:
        version = args.version or updater.new_version()
        started = time.time()
        updater.fetch(version)
        print(json.dumps({"version": version, "download_started": started, "download_ended": time.time()}),
              flush=True)
        return 0
    try:
        updater.poll(args.poll_interval_s)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
