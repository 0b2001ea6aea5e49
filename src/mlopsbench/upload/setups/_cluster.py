"""What the cluster setups ("vm" and "pod") share: their options, the netem DaemonSet, the Job.

* Latency: opt-in, the netem DaemonSet of ``deploy/netem-daemonset.yaml`` on the edge
  node; it is always deleted at the end, and its pods remove the qdisc as they stop.
* The "pod" uploader is a Job that builds the models in the pod and runs the upload
  worker, which prints one record a line; they are read from its log, and the Job is
  deleted afterwards.

The API clients are part of the options, so unit tests drive the same code with a fake.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ...config import with_defaults
from ...errors import InputError
from ...kube import KubeClients, connect, pod_log
from ...objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, StoreError, endpoint_from_environment
from ..plan import CellSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterUpload:
    """The ``kubernetes.upload`` options (defaults from the schema) and the API clients."""

    clients: KubeClients
    namespace: str
    image: str
    image_pull_policy: str
    service_account: str          # what the Job runs as (no API rights)
    service_endpoint: str         # MinIO as a pod reaches it
    vm_endpoint: Endpoint | None  # MinIO as this host reaches it
    secret: str
    node_selector: dict
    netem: bool
    netem_manifest: str
    netem_image: str
    netem_node_selector: dict
    netem_namespace: str
    netem_interface: str
    job_resources: dict
    job_timeout_s: float


def options_from_config(section: dict, clients: KubeClients | None = None) -> ClusterUpload:
    """The options of a configuration's ``kubernetes`` section; connects unless given clients."""
    from ...cluster.target import resolve, store_endpoint

    section = resolve(with_defaults(section, "kubernetes"))
    if "upload" not in section:
        raise InputError("the vm and pod upload setups need a kubernetes.upload section (see config/cluster.yaml)")
    upload = section["upload"]
    vm_endpoint = store_endpoint(upload["vm_endpoint"]) if section["local"] else \
        endpoint_from_environment(upload["vm_endpoint"], False)
    return ClusterUpload(clients=clients or connect(section), namespace=section["namespace"],
                         image=section["image"], image_pull_policy=section["image_pull_policy"],
                         service_account=section["service_account"], service_endpoint=upload["service_endpoint"],
                         vm_endpoint=vm_endpoint,
                         secret=upload["credentials_secret"], node_selector=upload["job_node_selector"],
                         netem=upload["netem"], netem_manifest=upload["netem_manifest"],
                         netem_image=upload["netem_image"], netem_node_selector=upload["netem_node_selector"],
                         netem_namespace=upload["netem_namespace"], netem_interface=upload["netem_interface"],
                         job_resources=upload["job_resources"], job_timeout_s=upload["job_timeout_s"])


def options_of(spec: CellSpec) -> ClusterUpload:
    if spec.options is None:
        raise InputError(f"setup {spec.setup} runs on a cluster: give --cluster-config")
    return spec.options


@contextlib.contextmanager
def cluster_latency(spec: CellSpec, proxy_possible: bool):
    """The netem DaemonSet on the edge node when enabled ("netem-daemonset"); else "proxy" where
    the caller can put the delay proxy in the path, and a refusal where it cannot."""
    options = options_of(spec)
    if options.netem and spec.latency_ms > 0:
        with netem_delay(options, spec.latency_ms) as emulation:
            yield emulation
    elif not proxy_possible and spec.latency_ms > 0:
        raise InputError(f"setup {spec.setup} at {spec.latency_ms:g} ms: set kubernetes.upload.netem: true "
                         "(no proxy can sit between a pod and the Service)")
    else:
        yield "proxy" if proxy_possible else "none"


