"""The Kubernetes backend: every step is a Pod in DAG order, data passes through a PVC.

Two clocks are kept apart, as ClusterLoader2 does: the watcher's own receive times
(sub-second) and the API server's timestamps (whole seconds), and, after the run,
kube-state-metrics' series from Prometheus (``prometheus.collect``). Pods and the
volume are deleted only after their logs and metrics are collected, and always: on
success, failure, an error or Ctrl-C, found by the run's label.

The client objects are passed in, so tests drive the same code with a fake API.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field

from .. import atomic
from .compiler import Plan
from .events import EventLog, read_events
from .local import RunSpec, abort_run, begin_run, finish_run, release_steps
from .prometheus import collect

MOUNT = "/marshal"
PART_OF = "mlopsbench"
KEY = "mlopsbench.io"

log = logging.getLogger(__name__)


@dataclass
class ClusterSpec:
    namespace: str = "mlopsbench"
    image: str = "mlopsbench:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    service_account: str = "mlopsbench-runner"
    node_selector: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    storage_class: str | None = None
    read_write_many: bool = False
    volume_size: str = "1Gi"
    prometheus_url: str | None = None
    scrape_interval_s: float = 5.0


def cluster_spec(section: dict) -> ClusterSpec:
    """The ``kubernetes`` section of a validated configuration, without the connection keys."""
    return ClusterSpec(**{k: v for k, v in section.items() if k not in ("kubeconfig", "context")})


def connect(section: dict):
    """(CoreV1Api, Watch factory) from the kubeconfig named in config, in-cluster, or ~/.kube/config."""
    from kubernetes import client, config, watch

    if section.get("kubeconfig"):
        config.load_kube_config(config_file=section["kubeconfig"], context=section.get("context"))
    else:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config(context=section.get("context"))
    return client.CoreV1Api(), watch.Watch


def dns_name(text: str) -> str:
    """A DNS-1123 label (lower case, digits, '-') of at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-")


def run_labels(spec: RunSpec, run_name: str) -> dict[str, str]:
    labels = spec.labels
    return {"app.kubernetes.io/name": "mlopsbench", "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/instance": run_name, "app.kubernetes.io/component": "pipeline-step",
            f"{KEY}/study": dns_name(str(labels.get("study", "adhoc"))),
            f"{KEY}/configuration": dns_name(str(labels.get("configuration", ""))),
            f"{KEY}/rep": str(labels.get("rep", "")), f"{KEY}/run": run_name}


def pvc_manifest(cluster: ClusterSpec, name: str, labels: dict) -> dict:
    spec = {"accessModes": ["ReadWriteMany" if cluster.read_write_many else "ReadWriteOnce"],
            "resources": {"requests": {"storage": cluster.volume_size}}}
    if cluster.storage_class:
        spec["storageClassName"] = cluster.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": cluster.namespace, "labels": labels}, "spec": spec}


def pod_manifest(cluster: ClusterSpec, name: str, labels: dict, script: str, volume: str,
                 deadline_s: float | None, node: str | None) -> dict:
    """One step's Pod: the compiled script runs with the marshal volume as working directory."""
    selector = dict(cluster.node_selector)
    if node:  # a ReadWriteOnce volume: every pod of the run on the node of the first
        selector["kubernetes.io/hostname"] = node
    spec = {
        "restartPolicy": "Never",
        "serviceAccountName": cluster.service_account,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "step", "image": cluster.image, "imagePullPolicy": cluster.image_pull_policy,
            "command": ["python", "-c", script], "workingDir": MOUNT,
            "env": [{"name": "MPLBACKEND", "value": "Agg"}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
            "resources": cluster.resources,
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "marshal", "mountPath": MOUNT}],
        }],
        "volumes": [{"name": "marshal", "persistentVolumeClaim": {"claimName": volume}}],
    }
    if selector:
        spec["nodeSelector"] = selector
    if deadline_s:
        spec["activeDeadlineSeconds"] = int(deadline_s)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": cluster.namespace, "labels": labels}, "spec": spec}


