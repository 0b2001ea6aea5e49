"""dvc.yaml and the Snakefile describe the same study: same CLI calls, same outputs."""

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from mlopsbench.dvcparams import derive
from mlopsbench.paths import RAW_INTEL_LAB

pytestmark = pytest.mark.integration


def normalize(command: str, repo) -> str:
    command = re.sub(r"\s2>\s*\S+", "", command)           # Snakemake's log redirect
    command = re.sub(r"\s--cores\s+\d+", "", command)       # Snakemake passes its --cores; DVC uses all
    command = command.replace(f"{repo}/", "")               # Snakemake's absolute notebook/config paths
    return " ".join(command.split())


def snakemake_jobs(repo, config, cli_env):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(repo),
                             "-n", "-p", "--forceall", "--cores", "2", "--configfile", str(repo / config)],
                            capture_output=True, text=True, env=cli_env)
    assert result.returncode == 0, result.stderr
    jobs, job = [], None
    for line in result.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            job = {"rule": line.split()[1].rstrip(":"), "outputs": [], "shell": None}
            jobs.append(job)
        elif job is not None and line.strip().startswith("output:"):
            job["outputs"] = [p.strip() for p in line.split(":", 1)[1].split(",")]
        elif job is not None and line.startswith("Shell command: mlopsbench "):
            job["shell"] = normalize(line.removeprefix("Shell command: "), repo)
    return [j for j in jobs if j["shell"]]


def dvc_stages(repo, config, tmp_path):
    """The stages of dvc.yaml as rendered with the params derived from ``config``."""
    from dvc.repo import Repo

    from mlopsbench.dvcparams import write_params

    Repo.init(str(tmp_path), no_scm=True)
    shutil.copy(repo / "dvc.yaml", tmp_path / "dvc.yaml")
    write_params(repo / config, tmp_path / "params.yaml")
    with Repo(str(tmp_path)) as dvc:
        return [{"name": s.name, "cmd": normalize(s.cmd, repo), "outs": [str(o.def_path) for o in s.outs],
                 "deps": [str(d.def_path) for d in s.deps], "frozen": s.frozen} for s in dvc.index.stages]


def test_params_yaml_is_derived_from_the_thesis_config(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    assert params == derive(config, "config/config.yaml"), "run: mlopsbench dvc-params --config config/config.yaml"


# The thesis design's 69 stages (1+1+4+4+4+42 blocks+1+8+1+1+1+1), and the serving experiment's: a
# stage per model size's versions, per cell (setup x method x 4 latencies x 4 sizes), and its tidy.
@pytest.mark.parametrize("config, serving_cells", [("config/config.yaml", 2 * 1 * 16), ("config/cluster.yaml", 2 * 2 * 16)])
def test_every_dvc_stage_matches_a_snakemake_rule(repo, config, serving_cells, cli_env, tmp_path):
    jobs = {job["shell"]: job for job in snakemake_jobs(repo, config, cli_env)}
    stages = dvc_stages(repo, config, tmp_path)
    assert len(stages) == len(jobs) == 69 + 4 + serving_cells + 1
    cluster = [s for s in stages if s["name"].startswith(("cluster_block@", "cluster_upload_cell@",
                                                          "cluster_serving_cell@"))]
    assert len(cluster) == (42 + 8 + serving_cells if "cluster" in config else 0) and all(s["frozen"] for s in cluster)
    for stage in stages:
        job = jobs.get(stage["cmd"])
        assert job is not None, f"DVC stage {stage['name']} has no Snakemake twin: {stage['cmd']}"
        for out in stage["outs"]:
            if out == RAW_INTEL_LAB:
                continue  # DVC caches the published file; Snakemake never makes it a job output
            assert any(o == out or o.startswith(out.rstrip("/") + "/") for o in job["outputs"]), \
                f"{stage['name']}: output {out} is not an output of Snakemake rule {job['rule']}"


def test_the_local_cluster_study_is_not_frozen(repo, cli_env, tmp_path):
    """On the local cluster, a data change re-runs the cluster's runs and cells too: their stages
    match Snakemake's jobs, are not frozen, and depend on the datasets and models they read."""
    jobs = {job["shell"]: job for job in snakemake_jobs(repo, "config/cluster-local.yaml", cli_env)}
    stages = dvc_stages(repo, "config/cluster-local.yaml", tmp_path)
    assert len(stages) == len(jobs)
    local = [s for s in stages if s["name"].startswith(("local_cluster_block@", "local_cluster_upload_cell@",
                                                        "local_cluster_serving_cell@"))]
    assert len(local) == 7 * 2 + 2 * 4 + 2 * 2 * 2 * 2 and not any(s["frozen"] for s in local)
    assert not [s for s in stages if s["name"].startswith(("cluster_block@", "cluster_upload_cell@",
                                                           "cluster_serving_cell@"))]
    for stage in stages:
        assert jobs.get(stage["cmd"]) is not None, f"DVC stage {stage['name']} has no Snakemake twin: {stage['cmd']}"
    assert all(any(d.startswith("data/datasets/") for d in s["deps"]) for s in local if "_block@" in s["name"])
