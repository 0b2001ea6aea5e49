"""Integration tests: the Kubernetes backend and the cluster upload setups against a real cluster.

The cluster is the single-node one this package builds and starts (``mlopsbench cluster up``:
etcd, the control plane, kubelet and kube-proxy from Go modules; containerd, runc and CNI from
Debian; images built here), reached with the runner's namespaced ServiceAccount as in
``deploy/rbac.yaml``. After every test, nothing the test made is left in the cluster.
"""

import json
import signal
import subprocess
import sys
import time

import pytest

from mlopsbench.cluster.cri import seconds
from mlopsbench.cluster.nodes import ONE_NODE
from mlopsbench.cluster.target import target_from_config
from mlopsbench.config import load_config
from mlopsbench.errors import InputError
from mlopsbench.pipeline.backends import backend
from mlopsbench.pipeline.compiler import compile_notebook
from mlopsbench.pipeline.run import RunFailed, RunSpec, read_events
from mlopsbench.pipeline.tidy import read_run
from mlopsbench.rawdirs import RunDir, StoreCellDir
from mlopsbench.records import RunIdentity
from mlopsbench.store.on_cluster import cluster_store
from mlopsbench.upload.cell import run_cell
from mlopsbench.upload.plan import CellSpec, UploadModel, read_records
from test_pipeline_runs import broken_notebook

pytestmark = pytest.mark.integration
OURS = "app.kubernetes.io/part-of=mlopsbench,app.kubernetes.io/component!=object-store"


@pytest.fixture(scope="module")
def section(repo, clusters):
    clusters.get(ONE_NODE)
    return load_config(repo / "config/cluster-local.yaml")["kubernetes"]


@pytest.fixture(autouse=True)
def nothing_left_behind(local_cluster, admin):
    """Every test ends with no pod, claim, volume, Job or DaemonSet of ours in the cluster."""
    yield
    from kubernetes import client

    core, batch, apps = client.CoreV1Api(admin), client.BatchV1Api(admin), client.AppsV1Api(admin)
    deadline = time.monotonic() + 60
    while True:  # deletions take a moment: pods end, the provisioner reclaims volumes
        left = ([f"pod {p.metadata.name}" for p in core.list_pod_for_all_namespaces(label_selector=OURS).items] +
                [f"pvc {c.metadata.name}" for c in core.list_persistent_volume_claim_for_all_namespaces().items] +
                [f"pv {v.metadata.name}" for v in core.list_persistent_volume().items] +
                [f"job {j.metadata.name}" for j in batch.list_job_for_all_namespaces().items] +
                [f"daemonset {d.metadata.name}" for d in apps.list_daemon_set_for_all_namespaces().items])
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not left, f"left in the cluster: {left}"


def spec(section, run_dir, dataset, step_timeout=600, cores=2, **parameters):
    identity = RunIdentity(study="test", backend="kubernetes", configuration="8x8x8_0.02MB", rep=1, series="dataset",
                           dataset_mb=0.02, width=8, hidden_layers=3)
    return RunSpec(identity, run_dir, {"WIDTH": 8, "HIDDEN_LAYERS": 3, "EPOCHS": 1, "SEED": 1,
                                       "DATASET": str(dataset)} | parameters,
                   cores=cores, step_timeout=step_timeout, inputs=("DATASET",), cluster=target_from_config(section))


def run(plan, run_spec):
    return backend("kubernetes").run(plan, run_spec)


