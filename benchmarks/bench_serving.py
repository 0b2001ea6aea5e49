"""Benchmark: the serving experiment against its floor, in one run against one embedded SeaweedFS
and one KServe model server (the serving environment, built first if missing).

1. Time to serve at 0 ms against the sum of its parts measured alone: one upload of the version
   (file and pointer), one download of it, one load in the serving interpreter. Required: the
   median time to serve at most 1.2 x that sum plus the poll interval (the updater looks once
   per interval, so up to one interval passes before it sees the version).
2. The server's saturated prediction rate through our fixed-rate client (asked for three times
   what the bare loop got) against a bare closed loop of as many connections as the client keeps
   in flight, which only posts and reads. Both must saturate the server, or the ratio only shows
   what was asked for. Required: ratio at least 0.9.

    python benchmarks/bench_serving.py [--size-mib 16] [--updates 5] [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from _results import Results, json_option
from mlopsbench.data.models import build_upload_model
from mlopsbench.serving import env
from mlopsbench.serving.client import IN_FLIGHT, Client, infer_body
from mlopsbench.serving.edge import EdgeProcesses
from mlopsbench.serving.measure import FEATURES, MODEL
from mlopsbench.serving.versions import publish
from mlopsbench.store.objectstore import SeaweedFS, client, ensure_bucket, free_ports

REPO = Path(__file__).resolve().parents[1]
BUCKET, PART, POLL_S = "bench", 16 << 20, 1.0
CONNECTIONS = IN_FLIGHT   # the client's most requests in flight, so both saturate the server


def load_seconds(python: Path, path: Path, repeats: int) -> float:
    """The median time of the Keras load alone, in the serving interpreter (its imports not timed)."""
    code = ("import sys, time, keras\n"
            f"for _ in range({repeats}):\n"
            "    t = time.perf_counter(); keras.models.load_model(sys.argv[1], compile=False)\n"
            "    print(time.perf_counter() - t)\n")
    out = subprocess.run([str(python), "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    return statistics.median(float(line) for line in out.split())


def parts_alone(minio, python: Path, version: Path, tmp: Path, repeats: int) -> dict[str, float]:
    uploads, downloads = [], []
    for i in range(repeats):
        started, ended = publish(minio, BUCKET, "alone", f"a{i}", version, PART)
        uploads.append(ended - started)
        start = time.perf_counter()
        minio.fget_object(BUCKET, f"serving/alone/a{i}/model.keras", str(tmp / "fetched.keras"))
        downloads.append(time.perf_counter() - start)
    return {"upload": statistics.median(uploads), "download": statistics.median(downloads),
            "load": load_seconds(python, version, repeats)}


def time_to_serve(edge: EdgeProcesses, minio, versions: list[Path]) -> list[float]:
    """Each update's upload start to the first answer from it, asking 20 times a second."""
    seen: dict[str, float] = {}
    stop = threading.Event()

    def sink(answer):
        if answer.model_version and answer.seconds is not None:
            seen.setdefault(answer.model_version, answer.sent + answer.seconds)

    fixed_rate = Client(edge.url, MODEL, FEATURES, 20.0, 30.0)
    thread = threading.Thread(target=fixed_rate.run, args=(stop, sink))
    thread.start()
    served = []
    try:
        for number, path in enumerate(versions[1:], start=2):
            started, _ = publish(minio, BUCKET, MODEL, f"v{number}", path, PART)
            deadline = time.monotonic() + 300
            while f"v{number}" not in seen and time.monotonic() < deadline:
                time.sleep(0.01)
            served.append(seen[f"v{number}"] - started)
            edge.observed(timeout_s=30)
            time.sleep(1)
    finally:
        stop.set()
        thread.join()
    return served


def bare_rate(url: str, seconds: float) -> float:
    """Answers per second of CONNECTIONS closed loops that only post and read."""
    body, stop, counts = infer_body(FEATURES), time.monotonic() + seconds, []

    def loop() -> None:
        session, answered = requests.Session(), 0
        while time.monotonic() < stop:
            answered += session.post(f"{url}/v2/models/{MODEL}/infer", json=body, timeout=30).status_code == 200
        counts.append(answered)

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for _ in range(CONNECTIONS):
            pool.submit(loop)
    return sum(counts) / seconds


def client_rate(url: str, seconds: float, asked_per_s: float) -> float:
    """Answers per second through our fixed-rate client, asked for more than the server answers.
    The client answers every request it sent, a backlog included, so the time runs to its last answer."""
    answered, stop = [], threading.Event()
    fixed_rate = Client(url, MODEL, FEATURES, asked_per_s, 30.0)
    thread = threading.Thread(target=fixed_rate.run, args=(stop, lambda a: answered.append(a.status == 200)))
    start = time.monotonic()
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return sum(answered) / (time.monotonic() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=float, default=16)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20)
    json_option(parser)
    args = parser.parse_args()
    results = Results(args)
    python = env.python(REPO)
    with tempfile.TemporaryDirectory() as folder, SeaweedFS(Path(folder) / "store") as endpoint:
        tmp = Path(folder)
        ensure_bucket(endpoint, BUCKET)
        minio = client(endpoint)
        versions = [tmp / f"v{n}.keras" for n in range(1, args.updates + 2)]
        for seed, path in enumerate(versions, start=1):
            build_upload_model(args.size_mib, "MiB", 3, path, seed=seed)
        alone = parts_alone(minio, python, versions[0], tmp, args.updates)
        floor = sum(alone.values())
        publish(minio, BUCKET, MODEL, "v1", versions[0], PART)
        with EdgeProcesses(python, endpoint, BUCKET, MODEL, tmp / "models", tmp / "logs", free_ports(1)[0], POLL_S,
                           ready_timeout_s=600) as edge:
            served = results.measured("time to serve at 0 ms", time_to_serve(edge, minio, versions))
            bare = bare_rate(edge.url, args.seconds)
            ours = client_rate(edge.url, args.seconds, asked_per_s=3 * bare)
    parts = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in alone.items())
    print(f"{args.size_mib:g} MiB at 0 ms: parts alone {parts}; sum {floor:.3f} s (medians of {args.updates})")
    allowed = 1.2 * floor + POLL_S
    for name, seconds in alone.items():
        results.measured(f"{name} alone (median)", [seconds])
    ok_time = results.ratio("time to serve / sum of its parts", served / floor, f"<= 1.2 + poll {POLL_S:g} s / sum",
                            served <= allowed)
    print(f"time to serve median {served:.3f} s; ratio to the sum {served / floor:.2f}; allowed <= 1.2 x sum + "
          f"poll {POLL_S:g} s = {allowed:.3f} s {'ok' if ok_time else 'FAIL'}")
    results.measured("steady rate, our client", [ours], "requests/s")
    results.measured("steady rate, bare loop", [bare], "requests/s")
    ok_rate = results.ratio("rate ours / bare loop", ours / bare, ">= 0.9", ours / bare >= 0.9)
    print(f"steady rate: our client {ours:.1f}/s, bare loop of {CONNECTIONS} connections {bare:.1f}/s "
          f"asked {3 * bare:.0f}/s; ratio {ours / bare:.3f} (required >= 0.9) "
          f"{'ok' if ok_rate else 'FAIL'}")
    results.write()
    return 0 if ok_time and ok_rate else 1


if __name__ == "__main__":
    sys.exit(main())
