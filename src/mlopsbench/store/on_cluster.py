"""The store on a cluster (``kubernetes.upload``) and the latency on the way to it.

* ``ClusterStore``: where the cluster's store is (its Service address for pods, its address
  from this machine with credentials, the Secret holding its keys) and how the setups on the
  cluster reach it (the uploader Job's node and limits, the netem DaemonSet's settings). On the
  local cluster (``kubernetes.local``) it is the store ``cluster up`` started.
* Latency: opt-in, the netem DaemonSet of ``deploy/netem-daemonset.yaml`` on the edge node; it is
  always deleted at the end, and its pods remove the qdisc as they stop. Otherwise, where this
  machine is the node, the kernel-path delay (``kernel_delay``) on the store pod's own interface,
  checked per cell; else a delay proxy pod on the edge node in front of the store, behind a
  Service of its own.

The cluster comes in as a ``cluster.target.ClusterTarget`` (its API clients among it), so unit
tests drive the same code with a fake API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Callable

import yaml

from .. import atomic
from ..cluster.cri import container_pid
from ..cluster.kube import labels, pod_log
from ..cluster.node import Layout
from ..cluster.target import ClusterTarget
from ..errors import InputError
from . import kernel_delay
from .objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, endpoint_from_environment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterStore:
    """``kubernetes.upload``: the cluster's store and how the setups on the cluster reach it."""

    service_endpoint: str           # the store as a pod reaches it
    # The store as this machine reaches it, with its credentials: resolved only when a setup
    # uploads from here (a pipeline run on the same cluster needs no store credentials).
    vm_store: Callable[[], Endpoint]
    credentials_secret: str         # the Secret the pods read the store's keys from
    job_node_selector: dict
    job_resources: dict
    job_timeout_s: float
    netem: bool
    kernel_delay: bool              # the kernel-path delay at the store pod, where this machine is the node
    netem_manifest: str
    netem_image: str
    netem_node_selector: dict
    netem_namespace: str
    netem_interface: str


STORE_KEYS = tuple(f.name for f in fields(ClusterStore) if f.name != "vm_store")
# What a vm or pod setup needs to know (the schema requires them where those setups run).
WHERE_THE_STORE_IS = ("vm_endpoint", "service_endpoint", "credentials_secret")


def cluster_store(section: dict) -> ClusterStore | None:
    """The store of a loaded ``kubernetes`` section (its defaults filled in); None where the section
    does not say where the store is, so that no setup on the cluster can run."""
    upload = section.get("upload") or {}
    if section.get("local") and upload:
        upload = upload | _local_addresses()
    if not all(key in upload for key in WHERE_THE_STORE_IS):
        return None
    vm_store = partial(local_store, upload["vm_endpoint"]) if section.get("local") else \
        partial(endpoint_from_environment, upload["vm_endpoint"], False)
    return ClusterStore(vm_store=vm_store, **{key: upload[key] for key in STORE_KEYS})


def _local_addresses() -> dict:
    """The local cluster's store: at its Service address for both setups (this machine reaches Service
    addresses through kube-proxy, as pods do), its keys in the Secret ``cluster up`` made."""
    from ..cluster import lifecycle, objects

    cluster = lifecycle.status()
    if cluster is None:
        raise InputError("kubernetes.local: the local cluster is not up; run `mlopsbench cluster up` (as root)")
    return {"vm_endpoint": cluster.store_address, "service_endpoint": cluster.store_address,
            "credentials_secret": objects.STORE_SECRET}


def local_store(address: str) -> Endpoint:
    """The local cluster's store as this machine reaches it, with the credentials ``cluster up`` made."""
    credentials = json.loads((Layout.default().conf / "store-credentials.json").read_text())
    host, _, port = address.rpartition(":")
    return Endpoint(host, int(port), credentials["access_key"], credentials["secret_key"], kind="cluster")


