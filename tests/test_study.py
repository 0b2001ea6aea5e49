"""Integration test: one reduced study end to end with Snakemake, covering every backend, upload
setup and serving method on the local cluster this package starts, in the thesis's topology: a core
node (the control plane, the steps) and an edge node (the store, the model server) behind its own
delayed link.

Data, models, the three experiments, statistics, figures, the PDF and Snakemake's HTML report,
from a tiny file in the published format: the pipeline in blocks on the kubernetes, local and
monolithic backends (calibrated), uploads in the host, netns, vm and pod setups at two
latencies, and the serving cells of every setup and method. The report's Kubernetes rows come
from the raw pod exports, a finished study is never redone, and the cluster is left as it was.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from mlopsbench.cluster import lifecycle
from mlopsbench.cluster.nodes import CORE_EDGE
from mlopsbench.data.synthetic import write_published_file

pytestmark = pytest.mark.integration

SIZES, WIDTHS = (0.1, 0.5), (8, 16)


def reduced_config(repo, path):
    """The local cluster's quick design, smaller: 3 configurations (0.1 and 0.5 MB with 8x8x8, and
    16x16x16 on 0.5 MB), one block each, one epoch; one upload per cell at 0 and 50 ms; two updates
    per serving cell at 0 ms."""
    config = yaml.safe_load((repo / "config/cluster-local.yaml").read_text())
    config["data"]["dataset_sizes_mb"] = list(SIZES)
    config["model"]["widths"] = list(WIDTHS)
    config["training"]["epochs"] = 1
    config["pipeline"] |= {"repetitions": 1, "model_series_dataset_mb": SIZES[-1]}
    config["upload"] |= {"repetitions": 1, "model_sizes_mb": [1], "latencies_ms": [0, 50]}
    config["serving"] |= {"latencies_ms": [0], "model_sizes_mb": [1], "updates": 2}
    config["kubernetes"]["nodes"] = [{"name": s.name, "role": s.role, "cpu": s.cpu,
                                      "memory": f"{s.memory_mib}Mi" if s.memory_mib else None} for s in CORE_EDGE]
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(repo, work, *args, env):
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(work),
                           "--cores", "2", *args], capture_output=True, text=True, env=env)


@pytest.mark.alone  # its delayed cells check their round trip to 1 ms
def test_reduced_study_end_to_end(repo, two_nodes, tmp_path, cli_env):
    work = tmp_path / "study"
    write_published_file(work / "data/raw/intel_lab/data.txt.gz", 6000, seed=11)
    config = ["--configfile", str(reduced_config(repo, tmp_path / "reduced.yaml"))]
    result = snakemake(repo, work, *config, env=cli_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # The data and the models.
    counts = json.loads((work / "data/interim/node54_counts.json").read_text())
    assert counts["kept"] > 50 and counts["lines_read"] == 6000
    node_rows = (work / "data/interim/node54.csv").read_text().splitlines()
    assert node_rows[0] == "humidity,light,voltage,temperature" and len(node_rows) == counts["kept"] + 1
    longest = max(map(len, node_rows)) + 1
    for size in SIZES:
        actual = (work / f"data/datasets/intel54_{size:g}MB.csv").stat().st_size
        assert size * 1e6 <= actual < size * 1e6 + longest
    for width, params in {8: 185, 16: 625}.items():
        info = json.loads((work / f"data/models/regression/dnn_{width}x{width}x{width}.json").read_text())
        assert info["trainable_params"] == params
    info = json.loads((work / "data/models/upload/model_1MB.json").read_text())
    assert abs(info["bytes"] / 2**20 - 1) < 0.02
    assert "kept" in (work / "logs/data/filter_node54.log").read_text()

    # The pipeline: three blocks, every backend in each, every run calibrated on one interpreter.
    steps = pd.read_parquet(work / "results/tidy/pipeline_steps.parquet")
    runs = pd.read_parquet(work / "results/tidy/pipeline_runs.parquet")
    assert len(runs) == 3 * 3 and (runs["status"] == "succeeded").all() and runs["block"].nunique() == 3
    assert all(sorted(group["block_position"]) == [0, 1, 2] for _, group in runs.groupby("block"))
    assert (runs["cal_before_keras_step_s"] > 0).all() and (runs["cal_python"] == runs["python"]).all()
    primary = steps[steps["timestamp_source"].isin(["watch", "local-runner", "in-process"])]
    assert len(primary) == 9 * 9 and (primary["status"] == "succeeded").all()
    assert set(primary["backend"]) == {"kubernetes", "local", "monolithic"}
    pods = steps[steps["backend"] == "kubernetes"]
    assert set(pods["timestamp_source"]) == {"watch", "api", "prometheus"}
    assert (pods.loc[pods["timestamp_source"] == "watch", "peak_rss_mib"] > 0).all()  # the pods' own count
    # Each pod's container has a cgroup and a CPU limit of its own: every pod reads its quota's count.
    periods = pods.loc[pods["timestamp_source"] == "watch", "cfs_periods"]
    assert periods.notna().all() and (periods > 0).any()
    # /proc/stat in a pod is the machine's: every pod reads the machine's busy CPU over its cells,
    # and its own threads' run queue and major faults.
    marks = ["machine_busy_seconds", "run_queue_seconds", "major_faults"]
    assert pods.loc[pods["timestamp_source"] == "watch", marks].notna().all().all()
    raw = work / "results/raw/pipeline/8x8x8_0.1MB/1/kubernetes"
    assert (raw / "events.jsonl").exists() and (raw / "watch.jsonl").exists()
    assert (raw / "prometheus/kube_pod_created.json").exists() and (raw / "logs/dnnfit.log").exists()
    assert (raw.parent / "block.json").exists()
    placed = {json.loads(line).get("node") for line in (raw / "watch.jsonl").read_text().splitlines()}
    assert placed - {None} == {"mlopsbench-core"}   # the steps on the core node

    # The uploads, in every setup.
    uploads = pd.read_parquet(work / "results/tidy/uploads.parquet")
    assert len(uploads) == 4 * 2 and uploads["verified"].all()
    assert set(uploads["setup"]) == {"host", "netns", "vm", "pod"}
    assert set(uploads.loc[uploads["setup"] == "pod", "emulation"]) == {"nfqueue"}  # the kernel-path delay
    checked = json.loads((work / "results/raw/upload/pod/50ms/delay.json").read_text())
    assert checked["link"] == "edge node" and checked["round_trip_ok"] and checked["throughput_ok"]

    # Serving: host and netns in place; vm and pod in place and rolled out; two updates each.
    served = pd.read_parquet(work / "results/tidy/serving_updates.parquet")
    assert len(served) == (1 + 1 + 2 + 2) * 2 and (served["status"] == "ok").all()
    assert set(zip(served["setup"], served["method"])) == {
        ("host", "in-place"), ("netns", "in-place"), ("vm", "in-place"), ("vm", "rollout"), ("pod", "in-place"),
        ("pod", "rollout")}
    assert (served["failed_requests"] + served["unanswered_requests"] == 0).all()
    assert (served["time_to_serve_s"] > 0).all()

    # Figures name the raw exports they rest on; the report sets the thesis beside ours.
    for name in ("fig15_overhead_dataset", "fig_overhead_parts", "fig_pod_cost", "fig_calibration"):
        sources = json.loads((work / f"results/figures/{name}.json").read_text())["sources"]
        assert any(s.startswith("results/raw/pipeline/8x8x8_0.1MB/1/kubernetes/") for s in sources), (name, sources)
    report = subprocess.run(["pdftotext", str(work / "results/report/report.pdf"), "-"], capture_output=True,
                            text=True, check=True).stdout
    text = " ".join(report.split())
    assert "Thesis against reproduction" in report and "fig19_uploads." in report
    assert "Beyond the thesis: time to serve a new model" in report and "fig_serving_time." in report
    assert "not the full published file" in report  # the synthetic input is named as such
    assert "more than the same step run as a local process (local), paired within blocks" in text
    assert "The same overhead on three clocks" in text and "Where the clocks part" in text
    assert "kubernetes backend:" in text and "C9-vm-pod" in text and "C9-host-netns" in text
    assert "Jobs ran as local processes" not in text

    html = snakemake(repo, work, "--report", str(work / "report.html"), *config, env=cli_env)
    assert html.returncode == 0, html.stderr[-2000:]
    page = (work / "report.html").read_text(errors="replace")
    assert "Figure 15 analogue" in page and "fig19_uploads.png" in page  # captions from the figure registry

    # Finished targets are never redone: an interrupted study resumes where it stopped.
    again = snakemake(repo, work, "-n", *config, env=cli_env)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert lifecycle.status() is not None  # it was up before the study, so it stays up
    assert not (work / "logs/cluster/hold.json").exists()
