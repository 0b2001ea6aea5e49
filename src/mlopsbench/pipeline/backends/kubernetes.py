"""The Kubernetes backend: every step is a Pod in DAG order, data passes through a PVC.

Two clocks are kept apart, as ClusterLoader2 does: the watcher's own receive times
(sub-second) and the API server's timestamps (whole seconds), and, after the run,
kube-state-metrics' series from Prometheus (``prometheus.collect``) and, where this machine
is the node, the container runtime's nanosecond times (``cri.json``). Pods and the
volume are deleted only after their logs and metrics are collected, and always: on
success, failure, an error or Ctrl-C, found by the run's label.

The API clients come in through the run's spec, so unit tests drive the same code with
a fake API.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from pathlib import Path

from urllib3.exceptions import HTTPError

from ... import atomic
from ...cluster.kube import (KEY, PodCopyError, PodNotRunning, cleanup, copy_into_pod, dns_name, labels, pod_log,
                             wait_running)
from ...cluster.target import ClusterTarget, target_from_config
from ...interrupts import signals_deferred
from ...rawdirs import RunDir
from ..compiler import Plan
from ..prometheus import collect, read_saved
from ..run import RunFailed, RunLog, RunSpec, read_events, release_steps, run_pipeline
from ..timing import RUNTIME_COLUMNS, event_rows, first_and_last_statement, with_overhead
from . import Backend

MOUNT = "/marshal"
INPUTS = "inputs"
SOURCE = "watch"

log = logging.getLogger(__name__)


def run_labels(spec: RunSpec, run_name: str) -> dict[str, str]:
    return labels("pipeline-step", run_name, study=dns_name(spec.run.study),
                  configuration=dns_name(spec.run.configuration), rep=str(spec.run.rep), run=run_name)


def pvc_manifest(cluster: ClusterTarget, name: str, labels: dict) -> dict:
    spec = {"accessModes": ["ReadWriteMany" if cluster.read_write_many else "ReadWriteOnce"],
            "resources": {"requests": {"storage": cluster.volume_size}}}
    if cluster.storage_class:
        spec["storageClassName"] = cluster.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": cluster.namespace, "labels": labels}, "spec": spec}


def pod_manifest(cluster: ClusterTarget, name: str, labels: dict, script: str, volume: str | None,
                 deadline_s: float | None, node: str | None, cpu: int) -> dict:
    """One step's Pod: the compiled script runs with the marshal volume as working directory (a run
    that passes nothing between steps and reads no file has none: its pods mount no volume).

    It asks for ``cpu`` cores (its limit:cpu tag, or the configured request), as a local
    step waits for its cores, capped at them unless ``kubernetes.cpu_limit`` is false, and gets
    the same thread settings; it runs as a service account
    without API rights, without a token, and needs no DNS."""
    selector = dict(cluster.node_selector)
    if node:  # a ReadWriteOnce volume: every pod of the run on the node of the first
        selector["kubernetes.io/hostname"] = node
    resources = {kind: dict(values) for kind, values in cluster.resources.items()}
    for kind in ("requests", "limits") if cluster.cpu_limit else ("requests",):  # Kale's limit:cpu tag
        resources.setdefault(kind, {})["cpu"] = str(cpu)
    threads = [{"name": n, "value": str(cpu)} for n in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")]
    spec = {
        "restartPolicy": "Never",
        "serviceAccountName": cluster.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "dnsPolicy": "Default",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "step", "image": cluster.image, "imagePullPolicy": cluster.image_pull_policy,
            "command": ["python", "-c", script], "workingDir": MOUNT,
            "env": [{"name": "MPLBACKEND", "value": "Agg"}, {"name": "PYTHONUNBUFFERED", "value": "1"},
                    *threads, {"name": "TF_NUM_INTEROP_THREADS", "value": "1"}],
            "resources": resources,
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }],
    }
    if volume is None:
        spec["containers"][0]["workingDir"] = "/tmp"
    else:
        spec["containers"][0]["volumeMounts"] = [{"name": "marshal", "mountPath": MOUNT}]
        spec["volumes"] = [{"name": "marshal", "persistentVolumeClaim": {"claimName": volume}}]
    if selector:
        spec["nodeSelector"] = selector
    if deadline_s:
        spec["activeDeadlineSeconds"] = int(deadline_s)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": cluster.namespace, "labels": labels}, "spec": spec}


def stage_manifest(cluster: ClusterTarget, name: str, labels: dict, volume: str) -> dict:
    """A pod that holds the run's volume while the inputs are copied in."""
    spec = pod_manifest(cluster, name, labels | {f"{KEY}/step": "stage-in"}, "", volume, None, None, 1)
    container = spec["spec"]["containers"][0]
    container["command"] = ["sleep", "3600"]
    container["resources"] = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
    return spec


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


