"""Integration tests: the real Snakemake workflow calling the real CLI."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from mlopsbench.data.synthetic import write_published_file

pytestmark = pytest.mark.integration


def snakemake(repo, workdir, *args, env=None):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_dry_run_shows_the_whole_thesis_dag(repo, tmp_path, cli_env):
    result = snakemake(repo, tmp_path, "-n", "--configfile", str(repo / "config/config.yaml"), env=cli_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for size in (2, 10, 20, 40):
        assert f"data/datasets/intel54_{size}MB.csv" in out
    for arch in ("8x8x8", "16x16x16", "32x32x32", "64x64x64"):
        assert f"data/models/regression/dnn_{arch}.keras" in out
    for size in (49, 113, 177, 241):
        assert f"data/models/upload/model_{size}MB.keras" in out
    assert "download_intel_lab" in out
    # Section 4.1: 7 configurations x 6 repetitions, each a block of the two backends back to back.
    assert any(line.split() == ["pipeline_block", "42"] for line in out.splitlines())
    assert "results/raw/pipeline/64x64x64_20MB/6/block.json" in out


def test_lint_is_clean(repo, tmp_path, cli_env):
    result = snakemake(repo, repo, "--lint", env=cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_invalid_config_fails_naming_the_key(repo, tmp_path, cli_env):
    bad = tmp_path / "bad.yaml"
    bad.write_text((repo / "config/quick.yaml").read_text().replace("epochs: 2", "epochs: two"))
    result = snakemake(repo, tmp_path, "-n", "--configfile", str(bad), env=cli_env)
    assert result.returncode != 0
    assert "training.epochs: 'two' is not of type 'integer'" in result.stdout + result.stderr


def mini_config(repo, tmp_path):
    """The quick design with one epoch, two upload latencies and one served model size, to keep the
    test to minutes."""
    config = yaml.safe_load((repo / "config/quick.yaml").read_text())
    config["training"]["epochs"] = 1
    config["upload"]["latencies_ms"] = [0, 50]
    config["serving"] |= {"model_sizes_mb": [1], "updates": 2}
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_whole_study_end_to_end(repo, tmp_path, cli_env):
    """`snakemake` runs everything: data, models, the three experiments, statistics, report."""
    work = tmp_path / "study"
    write_published_file(work / "data/raw/intel_lab/data.txt.gz", 6000, seed=11)
    config = ["--configfile", str(mini_config(repo, tmp_path))]
    result = snakemake(repo, work, *config, env=cli_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    counts = json.loads((work / "data/interim/node54_counts.json").read_text())
    assert counts["kept"] > 50 and counts["lines_read"] == 6000
    node_rows = (work / "data/interim/node54.csv").read_text().splitlines()
    assert node_rows[0] == "humidity,light,voltage,temperature" and len(node_rows) == counts["kept"] + 1
    longest = max(map(len, node_rows)) + 1
    for size in (0.1, 0.5, 1, 2):
        actual = (work / f"data/datasets/intel54_{size:g}MB.csv").stat().st_size
        assert size * 1e6 <= actual < size * 1e6 + longest
    for width, params in {8: 185, 16: 625, 32: 2273, 64: 8641}.items():
        info = json.loads((work / f"data/models/regression/dnn_{width}x{width}x{width}.json").read_text())
        assert info["trainable_params"] == params
    for size in (1, 2, 3, 4):
        info = json.loads((work / f"data/models/upload/model_{size}MB.json").read_text())
        assert abs(info["bytes"] / (size * 2**20) - 1) < 0.02
    assert "kept" in (work / "logs/data/filter_node54.log").read_text()

    steps = pd.read_parquet(work / "results/tidy/pipeline_steps.parquet")
    assert len(steps) == 7 * 2 * 2 * 9 and (steps["status"] == "succeeded").all()
    assert set(steps["backend"]) == {"local", "monolithic"}
    uploads = pd.read_parquet(work / "results/tidy/uploads.parquet")
    assert len(uploads) == 4 * 2 * 2 * 2 and uploads["verified"].all()
    served = pd.read_parquet(work / "results/tidy/serving_updates.parquet")
    assert len(served) == 2 * 2 * 2 and (served["status"] == "ok").all()   # host, netns x 0, 250 ms x 2 updates
    assert (served["failed_requests"] + served["unanswered_requests"] == 0).all() and (served["time_to_serve_s"] > 0).all()
    report = subprocess.run(["pdftotext", str(work / "results/report/report.pdf"), "-"], capture_output=True,
                            text=True, check=True).stdout
    assert "Thesis against reproduction" in report and "fig19_uploads." in report
    assert "Beyond the thesis: time to serve a new model" in report and "fig_serving_time." in report
    assert "not the full published file" in report  # the synthetic input is named as such

    html = snakemake(repo, work, "--report", str(work / "report.html"), *config, env=cli_env)
    assert html.returncode == 0, html.stderr[-2000:]
    page = (work / "report.html").read_text(errors="replace")
    assert "Figure 15 analogue" in page and "fig19_uploads.png" in page  # captions from the figure registry

    # Finished targets are never redone: an interrupted study resumes where it stopped.
    again = snakemake(repo, work, "-n", *config, env=cli_env)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_bad_raw_file_fails_the_workflow_with_file_and_line(repo, tmp_path, cli_env):
    raw = tmp_path / "data/raw/intel_lab/data.txt.gz"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"this is not gzip")
    result = snakemake(repo, tmp_path, "datasets", "--configfile", str(repo / "config/quick.yaml"), env=cli_env)
    assert result.returncode != 0
    log = (tmp_path / "logs/data/filter_node54.log").read_text()
    assert "data/raw/intel_lab/data.txt.gz:1: compressed stream is damaged or truncated" in log
    assert not (tmp_path / "data/interim/node54.csv").exists()