@contextlib.contextmanager
def cluster_latency(cluster: ClusterTarget, store: ClusterStore, latency_ms: float, record: Path):
    """The netem DaemonSet on the edge node where enabled ("netem-daemonset"); else, where this
    machine is the node, the kernel-path delay ("nfqueue") on the edge node's own link where the edge
    is a node of its own (everything that talks to the edge crosses it), or on the store pod's
    interface where one node plays both roles; checked and written to ``record``; else "proxy":
    the caller puts the user-space delay proxy in the path."""
    if store.netem and latency_ms > 0:
        with netem_delay(cluster, store, latency_ms) as emulation:
            yield emulation
        return
    usable = False
    if store.kernel_delay and cluster.cri:
        usable, why = kernel_delay.available()
        if not usable:
            log.warning("the kernel-path delay cannot run here (%s): the delay proxy stands in", why)
    if not usable:
        yield "proxy"
        return
    network = cluster.edge_network or _store_network(cluster)
    found = kernel_delay.check(network, "eth0", None, latency_ms)
    atomic.write_json(record, dataclasses.asdict(found) | {"round_trip_ok": found.round_trip_ok,
                                                         "throughput_ok": found.throughput_ok,
                                                         "link": "edge node" if cluster.edge_network else "store pod"})
    if not found.round_trip_ok:
        raise kernel_delay.DelayError(f"the kernel-path delay at the {'edge node' if cluster.edge_network else 'store'} "
                                      f"added {found.round_trip_ms - found.base_round_trip_ms:.2f} ms to a round trip, "
                                      f"not {latency_ms:g} ms (see {record})")
    with kernel_delay.KernelDelay(network, "eth0", latency_ms):
        yield kernel_delay.EMULATION


@contextlib.contextmanager
def in_cluster_way(cluster: ClusterTarget, store: ClusterStore, latency_ms: float, window_bytes: int, record: Path):
    """(the emulation, the address a pod reaches the store at through the cell's latency): the
    store's Service, or where the latency is the user-space proxy's, a delay proxy pod's Service in
    front of it, for the block."""
    address = service_address(cluster.clients.core, cluster.namespace, store.service_endpoint)
    with cluster_latency(cluster, store, latency_ms, record) as emulation:
        if emulation != "proxy":
            yield emulation, address
            return
        with delay_proxy_service(cluster, store, address, latency_ms, window_bytes) as proxy:
            yield emulation, proxy


STORE_SELECTOR = "app.kubernetes.io/name=seaweedfs"   # deploy/seaweedfs.yaml's store


def _store_network(cluster: ClusterTarget) -> str:
    """The store pod's network namespace, as a path this machine enters: its container's process,
    through the runtime, which only a node's own machine can ask."""
    pods = cluster.clients.core.list_namespaced_pod(cluster.namespace, label_selector=STORE_SELECTOR).items
    running = [p for p in pods if p.status.phase == "Running" and p.status.container_statuses]
    if not running:
        raise InputError(f"no running store pod ({STORE_SELECTOR}) in {cluster.namespace} to delay")
    pod = running[0]
    container = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    try:
        return f"/proc/{container_pid(cluster.cri, container)}/ns/net"
    except RuntimeError as error:
        raise InputError(f"the store pod {pod.metadata.name}: {error}") from None


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
def delay_proxy_service(cluster: ClusterTarget, store: ClusterStore, upstream: str, rtt_ms: float,
                        window_bytes: int):
    """A delay proxy pod on the edge node in front of ``upstream``, behind a Service of its own,
    for the block; yield the Service's address. Both are always deleted."""
    name = f"mlb-delay-{rtt_ms:g}ms-{int(time.time())}".replace(".", "-")
    tag = labels("delay-proxy", name)
    command = ["mlopsbench", "delay-proxy", "--upstream", upstream, "--port", str(PROXY_PORT), "--rtt-ms", f"{rtt_ms:g}",
               "--window-bytes", str(window_bytes)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": cluster.namespace, "labels": tag},
           "spec": {"nodeSelector": store.netem_node_selector, "serviceAccountName": cluster.service_account,
                    "automountServiceAccountToken": False, "enableServiceLinks": False, "dnsPolicy": "Default",
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "proxy", "image": cluster.image, "imagePullPolicy": cluster.image_pull_policy,
                                    "command": command, "ports": [{"containerPort": PROXY_PORT}],
                                    "readinessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 1},
                                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                  "limits": {"cpu": "1", "memory": "512Mi"}},
                                    "securityContext": {"allowPrivilegeEscalation": False,
                                                        "capabilities": {"drop": ["ALL"]}}}]}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": cluster.namespace,
                                                                   "labels": tag},
               "spec": {"selector": {"app.kubernetes.io/instance": name},
                        "ports": [{"port": PROXY_PORT, "targetPort": PROXY_PORT}]}}
    core = cluster.clients.core
    core.create_namespaced_pod(cluster.namespace, pod)
    try:
        created = core.create_namespaced_service(cluster.namespace, service)
        wait_for(lambda: core.read_namespaced_pod(name, cluster.namespace).status,
                 lambda st: any(c.type == "Ready" and c.status == "True" for c in st.conditions or []), 120, 0.5,
                 InputError(f"delay proxy {cluster.namespace}/{name}: not ready after 120 s"))
        log.info("delay proxy %s: %g ms in front of %s", name, rtt_ms, upstream)
        yield f"{created.spec.cluster_ip}:{PROXY_PORT}"
    finally:
        core.delete_namespaced_pod(name, cluster.namespace, grace_period_seconds=0)
        try:
            core.delete_namespaced_service(name, cluster.namespace)
        except Exception:  # never created: the pod's own creation failed first
            pass


