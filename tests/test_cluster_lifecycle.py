"""Integration tests of `mlopsbench cluster`: status, kubeconfig, and a down that leaves nothing
(no process, mount, veth, bridge, iptables chain or cgroup) before the cluster comes back up, and an
up that refuses to start beside a process holding one of its ports, restores every kernel setting
it changed at down, and finds the project from any directory."""

import socket
import subprocess
import sys

import pytest

from mlopsbench.cluster import lifecycle
from mlopsbench.cluster.components import port
from mlopsbench.cluster.node import NodeError

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
