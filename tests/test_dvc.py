"""DVC in a temporary git repository: repro, a second repro that does nothing, exactly the
stages a change touches, and a push/pull round trip through a real SeaweedFS."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlopsbench.data.synthetic import write_published_file
from mlopsbench.store.objectstore import SeaweedFS, client

pytestmark = pytest.mark.integration
DATA_STAGES = {"download", "filter", "dataset", "regression_model", "pipeline_block", "pipeline_tidy", "stats",
               "figures", "report"}
UPLOAD_STAGES = {"upload_model", "upload_cell", "upload_tidy"}


def run(cmd, cwd, env=None, check=True):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check:
        assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def ran(output: str) -> set[str]:
    """Stage families that `dvc repro` ran ('dataset@0_1MB' counts as 'dataset')."""
    return {name.split("@")[0] for name in re.findall(r"Running stage '([^']+)'", output)}


def write_mini_config(repo_dir, margin=0.10):
    config = yaml.safe_load((repo_dir / "config/quick.yaml").read_text())
    config["data"]["dataset_sizes_mb"] = [0.05, 0.1]
    config["model"]["widths"] = [8, 16]
    config["training"]["epochs"] = 1
    config["pipeline"] |= {"repetitions": 1, "backends": ["monolithic"], "model_series_dataset_mb": 0.1}
    config["upload"] |= {"repetitions": 1, "model_sizes_mb": [1], "latencies_ms": [0], "setups": ["host"]}
    config["serving"] |= {"setups": ["host"], "latencies_ms": [0], "model_sizes_mb": [1], "updates": 1}
    config["analysis"]["equivalence_margin"] = margin
    (repo_dir / "config/mini.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def study(repo, tmp_path_factory):
    """A git + DVC copy of this repository, reproduced once with a tiny study."""
    root = tmp_path_factory.mktemp("dvc")
    work = root / "repo"
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], repo).stdout.split()
    for name in files:
        if (repo / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, work / name)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run(["git", "init", "-q"], work)
    write_mini_config(work)
    run(["mlopsbench", "dvc-params", "--config", "config/mini.yaml", "--output", "params.yaml"], work, env)
    write_published_file(work / "data/raw/intel_lab/data.txt.gz", 4000, seed=1)
    run(["git", "add", "-A"], work)
    run(["git", "commit", "-qm", "study"], work, env)
    first = run(["dvc", "repro"], work, env)
    return work, env, first.stdout + first.stderr


def test_repro_builds_the_report_and_a_second_repro_does_nothing(study):
    work, env, first = study
    assert DATA_STAGES | UPLOAD_STAGES <= ran(first)
    assert (work / "results/report/report.pdf").exists()
    again = run(["dvc", "repro"], work, env)
    assert ran(again.stdout) == set() and "up to date" in again.stdout
    metrics = run(["dvc", "metrics", "show", "--json"], work, env).stdout
    assert "pipeline_runs" in metrics and "claims" in metrics
    run(["dvc", "plots", "show", "--json"], work, env)


def test_raw_data_change_reruns_only_what_is_downstream(study):
    work, env, _ = study
    write_published_file(work / "data/raw/intel_lab/data.txt.gz", 4000, seed=2)
    output = run(["dvc", "repro"], work, env).stdout
    assert ran(output) == DATA_STAGES, output


def test_analysis_parameter_reruns_only_statistics_and_report(study):
    work, env, _ = study
    write_mini_config(work, margin=0.2)
    run(["mlopsbench", "dvc-params", "--config", "config/mini.yaml", "--output", "params.yaml"], work, env)
    output = run(["dvc", "repro"], work, env).stdout
    assert ran(output) == {"stats", "figures", "report"}, output


def test_push_and_pull_through_an_s3_remote_on_seaweedfs(study, tmp_path):
    work, env, _ = study
    report = work / "results/report/report.pdf"
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    with SeaweedFS(tmp_path / "store") as endpoint:
        client(endpoint).make_bucket("dvc")
        run(["dvc", "remote", "add", "--local", "s3", "s3://dvc/mlopsbench"], work, env)
        run(["dvc", "remote", "modify", "--local", "s3", "endpointurl", endpoint.url], work, env)
        s3_env = env | {"AWS_ACCESS_KEY_ID": endpoint.access_key, "AWS_SECRET_ACCESS_KEY": endpoint.secret_key}
        pushed = run(["dvc", "push", "-r", "s3"], work, s3_env)
        assert "pushed" in pushed.stdout
        shutil.rmtree(work / ".dvc/cache")
        report.unlink()
        shutil.rmtree(work / "data/datasets")
        run(["dvc", "pull", "-r", "s3"], work, s3_env)
    assert hashlib.sha256(report.read_bytes()).hexdigest() == digest
    assert (work / "data/datasets/intel54_0.05MB.csv").exists()
    assert "up to date" in run(["dvc", "status"], work, env).stdout