NODE_READ_S = 5.0      # how often the runner reads the nodes of its running steps
API_TIMEOUT_S = 30.0   # a call of the run's clean-up waits no longer on the API server


class KubernetesRunner:
    """Runs one compiled pipeline on a cluster; the API clients come with the spec."""

    def __init__(self, plan: Plan, spec: RunSpec):
        cluster: ClusterTarget = spec.cluster
        self.core, self.watch_factory, self.cluster = cluster.clients.core, cluster.clients.watch, cluster
        self.plan, self.spec = plan, spec
        self.run_name = dns_name(f"mlb-{spec.run.configuration}-{spec.run.rep}-{int(time.time())}")
        self.labels = run_labels(spec, self.run_name)
        self.selector = f"{KEY}/run={self.run_name}"
        self.pods = {step: dns_name(f"{self.run_name}-{step}") for step in plan.steps}
        # Input files reach the pods through the run's volume, at the same name below inputs/.
        self.inputs = {name: Path(spec.parameters[name]) for name in spec.inputs}
        self.parameters = spec.parameters | {name: f"{MOUNT}/{INPUTS}/{path.name}" for name, path in self.inputs.items()}
        self._watch_stream = None
        self.api_failing: tuple[float, str] | None = None   # (since, why) while the watch cannot reach the API
        self.not_ready: dict[str, tuple[float, str]] = {}    # step -> (since, node) while its pod's node is silent
        self.considered: set[str] = set()                    # steps whose pod a scheduler has looked at
        self.step_nodes: dict[str, str] = {}                 # step -> the node its pod runs on
        self.node_down: dict[str, tuple[float, str]] = {}    # node -> (since, why) while it says it is not Ready
        self.nodes_read_at, self.can_read_nodes = 0.0, True
        # (since, why) while reading a node fails: a watch served from the API server's cache can go
        # on while every read from its store fails (etcd down), so the two are judged apart.
        self.reads_failing: tuple[float, str] | None = None

    def run(self) -> str:
        return run_pipeline(self.plan, self.spec, self._execute)

    def _execute(self, events: RunLog, failures: dict[str, str]) -> None:
        # What an earlier attempt of this run left when its runner died (SIGKILL): gone first.
        earlier = ",".join(f"{key}={value}" for key, value in self.labels.items()
                           if key in (f"{KEY}/study", f"{KEY}/configuration", f"{KEY}/rep"))
        cleanup(self.core, self.cluster.namespace, f"app.kubernetes.io/component=pipeline-step,{earlier}")
        events.note("cluster", namespace=self.cluster.namespace, run_name=self.run_name, selector=self.selector,
                    pods=self.pods, server_version=self._server_version(), kubelet=self.cluster.kubelet,
                    cpu_limit=self.cluster.cpu_limit)
        try:
            self._dispatch(events, failures)
        except RunFailed as failure:
            raise self._diagnosed(failure) from None
        finally:
            with signals_deferred("the run's pods and volume are being collected and deleted"):
                self._collect_and_clean(events)

    def _dispatch(self, events: RunLog, failures: dict[str, str]) -> None:
        cluster, plan = self.cluster, self.plan
        # A volume only where a step reads a file or a value another step made.
        passes = bool(self.inputs) or any(step.inputs or step.outputs for step in plan.steps.values())
        volume = self.run_name if passes else None
        if volume:
            self.core.create_namespaced_persistent_volume_claim(cluster.namespace,
                                                                pvc_manifest(cluster, volume, self.labels))
        staged_on = self._stage(events, volume)
        updates: queue.Queue = queue.Queue()
        stop = threading.Event()
        watch_log = RunDir(self.spec.run_dir).watch.open("a")
        watcher = threading.Thread(target=self._watch, args=(updates, stop, watch_log), daemon=True)
        watcher.start()
        status: dict[str, str] = {}
        seen: dict[str, set] = {step: set() for step in plan.steps}  # watch events already logged
        created_at: dict[str, float] = {}
        node = None if cluster.read_write_many else staged_on
        try:
            while len(status) < len(plan.steps):
                for name in release_steps(plan, status, set(created_at), events, SOURCE):
                    self._create(events, name, volume, node)
                    created_at[name] = time.monotonic()
                self._expire(events, created_at, status, failures)
                self._check_health(created_at, status)
                try:
                    received, pod = updates.get(timeout=0.5)
                except queue.Empty:
                    continue
                step = next((s for s, p in self.pods.items() if p == pod.metadata.name), None)
                if step is None or step in status:
                    continue
                times = pod_times(pod)
                self._note_node(step, pod, times)
                if times["node"] or any(c.type == "PodScheduled" for c in pod.status.conditions or []):
                    self.considered.add(step)
                if times["node"]:
                    self.step_nodes[step] = times["node"]
                if node is None and times["node"] and not cluster.read_write_many:
                    node = times["node"]
                for event, api_time in (("scheduled", times["scheduled"]), ("started", times["started"])):
                    if api_time is not None and event not in seen[step]:
                        seen[step].add(event)
                        events.step(event, step, t=received, source=SOURCE, api_t=api_time)
                if times["phase"] in ("Succeeded", "Failed"):
                    result = "succeeded" if times["phase"] == "Succeeded" else "failed"
                    status[step] = result
                    if result == "failed":
                        failures[step] = times["reason"] or f"exited with status {times['exit_code']}"
                    events.step("finished", step, t=received, source=SOURCE, api_t=times["finished"],
                                exit_code=times["exit_code"], status=result, reason=times["reason"])
        except (OSError, HTTPError) as exc:  # a create or delete the API server did not answer: say which
            raise RunFailed(f"the API server {self.core.api_client.configuration.host} did not answer: "
                            f"{type(exc).__name__}: {exc}"[:500]) from None
        finally:
            stop.set()
            if self._watch_stream is not None:
                self._watch_stream.stop()
            watcher.join(timeout=5)
            watch_log.close()

    def _server_version(self) -> str | None:
        """The API server's version, as it reports it (recorded with the run: the report reads it)."""
        from kubernetes import client

        try:
            return client.VersionApi(self.core.api_client).get_code().git_version
        except Exception as exc:  # a fake API in unit tests, or a server that hides its version
            log.warning("the API server did not say its version: %s", exc)
            return None

    def _note_node(self, step: str, pod, times: dict) -> None:
        """A running pod whose Ready condition turned False, its container not ended: its node
        stopped reporting (the node controller marks such pods), until the pod reports again."""
        ready = next((c for c in (pod.status.conditions or []) if c.type == "Ready"), None)
        silent = times["phase"] == "Running" and times["finished"] is None and ready is not None \
            and ready.status != "True"
        if silent:
            self.not_ready.setdefault(step, (time.monotonic(), times["node"] or "its node"))
        else:
            self.not_ready.pop(step, None)

    def _check_health(self, created_at: dict[str, float], status: dict[str, str]) -> None:
        """Fail the run, naming the endpoint, node or pod, once the API server, a step's node or the
        scheduler has been silent for longer than its configured bound (never wait out a step's
        whole deadline)."""
        now = time.monotonic()
        for failing in (self.api_failing, self.reads_failing):
            if failing and now - failing[0] > self.cluster.api_silence_s:
                raise RunFailed(f"the API server {self.core.api_client.configuration.host} has not answered for "
                                f"{now - failing[0]:.0f} s (kubernetes.api_silence_s): {failing[1]}")
        for step, (since, node) in self.not_ready.items():
            if now - since > self.cluster.node_silence_s:
                raise RunFailed(f"step {step}: node {node} has stopped reporting (its pod not Ready for "
                                f"{now - since:.0f} s, kubernetes.node_silence_s); is its kubelet running?")
        if self.api_failing:  # a silent API server says nothing of the scheduler or the nodes
            return
        self._check_nodes(now, status)
        for step, since in created_at.items():
            if step not in status and step not in self.considered and now - since > self.cluster.scheduler_silence_s:
                raise RunFailed(f"step {step}: no scheduler has looked at its pod {self.pods[step]} in "
                                f"{now - since:.0f} s (kubernetes.scheduler_silence_s); is the scheduler running?")

    def _check_nodes(self, now: float, status: dict[str, str]) -> None:
        """Every few seconds, the node of each running step: one that says it is not Ready (its
        container runtime down, say) leaves its pods Ready, so only the node tells. Skipped where
        the runner may not read nodes."""
        if not self.can_read_nodes or now - self.nodes_read_at < NODE_READ_S:
            return
        from kubernetes.client.exceptions import ApiException

        self.nodes_read_at = now
        for node in {n for step, n in self.step_nodes.items() if step not in status}:
            try:
                found = self.core.read_node(node, _request_timeout=5)
            except ApiException as exc:
                if exc.status == 403:
                    self.can_read_nodes = False
                    log.info("the runner may not read nodes: a node that says it is not Ready is not seen")
                    return
                why = f"reading node {node}: HTTP {exc.status} {exc.reason}"
                self.reads_failing = self.reads_failing or (now, why)
                return
            except Exception as exc:  # the API server did not answer: its silence bound judges that
                why = f"reading node {node}: {type(exc).__name__}: {exc}"[:300]
                self.reads_failing = self.reads_failing or (now, why)
                return
            self.reads_failing = None
            ready = next((c for c in found.status.conditions or [] if c.type == "Ready"), None)
            if ready is None or ready.status == "True":
                self.node_down.pop(node, None)
                continue
            since, why = self.node_down.setdefault(node, (now, f"{ready.reason}: {ready.message}"[:300]))
            if now - since > self.cluster.node_silence_s:
                raise RunFailed(f"node {node} of a running step has not been Ready for {now - since:.0f} s "
                                f"(kubernetes.node_silence_s): {why}")

    def _diagnosed(self, failure: RunFailed) -> RunFailed:
        """``failure`` with the local cluster's own account of what is wrong (a stopped daemon, the
        node it runs on), where the run is on the cluster this package started."""
        try:
            found = self.cluster.problems() if self.cluster.problems else []
        except Exception as exc:  # the account is a help, never a second failure
            log.warning("the local cluster could not say what is wrong: %s", exc)
            found = []
        return RunFailed(f"{failure}; the local cluster says: {'; '.join(found)}") if found else failure

    def _stage(self, events: RunLog, volume: str | None) -> str | None:
        """Copy the run's input files into its volume through a pod that mounts it (as Kale's
        marshal-volume job prepares the volume); return the node it ran on."""
        if not self.inputs:
            return None
        started = time.time()
        name = dns_name(f"{self.run_name}-stage-in")
        self.core.create_namespaced_pod(self.cluster.namespace, stage_manifest(self.cluster, name, self.labels, volume))
        try:
            pod = wait_running(self.core, self.cluster.namespace, name, self.spec.step_timeout)
        except PodNotRunning as error:
            raise RunFailed(f"{self.spec.run_dir}: the pod that stages the inputs did not run ({error})") from None
        for path in self.inputs.values():
            try:
                copy_into_pod(self.core, self.cluster.namespace, name, path, f"{MOUNT}/{INPUTS}/{path.name}")
            except PodCopyError as error:
                raise RunFailed(str(error)) from None
        self.core.delete_namespaced_pod(name, self.cluster.namespace, grace_period_seconds=0)
        events.note("staged", pod=name, node=pod.spec.node_name, seconds=time.time() - started,
                    files={n: str(p) for n, p in self.inputs.items()})
        return pod.spec.node_name

    def _expire(self, events: RunLog, created_at: dict, status: dict, failures: dict) -> None:
        """activeDeadlineSeconds only counts once a pod has started; a pod that never
        schedules is failed here, after the same deadline from its creation."""
        deadline = self.spec.step_timeout
        if not deadline:
            return
        for step, since in created_at.items():
            if step not in status and time.monotonic() - since > deadline:
                status[step] = "failed"
                failures[step] = f"timed out after {deadline:g} s"
                events.step("finished", step, source="runner", status="failed", reason="Timeout")
                self.core.delete_namespaced_pod(self.pods[step], self.cluster.namespace)

    def _create(self, events: RunLog, step: str, volume: str | None, node: str | None) -> None:
        deadline = self.spec.step_timeout
        manifest = pod_manifest(self.cluster, self.pods[step], self.labels | {f"{KEY}/step": step},
                                self.plan.script(step, self.parameters), volume, deadline, node,
                                self.spec.step_cpu(self.plan, step))
        sent = time.time()
        pod = self.core.create_namespaced_pod(self.cluster.namespace, manifest)
        events.step("created", step, t=sent, source=SOURCE, api_t=_epoch(pod.metadata.creation_timestamp),
                    detail={"pod": self.pods[step], "node_pin": node})

    def _watch(self, updates: queue.Queue, stop: threading.Event, watch_log) -> None:
        """Stream the run's pods into ``updates``. A broken stream is opened again after a pause that
        doubles up to 8 s; ``self.api_failing`` holds since when and why the API server fails."""
        pause = 0.5
        while not stop.is_set():
            watch = self._watch_stream = self.watch_factory()
            try:
                for item in watch.stream(self.core.list_namespaced_pod, self.cluster.namespace,
                                         label_selector=self.selector, timeout_seconds=30):
                    self.api_failing, pause = None, 0.5
                    received = time.time()
                    pod = item["object"]
                    watch_log.write(json.dumps({"received": received, "type": item["type"],
                                                "pod": pod.metadata.name} | pod_times(pod), sort_keys=True) + "\n")
                    watch_log.flush()
                    updates.put((received, pod))
                    if stop.is_set():
                        break
            except Exception as exc:  # the stream broke (or was stopped): open a new one unless done
                if stop.is_set():
                    break
                if self.api_failing is None:
                    self.api_failing = (time.monotonic(), f"{type(exc).__name__}: {exc}"[:300])
                    log.warning("pod watch: the API server did not answer (%s); trying again with a growing pause",
                                self.api_failing[1])
                stop.wait(pause)
                pause = min(2 * pause, 8.0)
            finally:
                watch.stop()

    def _collect_and_clean(self, events: RunLog) -> None:
        """Logs and metrics first, then delete everything the run made, found by label. Where the
        API server was not answering, nothing waits on it: the next run removes what is left."""
        raw = RunDir(self.spec.run_dir)
        silent = self.api_failing or self.reads_failing
        for step, pod in self.pods.items():
            try:
                if silent:
                    raise ConnectionError(f"the API server was not answering ({silent[1]})")
                text = pod_log(self.core, pod, self.cluster.namespace, timeout=API_TIMEOUT_S)
            except Exception as exc:  # a pod never created, or gone: say so in its log
                text = f"[MLB] no log: {type(exc).__name__}: {exc}\n"
            atomic.write_bytes(raw.log(step), text.encode())
        if self.cluster.prometheus_url:
            stamps = [e.t for e in read_events(raw.events)
                      if getattr(e, "event", None) in ("created", "finished")]
            start, end = min(stamps, default=time.time()), max(stamps, default=time.time())
            try:
                collect(self.cluster.prometheus_url, self.cluster.namespace, list(self.pods.values()), start, end,
                        raw.prometheus, self.cluster.scrape_interval_s)
            except Exception as exc:  # keep cleaning up; the run records why metrics are missing
                events.note("prometheus-failed", error=str(exc))
        if self.cluster.cri:
            from ...cluster.cri import inspect_pods

            try:
                atomic.write_json(raw.cri, inspect_pods(self.cluster.cri, {f"{KEY}/run": self.run_name},
                                                                         set(self.pods.values())))
            except Exception as exc:  # keep cleaning up; the run records why the runtime's times are missing
                events.note("cri-failed", error=str(exc))
        try:
            if silent:
                raise ConnectionError(f"the API server was not answering ({silent[1]})")
            cleanup(self.core, self.cluster.namespace, self.selector, timeout=API_TIMEOUT_S)
        except Exception as exc:  # the API server is gone: the next run of this configuration removes them
            events.note("cleanup-failed", selector=self.selector, error=f"{type(exc).__name__}: {exc}"[:300])
            log.error("could not delete the run's pods and volume (%s); the next run removes them by label", exc)
            return
        events.note("cleaned", selector=self.selector)


