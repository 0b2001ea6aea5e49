"""What the cluster setups ("vm" and "pod") share: the netem DaemonSet, the delay proxy, the Job.

* Latency: opt-in, the netem DaemonSet of ``deploy/netem-daemonset.yaml`` on the edge
  node; it is always deleted at the end, and its pods remove the qdisc as they stop.
* The "pod" uploader is a Job that builds the models in the pod and runs the upload
  worker, which prints one record a line; they are read from its log, and the Job is
  deleted afterwards.

The cluster comes in as the cell's ``ClusterTarget`` (its API clients among it), so unit tests
drive the same code with a fake API.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import time
from pathlib import Path

import yaml

from ...cluster.kube import labels, pod_log
from ...cluster.target import ClusterTarget
from ...errors import InputError
from ..objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, StoreError
from ..plan import CellSpec

log = logging.getLogger(__name__)


def options_of(spec: CellSpec) -> ClusterTarget:
    """The cluster a setup runs against, with its ``kubernetes.upload`` options."""
    if spec.options is None:
        raise InputError(f"setup {spec.setup} runs on a cluster: give --cluster-config")
    if spec.options.upload is None:
        raise InputError("the vm and pod upload setups need kubernetes.upload with vm_endpoint, service_endpoint "
                         "and credentials_secret (see config/cluster.yaml)")
    return spec.options


@contextlib.contextmanager
def cluster_latency(spec: CellSpec):
    """The netem DaemonSet on the edge node where enabled ("netem-daemonset"); else "proxy": the
    caller puts the user-space delay proxy in the uploader's path to the store."""
    options = options_of(spec)
    if options.upload.netem and spec.latency_ms > 0:
        with netem_delay(options, spec.latency_ms) as emulation:
            yield emulation
    else:
        yield "proxy"


PROXY_PORT = 8334


def service_address(core, namespace: str, endpoint: str) -> str:
    """``name.namespace.svc[.cluster.local]:port`` as the Service's address (the pods run without
    cluster DNS); any other endpoint as it is."""
    host, _, port = endpoint.rpartition(":")
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc":
        service = core.read_namespaced_service(parts[0], parts[1] or namespace)
        return f"{service.spec.cluster_ip}:{port}"
    return endpoint


@contextlib.contextmanager
def delay_proxy_service(options: ClusterTarget, upstream: str, rtt_ms: float, window_bytes: int):
    """A delay proxy pod on the edge node in front of ``upstream``, behind a Service of its own,
    for the block; yield the Service's address. Both are always deleted."""
    name = f"mlb-delay-{rtt_ms:g}ms-{int(time.time())}".replace(".", "-")
    tag = labels("delay-proxy", name)
    command = ["mlopsbench", "delay-proxy", "--upstream", upstream, "--port", str(PROXY_PORT), "--rtt-ms", f"{rtt_ms:g}",
               "--window-bytes", str(window_bytes)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": options.namespace, "labels": tag},
           "spec": {"nodeSelector": options.upload.netem_node_selector, "serviceAccountName": options.service_account,
                    "automountServiceAccountToken": False, "enableServiceLinks": False, "dnsPolicy": "Default",
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "proxy", "image": options.image, "imagePullPolicy": options.image_pull_policy,
                                    "command": command, "ports": [{"containerPort": PROXY_PORT}],
                                    "readinessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 1},
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                  "limits": {"cpu": "1", "memory": "512Mi"}},
                                    "securityContext": {"allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]}}}]}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": options.namespace,
                                                                   "labels": tag},
               "spec": {"selector": {"app.kubernetes.io/instance": name},
                        "ports": [{"port": PROXY_PORT, "targetPort": PROXY_PORT}]}}
    core = options.clients.core
    core.create_namespaced_pod(options.namespace, pod)
    try:
        created = core.create_namespaced_service(options.namespace, service)
        _wait_for(lambda: core.read_namespaced_pod(name, options.namespace).status,
                  lambda st: any(c.type == "Ready" and c.status == "True" for c in st.conditions or []), 120, 0.5,
                  InputError(f"delay proxy {options.namespace}/{name}: not ready after 120 s"))
        log.info("delay proxy %s: %g ms in front of %s", name, rtt_ms, upstream)
        yield f"{created.spec.cluster_ip}:{PROXY_PORT}"
    finally:
        core.delete_namespaced_pod(name, options.namespace, grace_period_seconds=0)
        try:
            core.delete_namespaced_service(name, options.namespace)
        except Exception:  # never created: the pod's own creation failed first
            pass


