"""Integration tests of `mlopsbench cluster`: status, kubeconfig, and a down that leaves nothing
(no process, mount, veth, bridge, iptables chain or cgroup) before the cluster comes back up, and an
up that refuses to start beside a process holding one of its ports, restores every kernel setting
it changed at down, finds the project from any directory, and runs a step on a measurement
variant of the kubelet that says what it is."""

import json
import socket
import subprocess
import sys

import pytest

from mlopsbench.cluster import lifecycle
from mlopsbench.cluster.build import KUBELET_VARIANTS, KUBERNETES_VERSION
from mlopsbench.cluster.components import port
from mlopsbench.cluster.node import NodeError
from mlopsbench.cluster.target import target_from_config
from mlopsbench.config import load_config
from mlopsbench.pipeline.backends import backend
from mlopsbench.pipeline.compiler import compile_notebook
from mlopsbench.pipeline.run import RunSpec
from mlopsbench.pipeline.tidy import read_run
from mlopsbench.records import RunIdentity

pytestmark = pytest.mark.integration


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "mlopsbench.cli", "cluster", *args], capture_output=True, text=True,
                          env=env)


def test_status_and_kubeconfig_of_a_running_cluster(local_cluster, cli_env):
    status = cli("status", env=cli_env)
    assert status.returncode == 0 and status.stdout.startswith(f"up: API {local_cluster.server}")
    assert cli("kubeconfig", env=cli_env).stdout.strip() == local_cluster.admin_kubeconfig
    assert cli("kubeconfig", "--runner", env=cli_env).stdout.strip() == local_cluster.runner_kubeconfig


def test_down_leaves_nothing_behind_and_up_brings_it_back(repo, local_cluster, cli_env):
    down = cli("down", env=cli_env)
    assert down.returncode == 0, down.stderr
    assert lifecycle.leftovers() == []
    assert cli("status", env=cli_env).returncode == 3
    prometheus = port("prometheus", "web")
    with socket.create_server(("127.0.0.1", prometheus)):  # a stray process on one of its ports
        with pytest.raises(NodeError, match=f"in use: {prometheus} .*python"):
            lifecycle.up(repo)
    assert lifecycle.leftovers() == []  # refused before anything started
    again = lifecycle.up(repo)
    assert again.server == local_cluster.server and lifecycle.status() is not None


def kernel_settings() -> dict[str, str]:
    """The sysctls a cluster may change: the ones up records, and every conntrack setting."""
    lines = subprocess.run(["sysctl", "-a"], capture_output=True, text=True).stdout.splitlines()
    found = dict(line.split(" = ", 1) for line in lines if " = " in line)
    return {key: value for key, value in found.items() if key in lifecycle.SYSCTLS or
            (key.startswith("net.netfilter.nf_conntrack_") and key != "net.netfilter.nf_conntrack_count")}


def test_down_restores_every_kernel_setting_up_changed(repo, local_cluster):
    lifecycle.down()
    before = kernel_settings()
    lifecycle.up(repo)
    during = kernel_settings()
    lifecycle.down()
    after = kernel_settings()
    lifecycle.up(repo)
    # kube-proxy sets the conntrack timeouts (86400 s established against Debian's 432000 s)
    assert during != before
    assert {key: (before[key], after.get(key)) for key in before if after.get(key) != before[key]} == {}


def test_up_from_another_directory_finds_the_project(local_cluster, tmp_path, cli_env):
    result = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "cluster", "up"], capture_output=True, text=True,
                            env=cli_env, cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]


TRIVIAL_STEP = {"cells": [{"cell_type": "code", "metadata": {"tags": ["block:trivial"]}, "outputs": [],
                           "execution_count": None, "source": ["print('[JT] trivial time(s) 0.0')\n",
                                                               "print('[JT] end cell')\n"]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("variant", [v for v in KUBELET_VARIANTS if v != "stock"])
def test_a_kubelet_variant_runs_a_step_says_so_and_down_leaves_nothing(repo, local_cluster, variant, tmp_path):
    from kubernetes import client, config

    notebook = tmp_path / "trivial.ipynb"
    notebook.write_text(json.dumps(TRIVIAL_STEP))
    lifecycle.down()
    try:
        cluster = lifecycle.up(repo, kubelet_variant=variant)
        assert cluster.kubelet_variant == variant
        with pytest.raises(lifecycle.ClusterError, match=f"kubelet {variant}.*not the one asked for .kubelet stock"):
            lifecycle.up(repo)   # a variant is never taken for stock
        admin = config.new_client_from_config(config_file=cluster.admin_kubeconfig)
        nodes = client.CoreV1Api(admin).list_node().items
        assert {n.status.node_info.kubelet_version for n in nodes} == {f"{KUBERNETES_VERSION}+{variant}"}
        identity = RunIdentity(study="test", backend="kubernetes", configuration="trivial", rep=1, series="dataset",
                               dataset_mb=0.0, width=8, hidden_layers=3)
        target = target_from_config(load_config(repo / "config/cluster-local.yaml")["kubernetes"])
        run_dir = tmp_path / "run"
        assert backend("kubernetes").run(compile_notebook(notebook), RunSpec(identity, run_dir, {}, cluster=target)) \
            == "succeeded"
        assert read_run(run_dir)[1]["kubelet_build"] == variant   # every run records the kubelet it ran on
    finally:
        lifecycle.down()
        assert lifecycle.leftovers() == []
        lifecycle.up(repo)
