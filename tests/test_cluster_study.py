"""Integration test: a reduced cluster study end to end on the local cluster, with Snakemake.

One configuration, one repetition, two latencies: the pipeline on the kubernetes, local and
monolithic backends, uploads in the host, vm and pod setups, then statistics and the PDF. The
report's Kubernetes rows come from the raw pod exports, and the cluster is left as it was.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from mlopsbench.cluster import lifecycle
from mlopsbench.data.synthetic import write_published_file

pytestmark = pytest.mark.integration


def reduced_config(repo, path):
    config = yaml.safe_load((repo / "config/cluster-local.yaml").read_text())
    config["data"]["dataset_sizes_mb"] = [0.1]
    config["model"]["widths"] = [8]
    config["training"]["epochs"] = 1
    config["pipeline"] |= {"repetitions": 1, "model_series_dataset_mb": 0.1}
    config["upload"] |= {"repetitions": 1, "model_sizes_mb": [1], "latencies_ms": [0, 50],
                         "setups": ["host", "vm", "pod"]}
    config["serving"] |= {"setups": ["host", "vm", "pod"], "latencies_ms": [0], "model_sizes_mb": [1], "updates": 2}
    path.write_text(yaml.safe_dump(config))
    return path


def test_reduced_cluster_study_end_to_end(repo, local_cluster, admin, tmp_path, cli_env):
    work = tmp_path / "study"
    write_published_file(work / "data/raw/intel_lab/data.txt.gz", 6000, seed=11)
    config = reduced_config(repo, tmp_path / "reduced.yaml")
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(work),
                             "--cores", "2", "--configfile", str(config)], capture_output=True, text=True, env=cli_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    steps = pd.read_parquet(work / "results/tidy/pipeline_steps.parquet")
    pods = steps[steps["backend"] == "kubernetes"]
    assert set(pods["timestamp_source"]) == {"watch", "api", "prometheus"}
    assert (pods.loc[pods["timestamp_source"] == "watch", "status"] == "succeeded").all()
    assert (pods.loc[pods["timestamp_source"] == "watch", "peak_rss_mib"] > 0).all()  # the pods' own count
    uploads = pd.read_parquet(work / "results/tidy/uploads.parquet")
    assert set(uploads["setup"]) == {"host", "vm", "pod"} and uploads["verified"].all()
    assert set(uploads.loc[uploads["setup"] == "pod", "emulation"]) == {"proxy"}
    served = pd.read_parquet(work / "results/tidy/serving_updates.parquet")
    # host in place; vm and pod in place and rolled out; two updates each
    assert len(served) == (1 + 2 + 2) * 2 and (served["status"] == "ok").all()
    assert set(zip(served["setup"], served["method"])) == {("host", "in-place"), ("vm", "in-place"),
                                                           ("vm", "rollout"), ("pod", "in-place"), ("pod", "rollout")}
    assert (served["failed_requests"] + served["unanswered_requests"] == 0).all()

    for name in ("fig15_overhead_dataset", "fig_overhead_parts"):
        sources = json.loads((work / f"results/figures/{name}.json").read_text())["sources"]
        assert any(s.startswith("results/raw/pipeline/8x8x8_0.1MB/1/kubernetes/") for s in sources), sources
    raw = work / "results/raw/pipeline/8x8x8_0.1MB/1/kubernetes"
    assert (raw / "events.jsonl").exists() and (raw / "watch.jsonl").exists()
    assert (raw / "prometheus/kube_pod_created.json").exists() and (raw / "logs/dnnfit.log").exists()

    report = subprocess.run(["pdftotext", str(work / "results/report/report.pdf"), "-"], capture_output=True,
                            text=True, check=True).stdout
    text = " ".join(report.split())
    assert "what Kubernetes adds on top" in text and "The same overhead on three clocks" in text
    assert "Where the clocks part" in text
    assert "kubernetes backend:" in text and "C9-vm-pod" in text
    assert "Jobs ran as local processes" not in text
    assert lifecycle.status() is not None  # it was up before the study, so it stays up
    assert not (work / "logs/cluster/hold.json").exists()
