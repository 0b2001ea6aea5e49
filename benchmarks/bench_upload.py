"""Benchmark: the upload path's own cost, and what each round trip of latency costs.

Against one embedded SeaweedFS, in the same run:

1. Overhead at 0 ms: throughput of our worker (fresh client, delay proxy at 0 ms,
   verification outside the timed call) over one direct minio-SDK PUT of the same
   bytes to the same store. Required: at least 0.9.
2. Cost per round trip at 50 ms: (time at 50 ms - time at 0 ms) / (HTTP requests x 50 ms),
   for a single PUT and a multipart upload. Printed: how many round trips each request
   costs (a new connection's handshake, the request, and window-limited transfer).

    python benchmarks/bench_upload.py [--repeats 11] [--size-mib 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import Results, json_option
from mlopsbench.store.latency import DelayProxy
from mlopsbench.store.objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, SeaweedFS, client, ensure_bucket
from mlopsbench.upload.worker import request_count

MIB = 1 << 20
PART = 16 * MIB
BUCKET = "bench"


def worker_seconds(endpoint, address: tuple[str, int], path: Path, repeats: int) -> list[float]:
    plan = [{"path": str(path), "model_mb": 0, "rep": i, "object": f"w{i}"} for i in range(repeats)]
    env = os.environ | {ACCESS_KEY_VARS[0]: endpoint.access_key, SECRET_KEY_VARS[0]: endpoint.secret_key}
    out = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "upload-worker", "--endpoint",
                          f"{address[0]}:{address[1]}", "--bucket", BUCKET, "--part-size", str(PART)],
                         input=json.dumps(plan), capture_output=True, text=True, env=env).stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert all(r["status"] == "ok" for r in records), records
    return [r["seconds"] for r in records]


def direct_seconds(endpoint, path: Path) -> float:
    minio = client(endpoint)
    start = time.perf_counter()
    minio.fput_object(BUCKET, "direct", str(path), part_size=PART)
    seconds = time.perf_counter() - start
    minio.remove_object(BUCKET, "direct")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--size-mib", type=int, default=64)
    json_option(parser)
    args = parser.parse_args()
    results = Results(args)
    with tempfile.TemporaryDirectory() as tmp, SeaweedFS(Path(tmp) / "store") as endpoint:
        ensure_bucket(endpoint, BUCKET)
        large, small = Path(tmp) / "large.bin", Path(tmp) / "small.bin"
        large.write_bytes(os.urandom(args.size_mib * MIB))
        small.write_bytes(os.urandom(8 * MIB))
        upstream = (endpoint.host, endpoint.port)

        ours, direct = [], []
        with DelayProxy(upstream, rtt_ms=0) as address:
            for _ in range(args.repeats):  # alternated, so drift hits both
                ours += worker_seconds(endpoint, address, large, 1)
                direct.append(direct_seconds(endpoint, large))
        # Median of the alternated pairs' ratios: drift of the machine hits both sides of a pair.
        ratio = statistics.median(d / o for d, o in zip(direct, ours))  # throughput ours / direct
        results.measured(f"upload through the proxy at 0 ms, {args.size_mib} MiB", ours)
        results.measured(f"direct PUT, {args.size_mib} MiB", direct)
        mb = large.stat().st_size / 1e6
        print(f"0 ms, {args.size_mib} MiB: ours {mb / statistics.median(ours):.0f} MB/s, "
              f"direct PUT {mb / statistics.median(direct):.0f} MB/s (medians of {args.repeats})")
        ok = results.ratio("throughput ours / direct", ratio, ">= 0.9", ratio >= 0.9)
        print(f"throughput ratio ours/direct = {ratio:.3f} (required >= 0.9) {'ok' if ok else 'FAIL'}")

        for path in (small, large):
            times = {}
            for rtt in (0, 50):
                with DelayProxy(upstream, rtt_ms=rtt) as address:
                    times[rtt] = statistics.median(worker_seconds(endpoint, address, path, args.repeats))
            requests = request_count(path.stat().st_size, PART)
            per_request = (times[50] - times[0]) / (requests * 0.050)
            results.measured(f"round trips per request at 50 ms, {path.stat().st_size // MIB} MiB", [per_request],
                             "round trips")
            print(f"50 ms, {path.stat().st_size // MIB} MiB ({requests} request{'s' * (requests > 1)}): "
                  f"{times[0]:.3f} s -> {times[50]:.3f} s, {per_request:.2f} round trips per request")
    results.write()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
