"""The kube-state-metrics collector against a real Prometheus (Debian's package) on loopback,
loaded with backfilled series: a pod that vanished mid-run and a series that never existed."""

import shutil
import subprocess
import time

import pytest
import requests

from mlopsbench.pipeline.prometheus import SERIES, PrometheusError, collect, read_saved
from mlopsbench.store.objectstore import free_ports

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (shutil.which("prometheus") and shutil.which("promtool")),
                                 reason="Debian's prometheus package is not installed")]

T0 = (int(time.time()) // 3600 - 3) * 3600  # three hours ago, on the hour: old enough to backfill
RUN_END = T0 + 60
NS = "mlopsbench"
SCRAPE_S = 5  # the backfilled series' step, and the scrape interval the collector is told
# pod: (created, scheduled, started, finished or None, last second it was scraped)
PODS = {
    "run1-preprocessing": (T0 + 1, T0 + 1, T0 + 3, T0 + 9, RUN_END),
    "run1-createdict": (T0 + 10, T0 + 10, T0 + 12, T0 + 13, T0 + 15),  # deleted after one scrape
    "run1-dnnfit": (T0 + 14, T0 + 15, T0 + 17, None, RUN_END),         # never completed in the window
}


def openmetrics() -> str:
    lines = []
    for field, metric in SERIES.items():
        lines.append(f"# TYPE {metric} gauge")
        for pod, (created, scheduled, started, finished, last) in PODS.items():
            value = {"created": created, "scheduled": scheduled, "started": started, "finished": finished}[field]
            if value is None:
                continue
            for ts in range(T0, last + 1, SCRAPE_S):
                if ts >= (created if field == "created" else value):
                    lines.append(f'{metric}{{namespace="{NS}",pod="{pod}"}} {value} {ts}')
    return "\n".join(lines + ["# EOF"]) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    root = tmp_path_factory.mktemp("prometheus")
    (root / "series.om").write_text(openmetrics())
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(root / "series.om"),
                    str(root / "data")], check=True, capture_output=True)
    (root / "prometheus.yml").write_text(f"global:\n  scrape_interval: {SCRAPE_S:g}s\n")
    port = free_ports(1)[0]
    log = (root / "prometheus.log").open("wb")
    server = subprocess.Popen(["prometheus", f"--config.file={root / 'prometheus.yml'}",
                               f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.25)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_collects_all_four_times_and_saves_raw_json(prometheus, tmp_path):
    times = collect(prometheus, NS, list(PODS), T0, RUN_END, tmp_path, SCRAPE_S)
    assert times["run1-preprocessing"] == {"created": T0 + 1, "scheduled": T0 + 1, "started": T0 + 3,
                                           "finished": T0 + 9}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{m}.json" for m in SERIES.values()] +
                                                                 ["pods_seen.json"])
    assert read_saved(tmp_path) == times


def test_pod_that_vanished_mid_run_is_still_found(prometheus, tmp_path):
    times = collect(prometheus, NS, list(PODS), T0, RUN_END, tmp_path, SCRAPE_S)
    assert times["run1-createdict"]["finished"] == T0 + 13


def test_series_missing_entirely_is_none(prometheus, tmp_path):
    times = collect(prometheus, NS, list(PODS) + ["run1-ghost"], T0, RUN_END, tmp_path, SCRAPE_S)
    assert times["run1-dnnfit"]["finished"] is None and times["run1-dnnfit"]["started"] == T0 + 17
    assert times["run1-ghost"] == dict.fromkeys(SERIES)


def test_a_window_without_any_scrape_is_an_error_not_missing_pods(prometheus, tmp_path):
    with pytest.raises(PrometheusError, match="no kube-state-metrics series .* scrapes failing"):
        collect(prometheus, NS, list(PODS), T0 - 600, T0 - 540, tmp_path, SCRAPE_S)
    assert (tmp_path / "pods_seen.json").exists()  # the raw answer is kept all the same


def test_errors_name_the_server(prometheus, tmp_path):
    with pytest.raises(PrometheusError, match=prometheus):
        collect(prometheus, 'bad"quote', ["x"], T0, RUN_END, tmp_path, SCRAPE_S)
    port = free_ports(1)[0]
    with pytest.raises(PrometheusError, match=f"http://127.0.0.1:{port}: query failed"):
        collect(f"http://127.0.0.1:{port}", NS, ["x"], T0, RUN_END, tmp_path, SCRAPE_S, timeout=2)