def wait_for(read, done, timeout: float, poll: float, error):
    """Poll ``read()`` until ``done(value)``; raise ``error`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        if time.monotonic() > deadline:
            raise error
        time.sleep(poll)
    return value


def netem_daemonset(store: ClusterStore, delay_ms: float) -> dict:
    """The package's netem DaemonSet (``netem_manifest``) with the configured image, node and interface,
    the one a cluster's admission policy (deploy/netem-admission.yaml) lets the runner create."""
    body = yaml.safe_load(Path(store.netem_manifest).read_text())
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["image"] = store.netem_image
    body["spec"]["template"]["spec"]["nodeSelector"] = store.netem_node_selector
    env = {"NETEM_DELAY_MS": f"{delay_ms:g}", "NETEM_INTERFACE": store.netem_interface}
    for item in container["env"]:
        item["value"] = env.get(item["name"], item["value"])
    return body


@contextlib.contextmanager
def netem_delay(cluster: ClusterTarget, store: ClusterStore, delay_ms: float, timeout: float = 180.0,
                poll: float = 1.0):
    """Run the netem DaemonSet with ``delay_ms`` for the block; always delete it. A DaemonSet pod
    that fails (a kernel without the netem qdisc, say) is refused at once, with its log."""
    body = netem_daemonset(store, delay_ms)
    name, namespace = body["metadata"]["name"], store.netem_namespace
    selector = ",".join(f"{k}={v}" for k, v in body["spec"]["selector"]["matchLabels"].items())
    apps, core = cluster.clients.apps, cluster.clients.core

    created = time.monotonic()

    def ready(status) -> bool:
        if not status.desired_number_scheduled and time.monotonic() - created > 10:
            raise InputError(f"netem DaemonSet {namespace}/{name}: no node matches its node selector "
                             f"{store.netem_node_selector} (kubernetes.upload.netem_node_selector)")
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
        wait_for(lambda: apps.read_namespaced_daemon_set_status(name, namespace).status, ready, timeout, poll,
                 InputError(f"netem DaemonSet {namespace}/{name}: not ready after {timeout:g} s"))
        log.info("netem %g ms on %s of the edge node(s)", delay_ms, store.netem_interface)
        yield "netem-daemonset"
    finally:
        apps.delete_namespaced_daemon_set(name, namespace)


def store_credentials_env(secret: str) -> list[dict]:
    """The store's keys from the cluster's Secret, as the variables the minio client reads."""
    return [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for var, key in ((ACCESS_KEY_VARS[0], "MINIO_ROOT_USER"), (SECRET_KEY_VARS[0], "MINIO_ROOT_PASSWORD"))]