def _epoch(value) -> float | None:
    return value.timestamp() if value is not None else None


def pod_times(pod) -> dict:
    """The API's own (second-resolution) times and the state of one pod object."""
    status = pod.status
    scheduled = next((c for c in (status.conditions or []) if c.type == "PodScheduled" and c.status == "True"), None)
    container = (status.container_statuses or [None])[0]
    state = container.state if container else None
    running = state.running if state else None
    terminated = state.terminated if state else None
    return {"phase": status.phase, "node": pod.spec.node_name, "reason": status.reason,
            "created": _epoch(pod.metadata.creation_timestamp),
            "scheduled": _epoch(scheduled.last_transition_time) if scheduled else None,
            "started": _epoch(running.started_at if running else (terminated.started_at if terminated else None)),
            "finished": _epoch(terminated.finished_at) if terminated else None,
            "exit_code": terminated.exit_code if terminated else None}


class KubernetesRunner:
    """Runs one compiled pipeline on a cluster; the API objects come from the caller."""

    def __init__(self, core, watch_factory, cluster: ClusterSpec, plan: Plan, spec: RunSpec):
        self.core, self.watch_factory, self.cluster, self.plan, self.spec = core, watch_factory, cluster, plan, spec
        self.run_name = dns_name(f"mlb-{spec.labels.get('configuration', 'run')}-{spec.labels.get('rep', 0)}"
                                 f"-{int(time.time())}")
        self.labels = run_labels(spec, self.run_name)
        self.selector = f"{KEY}/run={self.run_name}"
        self.pods = {step: dns_name(f"{self.run_name}-{step}") for step in plan.steps}
        self._watch_stream = None

    def run(self) -> str:
        events = begin_run(self.spec, self.plan)
        events.write("cluster", namespace=self.cluster.namespace, run_name=self.run_name, selector=self.selector,
                     pods=self.pods)
        try:
            failures = self._dispatch(events)
        except BaseException:
            self._collect_and_clean(events)
            abort_run(events, {})
            raise
        self._collect_and_clean(events)
        return finish_run(self.spec, events, "failed" if failures else "succeeded", failures)

    def _dispatch(self, events: EventLog) -> dict[str, str]:
        cluster, plan = self.cluster, self.plan
        volume = self.run_name
        self.core.create_namespaced_persistent_volume_claim(cluster.namespace,
                                                            pvc_manifest(cluster, volume, self.labels))
        updates: queue.Queue = queue.Queue()
        stop = threading.Event()
        watch_log = (self.spec.run_dir / "watch.jsonl").open("a")
        watcher = threading.Thread(target=self._watch, args=(updates, stop, watch_log), daemon=True)
        watcher.start()
        status: dict[str, str] = {}
        seen: dict[str, set] = {step: set() for step in plan.steps}  # watch events already logged
        failures: dict[str, str] = {}
        created_at: dict[str, float] = {}
        node = None
        try:
            while len(status) < len(plan.steps):
                for name in release_steps(plan, status, set(created_at), events):
                    self._create(events, name, volume, node)
                    created_at[name] = time.monotonic()
                self._expire(events, created_at, status, failures)
                try:
                    received, pod = updates.get(timeout=0.5)
                except queue.Empty:
                    continue
                step = next((s for s, p in self.pods.items() if p == pod.metadata.name), None)
                if step is None or step in status:
                    continue
                times = pod_times(pod)
                if node is None and times["node"] and not cluster.read_write_many:
                    node = times["node"]
                for event, api_time in (("scheduled", times["scheduled"]), ("started", times["started"])):
                    if api_time is not None and event not in seen[step]:
                        seen[step].add(event)
                        events.write(event, t=received, step=step, source="watch", api_t=api_time)
                if times["phase"] in ("Succeeded", "Failed"):
                    result = "succeeded" if times["phase"] == "Succeeded" else "failed"
                    status[step] = result
                    if result == "failed":
                        failures[step] = times["reason"] or f"exited with status {times['exit_code']}"
                    events.write("finished", t=received, step=step, source="watch", api_t=times["finished"],
                                 exit_code=times["exit_code"], status=result, reason=times["reason"])
        finally:
            stop.set()
            if self._watch_stream is not None:
                self._watch_stream.stop()
            watcher.join(timeout=5)
            watch_log.close()
        return failures

    def _expire(self, events: EventLog, created_at: dict, status: dict, failures: dict) -> None:
        """activeDeadlineSeconds only counts once a pod has started; a pod that never
        schedules is failed here, after the same deadline from its creation."""
        deadline = self.spec.step_timeout
        if not deadline:
            return
        for step, since in created_at.items():
            if step not in status and time.monotonic() - since > deadline:
                status[step] = "failed"
                failures[step] = f"timed out after {deadline:g} s"
                events.write("finished", step=step, source="runner", status="failed", reason="Timeout")
                self.core.delete_namespaced_pod(self.pods[step], self.cluster.namespace)

    def _create(self, events: EventLog, step: str, volume: str, node: str | None) -> None:
        deadline = self.spec.step_timeout
        manifest = pod_manifest(self.cluster, self.pods[step], self.labels | {f"{KEY}/step": step},
                                self.plan.script(step, self.spec.parameters), volume, deadline, node)
        sent = time.time()
        pod = self.core.create_namespaced_pod(self.cluster.namespace, manifest)
        events.write("created", t=sent, step=step, source="watch", api_t=_epoch(pod.metadata.creation_timestamp),
                     pod=self.pods[step], node_pin=node)

    def _watch(self, updates: queue.Queue, stop: threading.Event, watch_log) -> None:
        while not stop.is_set():
            watch = self._watch_stream = self.watch_factory()
            try:
                for item in watch.stream(self.core.list_namespaced_pod, self.cluster.namespace,
                                         label_selector=self.selector, timeout_seconds=30):
                    received = time.time()
                    pod = item["object"]
                    watch_log.write(json.dumps({"received": received, "type": item["type"],
                                                "pod": pod.metadata.name} | pod_times(pod), sort_keys=True) + "\n")
                    watch_log.flush()
                    updates.put((received, pod))
                    if stop.is_set():
                        break
            finally:
                watch.stop()

    def _collect_and_clean(self, events: EventLog) -> None:
        """Logs and metrics first, then delete everything the run made, found by label."""
        logs = self.spec.run_dir / "logs"
        for step, pod in self.pods.items():
            try:
                text = self.core.read_namespaced_pod_log(pod, self.cluster.namespace)
            except Exception as exc:  # a pod never created, or gone: say so in its log
                text = f"[MLB] no log: {type(exc).__name__}: {exc}\n"
            atomic.write_bytes(logs / f"{step}.log", text.encode())
        if self.cluster.prometheus_url:
            stamps = [e for e in read_events(self.spec.run_dir / "events.jsonl")
                      if e["event"] in ("created", "finished")]
            start, end = min(e["t"] for e in stamps), max(e["t"] for e in stamps)
            try:
                collect(self.cluster.prometheus_url, self.cluster.namespace, list(self.pods.values()), start, end,
                        self.spec.run_dir / "prometheus", self.cluster.scrape_interval_s)
            except Exception as exc:  # keep cleaning up; the run records why metrics are missing
                events.write("prometheus-failed", error=str(exc))
        cleanup(self.core, self.cluster.namespace, self.selector)
        events.write("cleaned", selector=self.selector)


def cleanup(core, namespace: str, selector: str = f"app.kubernetes.io/part-of={PART_OF}") -> None:
    """Delete the pods and volumes that match ``selector`` (default: everything of ours)."""
    core.delete_collection_namespaced_pod(namespace, label_selector=selector)
    core.delete_collection_namespaced_persistent_volume_claim(namespace, label_selector=selector)

