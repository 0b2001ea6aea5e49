"""Integration tests: the runner against a cluster that breaks under it, on the real local cluster.

Each test breaks a daemon (every entry of the component table on every node it runs on, on the
thesis's two nodes: one case each) or the runner itself (SIGKILL, a second Ctrl-C) in the middle
of a run, and checks that the run either survives and counts once or fails within a bound with a
message naming the daemon, node or endpoint, that nothing the run made stays in the cluster, and
that the next run starts clean. A test that breaks a daemon takes the cluster down (checking that
nothing is left) and brings it back whole, so the tests after it find it as they expect.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlopsbench.cluster.components import placements
from mlopsbench.cluster.nodes import CORE_EDGE
from mlopsbench.pipeline.run import read_events
from mlopsbench.records import RunFinished

pytestmark = pytest.mark.integration
OURS = "app.kubernetes.io/part-of=mlopsbench,app.kubernetes.io/component!=object-store"


@pytest.fixture
def study_config(repo, tmp_path):
    """config/cluster-local.yaml with short bounds for a silent API server, node or scheduler (on
    whichever local cluster the test asks for)."""
    config = yaml.safe_load((repo / "config/cluster-local.yaml").read_text())
    config["kubernetes"] |= {"api_silence_s": 20, "node_silence_s": 20, "scheduler_silence_s": 20}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def restored(repo, two_nodes):
    """Bring the two-node cluster back whole after a test that broke one of its daemons."""
    yield
    from mlopsbench.cluster import lifecycle

    lifecycle.down()
    assert lifecycle.leftovers() == []
    lifecycle.up(repo, specs=CORE_EDGE)


HOLD = Path(__file__).parent / "data/hold_pipeline.ipynb"  # hold, after, last: the cluster breaks during hold


def run_command(dataset, run_dir, config, hold_s=12) -> list[str]:
    """A run of the hold pipeline (its EPOCHS are the seconds hold takes), without calibration."""
    return [sys.executable, "-m", "mlopsbench.cli", "pipeline-run", "--backend", "kubernetes", "--cluster-config",
            str(config), "--notebook", str(HOLD), "--dataset", str(dataset), "--dataset-mb", "0.02", "--width", "8",
            "--epochs", str(hold_s), "--series", "dataset", "--rep", "1", "--run-dir", str(run_dir), "--cores", "2",
            "--no-calibration"]


def start_run(repo, dataset, run_dir, config, cli_env, hold_s=12):
    return subprocess.Popen(run_command(dataset, run_dir, config, hold_s), cwd=repo, env=cli_env,
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


def daemon_pid(daemon: str, node: str) -> int:
    from mlopsbench.cluster import lifecycle
    from mlopsbench.cluster.daemons import running
    from mlopsbench.cluster.node import Layout

    name = next(i.name for i in lifecycle.daemons() if (i.component.name, i.place.name) == (daemon, node))
    pid = running(Layout.default().pids / name)
    assert pid, f"{daemon} is not running on node {node}"
    return pid


# What a case adds to the checks every daemon gets, where its failure has a known wording.
SAYS = {"containerd": "container runtime is down", "kube-apiserver": "has not answered for"}
FAIL_WITHIN_S = 150  # from the kill to the runner's exit: a 20 s silence bound plus the cluster's own grace


@pytest.mark.parametrize("daemon, node", [(c.name, CORE_EDGE[i].name) for c, i in placements(CORE_EDGE)])
def test_a_daemon_killed_during_a_run_is_survived_or_named(daemon, node, repo, dataset, tmp_path, study_config,
                                                          cli_env, restored, record_property):
    """Every entry of the component table on each node it runs on, killed while the hold step runs:
    the run either finishes and counts once, or fails within the bound naming the daemon and its
    node; nothing half-finished is left for the tables to count. (The cases come from the table: a
    new daemon gets its own.)"""
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    log = tmp_path / "runner.log"
    with log.open("wb") as out:
        process = subprocess.Popen(run_command(dataset, run_dir, study_config), cwd=repo, env=cli_env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_step(run_dir, "hold")
        os.kill(daemon_pid(daemon, node), signal.SIGKILL)
        killed = time.monotonic()
        status = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "cluster", "status"], capture_output=True,
                                text=True, env=cli_env)
        assert status.returncode == 3 and f"{daemon} is not running on node {node}" in status.stdout
        if daemon == "kube-apiserver":  # the runner backs off rather than spinning on a silent server
            time.sleep(2)
            before, size = cpu_seconds(process.pid), log.stat().st_size
            time.sleep(10)
            assert cpu_seconds(process.pid) - before < 2.0  # under a fifth of a core
            assert log.stat().st_size - size < 50_000       # and says so once, not in a flood
        returncode = process.wait(timeout=300)
    finally:
        process.kill()  # a no-op once it has ended; a failed check leaves no runner behind
    seconds, output = time.monotonic() - killed, log.read_text()
    # the closing note's table: daemon, node, outcome, seconds to the error
    record_property("note", f"fault {daemon} on {node}: " + ("run survived" if returncode == 0 else
                                                             f"run failed after {seconds:.0f} s"))
    assert "Traceback" not in output
    events = read_events(run_dir / "events.jsonl")
    ended = [e for e in events if isinstance(e, RunFinished)]
    if returncode == 0:  # finished once, every step once, and marked finished for the tables
        assert [e.status for e in ended] == ["succeeded"], output
        watched = [(e.event, e.step) for e in events
                   if getattr(e, "source", None) == "watch" and e.event in ("created", "finished")]
        created, finished = ([step for event, step in watched if event == kind] for kind in ("created", "finished"))
        assert sorted(finished) == sorted(created) == sorted(set(created))
        assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"
    else:  # failed within the bound, naming the daemon and its node; never marked finished
        assert returncode == 1 and seconds < FAIL_WITHIN_S, output
        assert f"{daemon} is not running on node {node}" in output and SAYS.get(daemon, "") in output
        assert [e.status for e in ended] == ["interrupted"] and not (run_dir / "run.json").exists()


def test_a_second_interrupt_does_not_cut_the_clean_up_short(repo, dataset, tmp_path, study_config, cli_env, admin):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    process = start_run(repo, dataset, run_dir, study_config, cli_env)
    wait_for_step(run_dir, "hold")
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
    wait_for_step(run_dir, "hold")
    process.kill()
    process.wait(timeout=30)
    assert left_in_cluster(admin)  # the SIGKILL left the run's pods and volume
    again = start_run(repo, dataset, run_dir, study_config, cli_env, hold_s=1)
    assert again.wait(timeout=600) == 0
    assert wait_empty(admin) == []

    process = start_run(repo, dataset, run_dir, study_config, cli_env)
    wait_for_step(run_dir, "hold")
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