def _wait_for(read, done, timeout: float, poll: float, error):
    """Poll ``read()`` until ``done(value)``; raise ``error`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        if time.monotonic() > deadline:
            raise error
        time.sleep(poll)
    return value


@contextlib.contextmanager
def netem_delay(options: ClusterUpload, delay_ms: float, timeout: float = 180.0, poll: float = 1.0):
    """Run the netem DaemonSet with ``delay_ms`` for the block; always delete it. A DaemonSet pod
    that fails (a kernel without the netem qdisc, say) is refused at once, with its log."""
    body = yaml.safe_load(Path(options.netem_manifest).read_text())
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["image"] = options.netem_image
    body["spec"]["template"]["spec"]["nodeSelector"] = options.netem_node_selector
    env = {"NETEM_DELAY_MS": f"{delay_ms:g}", "NETEM_INTERFACE": options.netem_interface}
    for item in container["env"]:
        item["value"] = env.get(item["name"], item["value"])
    name, namespace = body["metadata"]["name"], options.netem_namespace
    selector = ",".join(f"{k}={v}" for k, v in body["spec"]["selector"]["matchLabels"].items())
    apps, core = options.clients.apps, options.clients.core

    created = time.monotonic()

    def ready(status) -> bool:
        if not status.desired_number_scheduled and time.monotonic() - created > 10:
            raise InputError(f"netem DaemonSet {namespace}/{name}: no node matches its node selector "
                             f"{options.netem_node_selector} (kubernetes.upload.netem_node_selector)")
        for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
            for state in (pod.status.container_statuses or []) if pod.status else []:
                waiting = state.state.waiting if state.state else None
                ended = state.state.terminated if state.state else None
                if state.restart_count or (ended and ended.exit_code) or (waiting and waiting.reason == "CrashLoopBackOff"):
                    why = pod_log(core, pod.metadata.name, namespace).strip()[-500:] or "no log"
                    raise InputError(f"netem DaemonSet {namespace}/{name}: the edge node cannot add the delay "
                                     f"({why}); its kernel may lack the netem qdisc: set kubernetes.upload.netem: "
                                     f"false to use the delay proxy")
        return bool(status.desired_number_scheduled) and status.number_ready >= status.desired_number_scheduled

    apps.create_namespaced_daemon_set(namespace, body)
    try:
        _wait_for(lambda: apps.read_namespaced_daemon_set_status(name, namespace).status, ready, timeout, poll,
                  InputError(f"netem DaemonSet {namespace}/{name}: not ready after {timeout:g} s"))
        log.info("netem %g ms on %s of the edge node(s)", delay_ms, options.netem_interface)
        yield "netem-daemonset"
    finally:
        apps.delete_namespaced_daemon_set(name, namespace)


def job_manifest(options: ClusterUpload, name: str, labels: dict, models: list[tuple[float, str]], work: dict,
                 endpoint: str, service_account: str, deadline_s: int) -> dict:
    """The "pod" uploader: build each model in the pod, then run the upload worker on ``work``."""
    build = [f"mlopsbench upload-model --size {size:g} --unit {unit} --output /tmp/models/model_{size:g}MB.keras"
             for size, unit in models]
    worker = f"mlopsbench upload-worker --endpoint {shlex.quote(endpoint)} < /tmp/plan.json"
    script = " && ".join(["set -e", 'printf "%s" "$PLAN" > /tmp/plan.json', *build, worker])
    secret_env = [{"name": var, "valueFrom": {"secretKeyRef": {"name": options.secret, "key": key}}}
                  for var, key in ((ACCESS_KEY_VARS[0], "MINIO_ROOT_USER"), (SECRET_KEY_VARS[0], "MINIO_ROOT_PASSWORD"))]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": options.namespace, "labels": labels},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": deadline_s, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never", "nodeSelector": options.node_selector,
                "serviceAccountName": service_account, "automountServiceAccountToken": False,
                "enableServiceLinks": False, "dnsPolicy": "Default",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "uploader", "image": options.image, "imagePullPolicy": options.image_pull_policy,
                    "command": ["/bin/sh", "-c", script], "resources": options.job_resources,
                    "env": [*secret_env, {"name": "PLAN", "value": json.dumps(work)}],
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
        status = _wait_for(lambda: batch.read_namespaced_job_status(name, namespace).status,
                           lambda st: st.succeeded or st.failed, timeout, poll,
                           StoreError(f"{endpoint}: upload Job {namespace}/{name} did not finish in {timeout:g} s"))
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        text = "".join(pod_log(core, p.metadata.name, namespace) for p in pods)
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")], bool(status.failed)
    finally:
        batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