def _wait_for(read, done, timeout: float, poll: float, error):
    """Poll ``read()`` until ``done(value)``; raise ``error`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        if time.monotonic() > deadline:
            raise error
        time.sleep(poll)
    return value


def netem_daemonset(options: ClusterTarget, delay_ms: float) -> dict:
    """The package's netem DaemonSet (``netem_manifest``) with the configured image, node and interface,
    the one a cluster's admission policy (deploy/netem-admission.yaml) lets the runner create."""
    body = yaml.safe_load(Path(options.upload.netem_manifest).read_text())
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["image"] = options.upload.netem_image
    body["spec"]["template"]["spec"]["nodeSelector"] = options.upload.netem_node_selector
    env = {"NETEM_DELAY_MS": f"{delay_ms:g}", "NETEM_INTERFACE": options.upload.netem_interface}
    for item in container["env"]:
        item["value"] = env.get(item["name"], item["value"])
    return body


@contextlib.contextmanager
def netem_delay(options: ClusterTarget, delay_ms: float, timeout: float = 180.0, poll: float = 1.0):
    """Run the netem DaemonSet with ``delay_ms`` for the block; always delete it. A DaemonSet pod
    that fails (a kernel without the netem qdisc, say) is refused at once, with its log."""
    body = netem_daemonset(options, delay_ms)
    name, namespace = body["metadata"]["name"], options.upload.netem_namespace
    selector = ",".join(f"{k}={v}" for k, v in body["spec"]["selector"]["matchLabels"].items())
    apps, core = options.clients.apps, options.clients.core

    created = time.monotonic()

    def ready(status) -> bool:
        if not status.desired_number_scheduled and time.monotonic() - created > 10:
            raise InputError(f"netem DaemonSet {namespace}/{name}: no node matches its node selector "
                             f"{options.upload.netem_node_selector} (kubernetes.upload.netem_node_selector)")
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
        log.info("netem %g ms on %s of the edge node(s)", delay_ms, options.upload.netem_interface)
        yield "netem-daemonset"
    finally:
        apps.delete_namespaced_daemon_set(name, namespace)


def store_credentials_env(secret: str) -> list[dict]:
    """The store's keys from the cluster's Secret, as the variables the minio client reads."""
    return [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for var, key in ((ACCESS_KEY_VARS[0], "MINIO_ROOT_USER"), (SECRET_KEY_VARS[0], "MINIO_ROOT_PASSWORD"))]


def job_manifest(options: ClusterTarget, name: str, labels: dict, models: list[tuple[float, str]], work: dict,
                 endpoint: str, service_account: str, deadline_s: int) -> dict:
    """The "pod" uploader: build each model in the pod, then run the upload worker on ``work``."""
    build = [f"mlopsbench upload-model --size {size:g} --unit {unit} --output /tmp/models/model_{size:g}MB.keras"
             for size, unit in models]
    worker = f"mlopsbench upload-worker --endpoint {shlex.quote(endpoint)} < /tmp/plan.json"
    script = " && ".join(["set -e", 'printf "%s" "$PLAN" > /tmp/plan.json', *build, worker])
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": options.namespace, "labels": labels},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": deadline_s, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "restartPolicy": "Never", "nodeSelector": options.upload.job_node_selector,
                "serviceAccountName": service_account, "automountServiceAccountToken": False,
                "enableServiceLinks": False, "dnsPolicy": "Default",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "uploader", "image": options.image, "imagePullPolicy": options.image_pull_policy,
                    "command": ["/bin/sh", "-c", script], "resources": options.upload.job_resources,
                    "env": [*store_credentials_env(options.upload.credentials_secret),
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
        status = _wait_for(lambda: batch.read_namespaced_job_status(name, namespace).status,
                           lambda st: st.succeeded or st.failed, timeout, poll,
                           StoreError(f"{endpoint}: upload Job {namespace}/{name} did not finish in {timeout:g} s"))
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        text = "".join(pod_log(core, p.metadata.name, namespace) for p in pods)
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")], bool(status.failed)
    finally:
        batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
