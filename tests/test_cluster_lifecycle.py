"""Integration tests of `mlopsbench cluster`: status, kubeconfig, and a down that leaves nothing
(no process, mount, veth, bridge, iptables chain or cgroup) before the cluster comes back up."""

import subprocess
import sys

import pytest

from mlopsbench.cluster import lifecycle

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
    again = lifecycle.up(repo)
    assert again.server == local_cluster.server and lifecycle.status() is not None
