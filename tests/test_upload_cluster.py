"""The "vm" and "pod" upload setups. The cluster side (Job, netem DaemonSet) is a unit test
against a fake of the Kubernetes API; the "vm" path uploads to a real SeaweedFS standing in
for MinIO behind the edge node. Generated specs are validated against the OpenAPI schemas."""

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from fake_kubernetes import FakeApps, FakeBatch, FakeJobPods
from mlopsbench.cluster.kube import KubeClients
from mlopsbench.cluster.target import target_from_config
from mlopsbench.config import with_defaults
from mlopsbench.store.objectstore import SeaweedFS, StoreError
from mlopsbench.store.on_cluster import ClusterStore
from mlopsbench.upload.cell import run_cell
from mlopsbench.upload.plan import CellSpec, UploadModel, model_from_sidecar, read_records
from mlopsbench.upload.setups.pod import job_manifest
from mlopsbench.upload.setups.pod import plan as pod_plan
from mlopsbench.upload.worker import job

kubernetes_validate = pytest.importorskip("kubernetes_validate")
MIB = 1 << 20


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "model_1MB.keras"
    path.write_bytes(b"\0" * MIB)
    (tmp_path / "model_1MB.json").write_text(json.dumps({"size": 1, "unit": "MiB"}))
    return [model_from_sidecar(path)]


def cluster(repo, pods, batch, apps, netem=True, vm_endpoint=None) -> dict:
    """A cluster target on a fake API and its store: MinIO behind a Service, the netem DaemonSet on the
    edge node (a cell spec's cluster and cluster_store)."""
    section = with_defaults({"namespace": "mlopsbench", "image": "mlopsbench:0.1.0", "image_pull_policy": "IfNotPresent"},
                            "kubernetes")
    target = target_from_config(section, clients=KubeClients(core=pods, batch=batch, apps=apps))
    store = ClusterStore(service_endpoint="minio.mlopsbench.svc:9000", vm_store=lambda: vm_endpoint,
                         credentials_secret="minio-credentials", job_node_selector={"iot": "core"},
                         job_resources={"requests": {"cpu": "1"}}, job_timeout_s=60, netem=netem, kernel_delay=False,
                         netem_manifest=str(repo / "deploy/netem-daemonset.yaml"),
                         netem_image="nicolaka/netshoot:v0.13", netem_node_selector={"iot": "edge"},
                         netem_namespace="mlopsbench-netem", netem_interface="eth0")
    return {"cluster": target, "cluster_store": store}


def worker_lines(spec, reps, ok=True):
    """What the upload worker in the Job's pod prints: one UploadRecord a line."""
    parameters = asdict(spec.parameters("cluster"))
    lines = [json.dumps({"v": 1, "study": spec.study, "setup": "pod", "model_mb": 1.0, "rep": r,
                         "parameters": parameters, "endpoint": "http://minio.mlopsbench.svc:9000",
                         "emulation": "netem-daemonset", "bytes": MIB, "requests": 1, "started": 0.0,
                         "seconds": 0.5, "verified": True, "verify_method": "etag",
                         "status": "ok" if ok else "failed"}) for r in range(1, reps + 1)]
    return "building models...\n" + "\n".join(lines) + "\n"


def test_pod_setup_runs_a_job_behind_netem_and_removes_both(repo, models, tmp_path):
    pods, apps = FakeJobPods(), FakeApps()
    spec = CellSpec(setup="pod", latency_ms=50, reps=2, out_dir=tmp_path / "pod/50ms", part_size=5 * MIB)
    batch = FakeBatch(pods.logs, worker_lines(spec, 2))
    spec = replace(spec, **cluster(repo, pods, batch, apps))
    assert run_cell(spec, models)["status"] == "succeeded"
    records = read_records(spec.out_dir)
    assert [r.rep for r in records] == [1, 2]
    assert all(r.setup == "pod" and r.emulation == "netem-daemonset" and r.latency_ms == 50 for r in records)
    env = {e["name"]: e["value"] for e in apps.created[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"NETEM_DELAY_MS": "50", "NETEM_INTERFACE": "eth0"}
    assert apps.deleted == ["mlopsbench-netem"] and batch.deleted == list(batch.jobs)


def test_failed_job_names_the_service_and_still_removes_the_delay(repo, models, tmp_path):
    pods, apps = FakeJobPods(), FakeApps()
    batch = FakeBatch(pods.logs, "Traceback: the store went away\n", outcome="failed")
    spec = CellSpec(setup="pod", latency_ms=250, reps=1, out_dir=tmp_path / "pod/250ms", part_size=5 * MIB,
                    **cluster(repo, pods, batch, apps))
    with pytest.raises(StoreError, match=r"store http://minio\.mlopsbench\.svc:9000: upload Job .* failed"):
        run_cell(spec, models)
    assert apps.deleted == ["mlopsbench-netem"] and batch.deleted
    assert read_records(spec.out_dir)[0].status == "failed"


@pytest.mark.integration
def test_vm_setup_uploads_to_the_configured_endpoint(repo, models, tmp_path):
    with SeaweedFS(tmp_path / "edge") as endpoint:
        spec = CellSpec(setup="vm", latency_ms=50, reps=1, out_dir=tmp_path / "vm/50ms", part_size=5 * MIB,
                        **cluster(repo, FakeJobPods(), None, FakeApps(), netem=False, vm_endpoint=endpoint))
        run_cell(spec, models)
    (record,) = read_records(spec.out_dir)
    assert record.setup == "vm" and record.verified and record.emulation == "proxy"


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
def test_job_spec_is_valid_kubernetes(version, tmp_path):
    spec = CellSpec(setup="pod", latency_ms=400, reps=10, out_dir=tmp_path)
    models = [UploadModel(tmp_path / f"model_{size}MB.keras", size, 0) for size in (49, 241)]
    work = job({"study": "thesis"}, pod_plan(spec, models, set()))
    on_cluster = cluster(Path(__file__).parents[1], None, None, None)
    manifest = job_manifest(on_cluster["cluster"], on_cluster["cluster_store"], "mlb-upload-400ms",
                            {"app.kubernetes.io/part-of": "mlopsbench"}, [(49, "MiB"), (241, "MiB")], work,
                            "minio.mlopsbench.svc:9000", 3600)
    kubernetes_validate.validate(manifest, version, strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert "mlopsbench upload-worker --endpoint minio.mlopsbench.svc:9000" in container["command"][2]
    assert len(json.loads(next(e["value"] for e in container["env"] if e["name"] == "PLAN"))["items"]) == 20
