"""The upload experiment on a cluster (Section 4.2): "vm" and "pod" against MinIO on the edge.

* ``vm``: this host uploads to the MinIO Service as it reaches it (``vm_endpoint``).
* ``pod``: a Job on an ``iot=core`` node builds the models and uploads them to the
  Service's in-cluster address, printing one JSON line per upload, which is read from
  its log. The Job is deleted afterwards.
* Latency: opt-in, the netem DaemonSet of ``deploy/netem-daemonset.yaml`` on the edge
  node; it is always deleted at the end, and its pods remove the qdisc as they stop.

The API objects are passed in, so tests drive the same code with a fake.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import time
from pathlib import Path

import yaml

from ..errors import InputError
from ..objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, StoreError

log = logging.getLogger(__name__)


def _wait_for(read, done, timeout: float, poll: float, error):
    """Poll ``read()`` until ``done(value)``; raise ``error`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        if time.monotonic() > deadline:
            raise error
        time.sleep(poll)
    return value


@contextlib.contextmanager
def netem_delay(apps, namespace: str, manifest: str | Path, delay_ms: float, interface: str,
                timeout: float = 180.0, poll: float = 1.0):
    """Run the netem DaemonSet with ``delay_ms`` for the block; always delete it."""
    body = yaml.safe_load(Path(manifest).read_text())
    env = {"NETEM_DELAY_MS": f"{delay_ms:g}", "NETEM_INTERFACE": interface}
    for item in body["spec"]["template"]["spec"]["containers"][0]["env"]:
        item["value"] = env.get(item["name"], item["value"])
    name = body["metadata"]["name"]
    apps.create_namespaced_daemon_set(namespace, body)
    try:
        _wait_for(lambda: apps.read_namespaced_daemon_set_status(name, namespace).status,
                  lambda st: st.desired_number_scheduled and st.number_ready >= st.desired_number_scheduled,
                  timeout, poll, InputError(f"netem DaemonSet {namespace}/{name}: not ready after {timeout:g} s "
                                            f"(is a node labelled iot=edge?)"))
        log.info("netem %g ms on %s of the edge node(s)", delay_ms, interface)
        yield "netem-daemonset"
    finally:
        apps.delete_namespaced_daemon_set(name, namespace)


def job_manifest(namespace: str, name: str, labels: dict, image: str, models: list[tuple[float, str]],
                 plan: list[dict], endpoint: str, bucket: str, part_size: int, secret: str,
                 node_selector: dict, deadline_s: int) -> dict:
    """The "pod" uploader: build each model in the pod, then run the upload worker."""
    build = [f"mlopsbench upload-model --size {size:g} --unit {unit} --output /tmp/models/model_{size:g}MB.keras"
             for size, unit in models]
    worker = (f"mlopsbench upload-worker --endpoint {shlex.quote(endpoint)} --bucket {shlex.quote(bucket)} "
              f"--part-size {part_size} < /tmp/plan.json")
    script = " && ".join(["set -e", 'printf "%s" "$PLAN" > /tmp/plan.json', *build, worker])
    secret_env = [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
                  for var, key in ((ACCESS_KEY_VARS[0], "MINIO_ROOT_USER"), (SECRET_KEY_VARS[0], "MINIO_ROOT_PASSWORD"))]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": deadline_s, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never", "nodeSelector": node_selector,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "uploader", "image": image, "command": ["/bin/sh", "-c", script],
                    "env": [*secret_env, {"name": "PLAN", "value": json.dumps(plan)}],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }],
            }}},
    }


def pod_plan(models: list[tuple[float, str]], reps: int, latency_ms: float) -> list[dict]:
    return [{"path": f"/tmp/models/model_{size:g}MB.keras", "model_mb": size, "rep": rep,
             "object": f"pod-{latency_ms:g}ms-model_{size:g}MB-rep{rep}"}
            for rep in range(1, reps + 1) for size, _ in models]


def run_job(core, batch, namespace: str, manifest: dict, endpoint: str, timeout: float,
            poll: float = 2.0) -> list[dict]:
    """Create the Job, wait for it, return the JSON records from its log; always delete it."""
    name = manifest["metadata"]["name"]
    batch.create_namespaced_job(namespace, manifest)
    try:
        status = _wait_for(lambda: batch.read_namespaced_job_status(name, namespace).status,
                           lambda st: st.succeeded or st.failed, timeout, poll,
                           StoreError(f"{endpoint}: upload Job {namespace}/{name} did not finish in {timeout:g} s"))
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        text = "".join(core.read_namespaced_pod_log(p.metadata.name, namespace) for p in pods)
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        if status.failed and not any(r.get("status") == "failed" for r in records):
            records.append({"status": "failed", "seconds": None, "verified": False,
                            "error": f"upload Job {name} failed before reporting (see its log)"})
        return records
    finally:
        batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