def test_quick_pipeline_runs_as_pods_through_a_volume(repo, section, dataset, tmp_path):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    assert run(compile_notebook(repo / "notebooks/intel54_pipeline.ipynb"), spec(section, run_dir, dataset)) == "succeeded"
    events = read_events(run_dir / "events.jsonl")
    staged = next(e for e in events if getattr(e, "event", None) == "staged")
    created = [e for e in events if getattr(e, "event", None) == "created"]
    assert len(created) == 9 and {e.detail["node_pin"] for e in created} == {staged.detail["node"]}  # ReadWriteOnce
    assert all(e.api_t == int(e.api_t) for e in events if getattr(e, "source", None) == "watch" and e.api_t)
    assert "[JT] dnnfit time(s)" in (run_dir / "logs/dnnfit.log").read_text()
    assert json.loads(RunDir(run_dir).finished.read_text())["status"] == "succeeded"
    rows, summary = read_run(run_dir)
    clocks = {source: [r for r in rows if r["timestamp_source"] == source] for source in ("watch", "api", "prometheus")}
    assert all(len(found) == 9 for found in clocks.values()) and summary["status"] == "succeeded"
    # The pods run on the same interpreter build as a step run here as a process (install.sh's
    # Debian python3.11; the image installs the same version): backends compared share it.
    assert {r["python"] for r in clocks["watch"]} == {summary["python"]} == {" ".join(sys.version.split())}
    # createdict's cell (`test_results = {}`) can take 0.0 s on the notebook's own clock.
    assert all(r["overhead_seconds"] > 0 and r["cell_seconds"] >= 0 for r in clocks["watch"])
    assert next(r for r in clocks["watch"] if r["step"] == "dnnfit")["cell_seconds"] > 0
    seen = [r for r in clocks["prometheus"] if r["created"] is not None]
    assert seen and all(r["created"] == int(r["created"]) for r in seen)  # kube-state-metrics: whole seconds
    assert (run_dir / "prometheus/kube_pod_created.json").exists()
    # The runtime's own nanosecond clock, read before the pods went: a sandbox and a container per step.
    cri = json.loads((run_dir / "cri.json").read_text())
    assert {e.detail["pod"] for e in created} <= set(cri)
    watch = {r["step"]: r for r in clocks["watch"]}
    for step, pod in ((e.step, e.detail["pod"]) for e in created):
        (container,) = cri[pod]["containers"]
        sandbox, made, began, ended = (seconds(t) for t in (cri[pod]["sandbox"]["createdAt"], container["createdAt"],
                                                            container["startedAt"], container["finishedAt"]))
        assert watch[step]["created"] < sandbox < made < began < ended < watch[step]["finished"]


def test_failing_step_skips_its_descendants_and_keeps_logs(repo, section, dataset, tmp_path):
    run_dir = tmp_path / "run"
    plan = compile_notebook(broken_notebook(repo, tmp_path, "dnncompile", "raise RuntimeError('cell broke')"))
    with pytest.raises(RunFailed, match="step dnncompile exited with status 1"):
        run(plan, spec(section, run_dir, dataset))
    assert "RuntimeError: cell broke" in (run_dir / "logs/dnncompile.log").read_text()
    skipped = {e.step for e in read_events(run_dir / "events.jsonl") if getattr(e, "event", None) == "skipped"}
    assert skipped == {"dnnfit", "dnneval", "modelerrorssummary", "dnnpredict", "dnnpredictsummary"}


def test_step_that_exceeds_its_deadline_fails(repo, section, dataset, tmp_path):
    plan = compile_notebook(broken_notebook(repo, tmp_path, "createdict", "time.sleep(120)"))
    with pytest.raises(RunFailed, match=r"step createdict (DeadlineExceeded|timed out after 12 s)"):
        run(plan, spec(section, tmp_path / "run", dataset, step_timeout=12))


def test_step_that_never_schedules_times_out(repo, section, dataset, tmp_path):
    """dnnfit asks for its limit:cpu tag's 4 cores; this node has 2, so it stays Pending."""
    plan = compile_notebook(repo / "notebooks/intel54_pipeline.ipynb")
    with pytest.raises(RunFailed, match="step dnnfit timed out after 25 s"):
        run(plan, spec(section, tmp_path / "run", dataset, step_timeout=25, cores=64))