def runtime_times(run_dir: Path, pods: dict[str, str]) -> dict[str, dict]:
    """Per step, where the run kept them: the runtime's times of its pod's sandbox and container
    (``cri.json``) and the step's own first and last statements (its log), as epoch seconds."""
    from ...cluster.cri import seconds

    raw = RunDir(run_dir)
    saved = json.loads(raw.cri.read_text()) if raw.cri.exists() else {}
    found = {}
    for step, pod in pods.items():
        times = first_and_last_statement(raw.log(step))
        kept = saved.get(pod, {})
        if kept.get("containers"):
            container = kept["containers"][-1]
            stamps = {"sandbox_created": kept["sandbox"]["createdAt"], "container_created": container["createdAt"],
                      "container_started": container["startedAt"], "container_finished": container["finishedAt"]}
            # An unset CRI time is the zero time (year 1 or 1970): not a reading.
            times |= {name: t if (t := seconds(stamp)) > 1e9 else None for name, stamp in stamps.items()}
        found[step] = times
    return found


def run_fields(run_dir: Path, events: list) -> dict:
    """The Kubernetes version the run's API server reported, and the local cluster's kubelet build
    (None where they were not recorded)."""
    note = next((e for e in events if getattr(e, "event", None) == "cluster"), None)
    detail = note.detail if note else {}
    return {"server_version": detail.get("server_version"), "kubelet_build": detail.get("kubelet")}


