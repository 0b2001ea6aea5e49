"""Pod lifecycle times from kube-state-metrics, through the Prometheus HTTP API.

The four series of Section 4.1 (creation, scheduling, start and completion time of a
pod) are whole-second Unix times. A short pod can vanish between scrapes, so each is
read with ``max_over_time`` over the run's window at its end: a pod seen in any scrape
of the window is found. Every raw response is saved as JSON before it is parsed.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import requests

from .. import atomic
from ..errors import InputError

SERIES = {"created": "kube_pod_created", "scheduled": "kube_pod_status_scheduled_time",
          "started": "kube_pod_start_time", "finished": "kube_pod_completion_time"}


class PrometheusError(InputError):
    pass


def _regex_literal(name: str) -> str:
    """``name`` as an RE2 literal inside a PromQL string (backslashes doubled)."""
    return re.sub(r"[.^$*+?()\[\]{}|\\]", lambda m: "\\\\" + m.group(0), name)


def _query(url: str, promql: str, at: float, timeout: float) -> dict:
    try:
        response = requests.get(f"{url.rstrip('/')}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"},
                                timeout=timeout)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise PrometheusError(f"{url}: query failed: {exc}") from None
    if body.get("status") != "success":
        raise PrometheusError(f"{url}: {body.get('errorType', 'error')}: {body.get('error', response.text[:200])}")
    return body


def collect(url: str, namespace: str, pods: list[str], start: float, end: float, out_dir: str | Path,
            scrape_interval: float, timeout: float = 30.0) -> dict[str, dict[str, float | None]]:
    """{pod: {created, scheduled, started, finished}}; None where Prometheus never saw it.

    The window runs from ``start`` to ``end`` plus two scrape intervals, so the last
    scrape after a pod ends still counts; the query waits until that time has come. Raw
    responses go to ``out_dir/<series>.json``. A window without any kube-state-metrics series
    (no scrape worked) is an error, not a run of pods that were all missed.
    """
    window = math.ceil(end - start + 2 * scrape_interval)
    at = end + 2 * scrape_interval
    # Ask once the last scrape after the run has happened (the pods still exist until then).
    time.sleep(max(0.0, at - time.time()))
    selector = f'namespace="{namespace}",pod=~"{"|".join(map(_regex_literal, pods))}"'
    times: dict[str, dict[str, float | None]] = {pod: dict.fromkeys(SERIES) for pod in pods}
    for field, metric in SERIES.items():
        promql = f"max_over_time({metric}{{{selector}}}[{window}s])"
        body = _query(url, promql, at, timeout)
        atomic.write_json(Path(out_dir) / f"{metric}.json", {"query": promql, "time": at, "response": body})
        for sample in body["data"]["result"]:
            pod = sample["metric"].get("pod")
            if pod in times:
                times[pod][field] = float(sample["value"][1])
    # A pod missing from every series was short-lived, or no scrape of kube-state-metrics worked: tell
    # them apart by any pod of the cluster (there are always some), whatever the scrape job's name.
    promql = f"count(max_over_time({SERIES['created']}[{window}s]))"
    body = _query(url, promql, at, timeout)
    atomic.write_json(Path(out_dir) / "pods_seen.json", {"query": promql, "time": at, "response": body})
    if not body["data"]["result"]:
        raise PrometheusError(f"{url}: no kube-state-metrics series between {start:.0f} and {at:.0f}: "
                              f"were its scrapes failing?")
    return times


def read_saved(out_dir: str | Path) -> dict[str, dict[str, float | None]]:
    """The same mapping, from the raw responses saved by ``collect``."""
    times: dict[str, dict[str, float | None]] = {}
    for field, metric in SERIES.items():
        path = Path(out_dir) / f"{metric}.json"
        if not path.exists():
            continue
        for sample in json.loads(path.read_text())["response"]["data"]["result"]:
            times.setdefault(sample["metric"]["pod"], dict.fromkeys(SERIES))[field] = float(sample["value"][1])
    return times