def test_interrupt_mid_run_removes_what_the_run_made(repo, section, dataset, tmp_path, cli_env):
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    command = [sys.executable, "-m", "mlopsbench.cli", "pipeline-run", "--backend", "kubernetes", "--cluster-config",
               str(repo / "config/cluster-local.yaml"), "--notebook", str(repo / "notebooks/intel54_pipeline.ipynb"),
               "--dataset", str(dataset), "--dataset-mb", "0.02", "--width", "8", "--epochs", "1",
               "--series", "dataset", "--rep", "1", "--run-dir", str(run_dir), "--cores", "2", "--no-calibration"]
    process = subprocess.Popen(command, cwd=repo, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and '"step": "dnncompile"' not in _text(run_dir / "events.jsonl"):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 130, output
    events = read_events(run_dir / "events.jsonl")
    assert events[-1].status == "interrupted" and any(getattr(e, "event", None) == "cleaned" for e in events)


def _text(path):
    return path.read_text() if path.exists() else ""


@pytest.mark.alone  # the delay's round trip is checked to 1 ms
@pytest.mark.parametrize(("kernel_delay", "latency_ms", "emulation"),
                         [(True, 0, "nfqueue"), (True, 400, "nfqueue"), (False, 400, "proxy")])
def test_pod_setup_uploads_from_a_job_through_the_delay_to_the_store(section, tmp_path, kernel_delay, latency_ms,
                                                                      emulation):
    """The Job on the core node, the store on the edge role; the delay in the kernel's path at the
    store pod's interface, or the delay proxy pod in front of the store where that is off."""
    model = tmp_path / "model_1MB.keras"
    model.write_bytes(b"\0" * (1 << 20))
    chosen = section | {"upload": section["upload"] | {"kernel_delay": kernel_delay}}
    cell = CellSpec(setup="pod", latency_ms=latency_ms, reps=1, out_dir=tmp_path / f"pod/{latency_ms}ms",
                    part_size=5 << 20, cluster=target_from_config(chosen), cluster_store=cluster_store(chosen))
    assert run_cell(cell, [UploadModel(model, 1, 1 << 20)])["status"] == "succeeded"
    (record,) = read_records(cell.out_dir)
    assert record.setup == "pod" and record.status == "ok" and record.verified and record.emulation == emulation
    # A fresh connection's handshake and one PUT: at least two added round trips.
    assert record.seconds > 2 * latency_ms / 1000
    checked = StoreCellDir(cell.out_dir).delay
    if kernel_delay:
        found = json.loads(checked.read_text())
        assert found["setting_ms"] == latency_ms and found["round_trip_ok"] and found["throughput_ok"]
    else:
        assert not checked.exists()


def test_netem_daemonset_is_refused_cleanly_without_netem(section, tmp_path):
    with_netem = section | {"upload": section["upload"] | {"netem": True}}
    cell = CellSpec(setup="pod", latency_ms=50, reps=1, out_dir=tmp_path / "pod/50ms",
                    cluster=target_from_config(with_netem), cluster_store=cluster_store(with_netem))
    with pytest.raises(InputError, match="cannot add the delay.*netem"):
        run_cell(cell, [UploadModel(tmp_path / "model_1MB.keras", 1, 1 << 20)])


def test_runner_is_denied_outside_its_namespace(local_cluster):
    from kubernetes import client, config

    runner = client.CoreV1Api(config.new_client_from_config(config_file=local_cluster.runner_kubeconfig))
    assert runner.list_namespaced_pod("mlopsbench").items is not None
    for forbidden in (lambda: runner.list_namespaced_pod("default"), lambda: runner.list_node(),
                      lambda: runner.list_namespaced_secret("mlopsbench")):
        with pytest.raises(client.ApiException) as denied:
            forbidden()
        assert denied.value.status == 403


def test_the_runner_cannot_design_its_own_privileged_pod_where_netem_may_run(section, local_cluster):
    """mlopsbench-netem allows privileged pods; the admission policy admits only the package's own
    netem DaemonSet there. A hostPID, privileged DaemonSet that mounts the host's / is refused."""
    from kubernetes import client, config

    from mlopsbench.store.on_cluster import netem_daemonset

    apps = client.AppsV1Api(config.new_client_from_config(config_file=local_cluster.runner_kubeconfig))
    own = netem_daemonset(cluster_store(section | {"upload": section["upload"] | {"netem": True}}), 50)
    namespace = own["metadata"]["namespace"]
    apps.create_namespaced_daemon_set(namespace, own, dry_run="All")  # admitted
    hostile = json.loads(json.dumps(own))
    pod = hostile["spec"]["template"]["spec"]
    pod |= {"hostPID": True, "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}
    pod["containers"][0] |= {"args": ["cat /host/etc/shadow; sleep 3600"],
                             "volumeMounts": [{"name": "host", "mountPath": "/host"}]}
    for name in ("mlopsbench-netem", "innocent-looking"):
        hostile["metadata"]["name"] = name
        with pytest.raises(client.ApiException) as refused:
            apps.create_namespaced_daemon_set(namespace, hostile)
        assert refused.value.status in (403, 422) and "mlopsbench-netem-only" in refused.value.body