def step_rows(run_dir, run_id: str, events: list, base: dict) -> list[dict]:
    """Three clocks, kept apart: the watcher's receive times, the API's, kube-state-metrics'.
    The watcher's rows also carry the runtime's own times of each pod, where the run kept them."""
    pods = next((e.detail["pods"] for e in events if getattr(e, "event", None) == "cluster"), {})
    runtime = runtime_times(Path(run_dir), pods)
    rows = [row | runtime.get(row["step"], {}) for row in event_rows(run_dir, run_id, events, base, SOURCE)]
    rows += event_rows(run_dir, run_id, events, base, "api", api_clock=True)
    metrics = read_saved(RunDir(Path(run_dir)).prometheus)
    for watched in [r for r in rows if r["timestamp_source"] == SOURCE]:
        times = metrics.get(pods.get(watched["step"]), {})
        row = {k: v for k, v in watched.items() if k not in RUNTIME_COLUMNS}  # the runtime's times: once, on the watch's row
        rows.append(with_overhead(row | {"timestamp_source": "prometheus", "scheduled": times.get("scheduled"),
                                         "created": times.get("created"), "started": times.get("started"),
                                         "finished": times.get("finished")}))
    return rows


BACKEND = Backend(
    name="kubernetes", split=True, clock=SOURCE,
    timestamps="Kubernetes pods: created (the create call sent), scheduled, started and finished as the pod "
               "watch received them (sub-second, as ClusterLoader2 does), with the API server's whole-second "
               "times and kube-state-metrics' series from Prometheus kept beside them as two more clocks.",
    run=lambda plan, spec: KubernetesRunner(plan, spec).run(), step_rows=step_rows, run_fields=run_fields,
    cluster_target=target_from_config,
)

