"""Unit tests of the Kubernetes dispatcher, watcher and clean-up logic against a fake API
(tests/fake_kubernetes.py). No API server runs here; nothing in this file is an
integration test. The generated Pod and PVC specs are validated against the real
Kubernetes OpenAPI schemas."""

import pytest

from fake_kubernetes import FakeCluster, FakeWatch
from mlopsbench.kube import KubeClients, cleanup
from mlopsbench.pipeline.backends.kubernetes import Cluster, KubernetesRunner, cluster_spec, pod_manifest, pvc_manifest
from mlopsbench.pipeline.compiler import compile_notebook
from mlopsbench.pipeline.run import MANIFEST, RunFailed, RunSpec, read_events
from mlopsbench.records import RunIdentity

kubernetes_validate = pytest.importorskip("kubernetes_validate")


@pytest.fixture(scope="module")
def plan(repo):
    return compile_notebook(repo / "notebooks/intel54_pipeline.ipynb")


def runner(plan, tmp_path, cluster, step_timeout=None):
    identity = RunIdentity(study="thesis", backend="kubernetes", configuration="8x8x8_2MB", rep=1, series="dataset",
                           dataset_mb=2, width=8, hidden_layers=3)
    target = Cluster(KubeClients(core=cluster, watch=lambda: FakeWatch(cluster)), cluster_spec({}))
    spec = RunSpec(identity, tmp_path / "run", {"EPOCHS": 1}, step_timeout=step_timeout, cluster=target)
    return KubernetesRunner(plan, spec)


def test_steps_run_as_pods_in_dag_order_on_one_node(plan, tmp_path):
    cluster = FakeCluster()
    job = runner(plan, tmp_path, cluster)
    assert job.run() == "succeeded"
    events = [e for e in read_events(tmp_path / "run/events.jsonl") if hasattr(e, "step")]
    created = [e.step for e in events if e.event == "created"]
    finished = {e.step: e.t for e in events if e.event == "finished"}
    first_created = {e.step: e.t for e in events if e.event == "created"}
    assert created[0] == "preprocessing" and len(created) == 9
    assert first_created["dnnfit"] >= finished["dnncompile"]
    pins = [e.detail.get("node_pin") for e in events if e.event == "created"]
    assert pins[0] is None and set(pins[1:]) == {"node-a"}  # ReadWriteOnce: all on the first pod's node
    for e in events:
        if e.event in ("scheduled", "started", "finished"):
            assert e.source == "watch" and e.api_t == int(e.api_t)  # API times are whole seconds
    assert (tmp_path / "run" / MANIFEST).exists() and (tmp_path / "run/watch.jsonl").exists()
    assert "[JT] dnnfit time(s)" in (tmp_path / "run/logs/dnnfit.log").read_text()
    assert cluster.deleted[-2:] == [("pods", job.selector), ("pvcs", job.selector)]


def test_failed_pod_fails_the_run_and_skips_descendants(plan, tmp_path):
    cluster = FakeCluster(behaviour={"dnnfit": "fail"})
    job = runner(plan, tmp_path, cluster)
    with pytest.raises(RunFailed, match="step dnnfit exited with status 1"):
        job.run()
    events = read_events(tmp_path / "run/events.jsonl")
    skipped = {e.step for e in events if getattr(e, "event", None) == "skipped"}
    assert skipped == {"dnneval", "modelerrorssummary", "dnnpredict", "dnnpredictsummary"}
    assert ("pods", job.selector) in cluster.deleted and not (tmp_path / "run" / MANIFEST).exists()


def test_pod_that_never_schedules_times_out(plan, tmp_path):
    cluster = FakeCluster(behaviour={"preprocessing": "unschedulable"})
    job = runner(plan, tmp_path, cluster, step_timeout=1)
    with pytest.raises(RunFailed, match="step preprocessing timed out after 1 s"):
        job.run()
    assert ("pod", job.pods["preprocessing"]) in cluster.deleted
    assert ("pvcs", job.selector) in cluster.deleted


def test_interrupt_still_deletes_what_the_run_created(plan, tmp_path):
    cluster = FakeCluster(interrupt_on="dnnfit")
    job = runner(plan, tmp_path, cluster)
    with pytest.raises(KeyboardInterrupt):
        job.run()
    assert cluster.deleted[-2:] == [("pods", job.selector), ("pvcs", job.selector)]
    assert read_events(tmp_path / "run/events.jsonl")[-1].status == "interrupted"


def test_cleanup_command_defaults_to_everything_of_ours():
    cluster = FakeCluster()
    cleanup(cluster, "mlopsbench")
    assert cluster.deleted == [("pods", "app.kubernetes.io/part-of=mlopsbench"),
                               ("pvcs", "app.kubernetes.io/part-of=mlopsbench")]


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
@pytest.mark.parametrize("rwx", [False, True])
def test_generated_specs_are_valid_kubernetes(plan, version, rwx):
    cluster = cluster_spec({"read_write_many": rwx, "node_selector": {"iot": "core"},
                            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}})
    labels = {"app.kubernetes.io/part-of": "mlopsbench", "mlopsbench.io/step": "dnnfit"}
    pod = pod_manifest(cluster, "mlb-run-dnnfit", labels, plan.script("dnnfit", {}), "mlb-run", 3600,
                       None if rwx else "node-a")
    kubernetes_validate.validate(pod, version, strict=True)
    kubernetes_validate.validate(pvc_manifest(cluster, "mlb-run", labels), version, strict=True)
    assert pod["spec"]["activeDeadlineSeconds"] == 3600 and pod["spec"]["restartPolicy"] == "Never"


def test_tidy_keeps_the_three_clocks_apart(plan, tmp_path):
    from mlopsbench.pipeline.tidy import read_run

    runner(plan, tmp_path, FakeCluster()).run()
    rows, run = read_run(tmp_path / "run")
    sources = {}
    for row in rows:
        sources.setdefault(row["timestamp_source"], []).append(row)
    assert set(sources) == {"watch", "api", "prometheus"} and all(len(v) == 9 for v in sources.values())
    assert all(r["created"] == int(r["created"]) for r in sources["api"])        # whole seconds
    assert any(r["created"] != int(r["created"]) for r in sources["watch"])      # sub-second
    assert all(r["created"] is None for r in sources["prometheus"])              # no Prometheus configured
    assert run["status"] == "succeeded" and run["steps"] == 9
