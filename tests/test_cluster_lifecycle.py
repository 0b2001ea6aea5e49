"""Integration tests of `mlopsbench cluster`: status, kubeconfig, and a down that leaves nothing
(no process, mount, veth, bridge, iptables chain or cgroup) before the cluster comes back up, and an
up that refuses to start beside a process holding one of its ports."""

import socket
import subprocess
import sys

import pytest

from mlopsbench.cluster import lifecycle
from mlopsbench.cluster.node import PROMETHEUS_PORT, NodeError

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
    with socket.create_server(("127.0.0.1", PROMETHEUS_PORT)):  # a stray process on one of its ports
        with pytest.raises(NodeError, match=f"in use: {PROMETHEUS_PORT} .*python"):
            lifecycle.up(repo)
    assert lifecycle.leftovers() == []  # refused before anything started
    again = lifecycle.up(repo)
    assert again.server == local_cluster.server and lifecycle.status() is not None
