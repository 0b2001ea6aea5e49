"""pod: a Job on the core node builds the models and uploads them to the store's Service from
inside the cluster (the thesis's Kubernetes pod): it runs the upload worker, which prints one
record a line; they are read from the Job's log, and the Job is deleted afterwards.
The latency is the edge node's netem where enabled, else the kernel-path delay at the store pod
where this machine is the node, else a delay proxy pod on the edge node in front of the store."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict

from ...cluster.kube import labels, pod_log
from ...cluster.target import ClusterTarget, target_from_config
from ...rawdirs import CellDir
from ...records import UploadRecord
from ...store.objectstore import StoreError
from ...store.on_cluster import ClusterStore, in_cluster_way, store_credentials_env, wait_for
from ..plan import CellSpec, UploadModel
from ..transfer import Sink
from ..worker import job
from . import Setup, always_available
from .vm import store_kind


def plan(spec: CellSpec, models: list[UploadModel], done: set) -> list[dict]:
    """The models are built in the pod, at the paths its Job writes them to."""
    return [{"path": f"/tmp/models/model_{m.size_mb:g}MB.keras", "model_mb": m.size_mb, "rep": rep,
             "object": f"pod-{spec.latency_ms:g}ms-model_{m.size_mb:g}MB-rep{rep}"}
            for rep in range(1, spec.reps + 1) for m in models if (m.size_mb, rep) not in done]


def run(spec: CellSpec, items: list[dict], sink: Sink) -> None:
    cluster, store = spec.on_cluster()
    name = f"mlb-upload-{spec.latency_ms:g}ms-{int(time.time())}".replace(".", "-")
    sizes = sorted({(item["model_mb"], spec.unit) for item in items})
    # As on this machine, the proxy relays at 0 ms too, so every latency pays it.
    with in_cluster_way(cluster, store, spec.latency_ms, spec.window_bytes, CellDir(spec.out_dir).delay) as \
            (emulation, target):
        context = {"study": spec.study, "setup": spec.setup, "endpoint": f"http://{store.service_endpoint}",
                   "emulation": emulation, "parameters": asdict(spec.parameters(store_kind(spec)))}
        manifest = job_manifest(cluster, store, name, labels("uploader", name), sizes, job(context, items), target,
                                int(store.job_timeout_s))
        lines, job_failed = run_job(cluster.clients.core, cluster.clients.batch, cluster.namespace, manifest,
                                    store.service_endpoint, store.job_timeout_s + 60)
    records = [UploadRecord.from_json(line) for line in lines]
    for record in records:
        sink(record)
    failure = next((r.error for r in records if r.status == "failed"), None)
    if job_failed and failure is None:
        # The Job died before it reported the next upload: that upload failed.
        reported = {(r.model_mb, r.rep) for r in records}
        item = next(i for i in items if (i["model_mb"], i["rep"]) not in reported)
        failure = f"store {context['endpoint']}: upload Job {cluster.namespace}/{name} failed before reporting (see its log)"
        sink(UploadRecord(study=spec.study, setup=spec.setup, model_mb=item["model_mb"], rep=item["rep"],
                          parameters=spec.parameters(store_kind(spec)), endpoint=context["endpoint"],
                          emulation=emulation, bytes=0, requests=0, started=time.time(), status="failed",
                          error=failure))
    if failure:
        raise StoreError(failure)


def job_manifest(cluster: ClusterTarget, store: ClusterStore, name: str, labels: dict, models: list[tuple[float, str]],
                 work: dict, endpoint: str, deadline_s: int) -> dict:
    """The "pod" uploader: build each model in the pod, then run the upload worker on ``work``."""
    build = [f"mlopsbench upload-model --size {size:g} --unit {unit} --output /tmp/models/model_{size:g}MB.keras"
             for size, unit in models]
    worker = f"mlopsbench upload-worker --endpoint {shlex.quote(endpoint)} < /tmp/plan.json"
    script = " && ".join(["set -e", 'printf "%s" "$PLAN" > /tmp/plan.json', *build, worker])
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": cluster.namespace, "labels": labels},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": deadline_s, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never", "nodeSelector": store.job_node_selector,
                "serviceAccountName": cluster.service_account, "automountServiceAccountToken": False,
                "enableServiceLinks": False, "dnsPolicy": "Default",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "uploader", "image": cluster.image, "imagePullPolicy": cluster.image_pull_policy,
                    "command": ["/bin/sh", "-c", script], "resources": store.job_resources,
                    "env": [*store_credentials_env(store.credentials_secret),
                            {"name": "PLAN", "value": json.dumps(work)}],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }],
            }}},
    }


def run_job(core, batch, namespace: str, manifest: dict, endpoint: str, timeout: float,
            poll: float = 2.0) -> tuple[list[dict], bool]:
    """Create the Job, wait for it; return the JSON records from its log and whether it failed.
    The Job is always deleted."""
    name = manifest["metadata"]["name"]
    batch.create_namespaced_job(namespace, manifest)
    try:
        status = wait_for(lambda: batch.read_namespaced_job_status(name, namespace).status,
                           lambda st: st.succeeded or st.failed, timeout, poll,
                           StoreError(f"{endpoint}: upload Job {namespace}/{name} did not finish in {timeout:g} s"))
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        text = "".join(pod_log(core, p.metadata.name, namespace) for p in pods)
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")], bool(status.failed)
    finally:
        batch.delete_namespaced_job(name, namespace, propagation_policy="Background")


SETUP = Setup(
    name="pod", thesis_role="pod", peer="vm",
    path="pod: a Kubernetes Job on the core node uploads to the store's Service from inside the cluster "
         "(the thesis's pod).",
    unavailable=always_available, store=store_kind, plan=plan, run=run,
    cluster_target=target_from_config,
)
