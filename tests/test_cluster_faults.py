"""Integration tests: the runner against a cluster that breaks under it, on the real local cluster.

Each test breaks a daemon (the kubelet, the API server) or the runner itself (SIGKILL, a second
Ctrl-C) in the middle of a run, and checks that the run fails within a bound with a message
naming the node or the endpoint, that nothing the run made stays in the cluster, and that the
next run starts clean. A test that breaks a daemon brings the whole cluster back afterwards, so
the tests after it find it as they expect.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from mlopsbench.pipeline.run import read_events

pytestmark = pytest.mark.integration
OURS = "app.kubernetes.io/part-of=mlopsbench,app.kubernetes.io/component!=object-store"


@pytest.fixture
def study_config(repo, tmp_path, local_cluster):
    """config/cluster-local.yaml with short bounds for a silent API server or node."""
    config = yaml.safe_load((repo / "config/cluster-local.yaml").read_text())
    config["kubernetes"] |= {"api_silence_s": 20, "node_silence_s": 20}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def restored(repo, local_cluster):
    """Bring the cluster back whole after a test that broke one of its daemons."""
    yield
    from mlopsbench.cluster import lifecycle

    lifecycle.down()
    lifecycle.up(repo)


def run_command(repo, dataset, run_dir, config, epochs=400) -> list[str]:
    return [sys.executable, "-m", "mlopsbench.cli", "pipeline-run", "--backend", "kubernetes", "--cluster-config",
            str(config), "--notebook", str(repo / "notebooks/intel54_pipeline.ipynb"), "--dataset", str(dataset),
            "--dataset-mb", "0.02", "--width", "8", "--epochs", str(epochs), "--series", "dataset", "--rep", "1",
            "--run-dir", str(run_dir), "--cores", "2"]


def start_run(repo, dataset, run_dir, config, cli_env, epochs=400):
    return subprocess.Popen(run_command(repo, dataset, run_dir, config, epochs), cwd=repo, env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_step(run_dir, step, event="started", timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(getattr(e, "event", None) == event and getattr(e, "step", None) == step
                   for e in read_events(run_dir / "events.jsonl")):
                return
        except Exception:  # the file is being written
            pass
        time.sleep(0.2)
    raise AssertionError(f"{step} never {event}")


def left_in_cluster(admin) -> list[str]:
    from kubernetes import client

    core = client.CoreV1Api(admin)
    return ([p.metadata.name for p in core.list_namespaced_pod("mlopsbench", label_selector=OURS).items] +
            [c.metadata.name for c in core.list_namespaced_persistent_volume_claim("mlopsbench").items])


def wait_empty(admin, timeout=90.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := left_in_cluster(admin)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_pid(name: str) -> int:
    from mlopsbench.cluster.daemons import running
    from mlopsbench.cluster.node import Layout

    pid = running(Layout.default().pids / name)
    assert pid, f"{name} is not running"
    return pid


def test_a_dead_kubelet_fails_the_run_naming_the_node(repo, dataset, tmp_path, study_config, cli_env, restored):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    process = start_run(repo, dataset, run_dir, study_config, cli_env)
    wait_for_step(run_dir, "dnnfit")
    os.kill(daemon_pid("kubelet"), signal.SIGKILL)
    status = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "cluster", "status"], capture_output=True,
                            text=True, env=cli_env)
    assert status.returncode == 3 and "kubelet is not running" in status.stdout
    # The node controller marks the node's pods not Ready after its grace period; the runner
    # then waits node_silence_s (20 s here), never the step's deadline (3600 s).
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 1, output
    assert "node mlopsbench-node has stopped reporting" in output and "Traceback" not in output


def test_a_dead_api_server_fails_the_run_without_spinning(repo, dataset, tmp_path, study_config, cli_env, restored):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    log = tmp_path / "runner.log"
    with log.open("wb") as out:
        process = subprocess.Popen(run_command(repo, dataset, run_dir, study_config), cwd=repo, env=cli_env,
                                   stdout=out, stderr=subprocess.STDOUT)
        wait_for_step(run_dir, "dnnfit")
        os.kill(daemon_pid("kube-apiserver"), signal.SIGKILL)
        time.sleep(2)
        before, size = cpu_seconds(process.pid), log.stat().st_size
        time.sleep(10)
        assert cpu_seconds(process.pid) - before < 2.0  # under a fifth of a core: it backs off
        assert log.stat().st_size - size < 50_000       # and says so once, not in a flood
        assert process.wait(timeout=120) == 1
    output = log.read_text()
    assert "the API server https://" in output and "has not answered for" in output and "Traceback" not in output


def test_a_second_interrupt_does_not_cut_the_clean_up_short(repo, dataset, tmp_path, study_config, cli_env, admin):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    process = start_run(repo, dataset, run_dir, study_config, cli_env)
    wait_for_step(run_dir, "dnnfit")
    process.send_signal(signal.SIGINT)
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 130, output
    assert any(getattr(e, "event", None) == "cleaned" for e in read_events(run_dir / "events.jsonl"))
    assert wait_empty(admin) == []


def test_what_a_killed_runner_left_is_removed_by_the_next_run_and_by_cleanup(repo, dataset, tmp_path, study_config,
                                                                            cli_env, admin):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    process = start_run(repo, dataset, run_dir, study_config, cli_env)
    wait_for_step(run_dir, "dnnfit")
    process.kill()
    process.wait(timeout=30)
    assert left_in_cluster(admin)  # the SIGKILL left the run's pods and volume
    again = start_run(repo, dataset, run_dir, study_config, cli_env, epochs=1)
    assert again.wait(timeout=600) == 0
    assert wait_empty(admin) == []

    process = start_run(repo, dataset, run_dir, study_config, cli_env)
    wait_for_step(run_dir, "dnnfit")
    process.kill()
    process.wait(timeout=30)
    cleanup = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "cleanup", "--cluster-config",
                              str(repo / "config/cluster-local.yaml")], capture_output=True, text=True, env=cli_env,
                             cwd=tmp_path)
    assert cleanup.returncode == 0, cleanup.stderr
    assert wait_empty(admin) == []
    from kubernetes import client

    store = client.CoreV1Api(admin).list_namespaced_pod(
        "mlopsbench", label_selector="app.kubernetes.io/component=object-store").items
    assert store and all(p.metadata.deletion_timestamp is None for p in store)  # the store is untouched
