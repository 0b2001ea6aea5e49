"""Integration tests: the real Snakemake workflow calling the real CLI (the whole study end to end is
tests/test_study.py)."""

import subprocess
import sys

import pytest

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


def test_bad_raw_file_fails_the_workflow_with_file_and_line(repo, tmp_path, cli_env):
    raw = tmp_path / "data/raw/intel_lab/data.txt.gz"
    raw.parent.mkdir(parents=True)
    raw.write_bytes(b"this is not gzip")
    result = snakemake(repo, tmp_path, "datasets", "--configfile", str(repo / "config/quick.yaml"), env=cli_env)
    assert result.returncode != 0
    log = (tmp_path / "logs/data/filter_node54.log").read_text()
    assert "data/raw/intel_lab/data.txt.gz:1: compressed stream is damaged or truncated" in log
    assert not (tmp_path / "data/interim/node54.csv").exists()
