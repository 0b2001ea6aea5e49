"""The edge as a pod on the cluster, whichever method updates it: its Deployment and Service for
one cell, and how each method's update shows on it.

``with EdgeDeployment(...) as edge:`` creates both, waits until the pod is Ready, and deletes
them on the way out, whatever happened. ``edge.roll_out(version, timeout)`` replaces the pod template
and follows the new pod on a watch: the roll-out began (the API accepted the new template),
the init container's download and the server's first load (their own times, from their
logs), Ready (when a look at the pods, every 0.1 s, first saw it: the Service sends traffic
from then) and the old pod gone.
``edge.observed(timeout)`` reads the in-place updater's account from the pod's log instead.
"""

from __future__ import annotations

import json
import logging
import time

from ..cluster.kube import pod_log
from ..cluster.target import ClusterTarget
from .pods import HTTP_PORT, VERSION_ANNOTATION, edge_deployment, edge_service, rolled_to
from .versions import LOADED

log = logging.getLogger(__name__)


class RolloutError(RuntimeError):
    pass


def _ready(pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


class EdgeDeployment:
    def __init__(self, target: ClusterTarget, name: str, deployment: dict, ready_timeout_s: float):
        self.target, self.name, self.manifest, self.ready_timeout_s = target, name, deployment, ready_timeout_s
        self.apps, self.core = target.clients.apps, target.clients.core
        self.selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
        self.url: str | None = None
        self._accounts_seen = 0

    @classmethod
    def for_cell(cls, target: ClusterTarget, name: str, image: str, store: str, bucket: str, model: str, secret: str,
                 node_selector: dict, poll_interval_s: float | None, ready_timeout_s: float) -> "EdgeDeployment":
        """The cell's edge, starting with v1; with the in-place updater beside the server where
        ``poll_interval_s`` is given."""
        return cls(target, name, edge_deployment(target, name, image, store, bucket, model, secret, node_selector,
                                                 "v1", poll_interval_s), ready_timeout_s)

    def __enter__(self) -> "EdgeDeployment":
        namespace = self.target.namespace
        self.core.create_namespaced_service(namespace, edge_service(self.target, self.name))
        try:
            self.apps.create_namespaced_deployment(namespace, self.manifest)
            self._wait(lambda pods: any(_ready(p) for p in pods), "the first pod Ready")
            service = self.core.read_namespaced_service(self.name, namespace)
            self.url = f"http://{service.spec.cluster_ip}:{HTTP_PORT}"
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        namespace = self.target.namespace
        for delete in (lambda: self.apps.delete_namespaced_deployment(self.name, namespace),
                       lambda: self.core.delete_namespaced_service(self.name, namespace)):
            try:
                delete()
            except Exception as error:  # gone already, or the API is away: say so, go on
                log.warning("deleting %s: %s", self.name, error)

    def _pods(self) -> list:
        return self.core.list_namespaced_pod(self.target.namespace, label_selector=self.selector).items

    def _wait(self, done, what: str, timeout_s: float | None = None) -> float:
        """Poll the pods (every 0.1 s) until ``done(pods)``; the wall-clock time it first held."""
        timeout_s = timeout_s or self.ready_timeout_s
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done(self._pods()):
                return time.time()
            time.sleep(0.1)
        raise RolloutError(f"{self.name}: {what} not within {timeout_s:g} s")

    def _failed(self, pod) -> str | None:
        """Why a container of ``pod`` ended in error (its exit and its log's last lines), or None."""
        statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
        for status in statuses:
            ended = (status.state and status.state.terminated) or (status.last_state and status.last_state.terminated)
            if ended is not None and ended.exit_code != 0:
                try:
                    tail = pod_log(self.core, pod.metadata.name, self.target.namespace,
                                   container=status.name, previous=status.state.terminated is None)
                except Exception as error:  # the log may be gone with a restart; the exit still says enough
                    tail = f"(log unreadable: {error})"
                return (f"pod {pod.metadata.name}, container {status.name}: exit {ended.exit_code} "
                        f"({ended.reason}): {tail.strip()[-1500:]}")
        return None

    def roll_out(self, version: str, timeout_s: float) -> dict:
        """Replace the pod template with ``version``; the update's parts as the cluster shows them.
        A new pod whose download or load fails (or that is not Ready within ``timeout_s``) leaves
        the old one serving (``maxUnavailable: 0``): the update is recorded as failed with the
        container's own reason, and the Deployment is rolled back to the version that serves."""
        before = self.manifest
        self.manifest = rolled_to(before, version)
        self.apps.replace_namespaced_deployment(self.name, self.target.namespace, self.manifest)
        began = time.time()

        def new_pods(pods):
            return [p for p in pods if (p.metadata.annotations or {}).get(VERSION_ANNOTATION) == version]

        failure: list[str] = []

        def ready_or_failed(pods) -> bool:
            failure[:] = [reason for p in new_pods(pods) if (reason := self._failed(p))]
            return bool(failure) or any(_ready(p) for p in new_pods(pods))

        try:
            ready = self._wait(ready_or_failed, f"{version}'s pod Ready", timeout_s)
        except RolloutError as timeout:
            failure = [str(timeout)]
        if failure:
            self.manifest = before
            self.apps.replace_namespaced_deployment(self.name, self.target.namespace, before)
            self._wait(lambda pods: not new_pods(pods), f"{version}'s pod gone after the roll-back")
            return {"version": version, "detected": began, "status": "failed", "error": failure[0]}
        self._wait(lambda pods: len(new_pods(pods)) == len(pods), "the old pod gone")
        pod = next(p for p in new_pods(self._pods()) if _ready(p))
        fetched = self._reported(pod, "fetch", lambda line: '"download_started"' in line)
        loaded = self._reported(pod, "server", lambda line: LOADED in line)
        return {"version": version, "detected": began, "download_started": fetched["download_started"],
                "download_ended": fetched["download_ended"], "load_started": loaded["load_started"],
                "ready": ready, "status": "ok"}

    def _reported(self, pod, container: str, wanted) -> dict:
        """The JSON line a container of ``pod`` printed about itself (the updater's fetch, the server's load)."""
        lines = pod_log(self.core, pod.metadata.name, self.target.namespace, container=container).splitlines()
        found = [line for line in lines if line.startswith("{") and wanted(line)]
        if not found:
            raise RolloutError(f"{pod.metadata.name}: container {container} did not report its times")
        return json.loads(found[-1])

    def observed(self, timeout_s: float) -> dict | None:
        """The in-place updater's next account of an update, from its container's log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pod = next((p for p in self._pods() if _ready(p)), None)
            if pod is None:   # the edge's pod not Ready this moment: the next look tells
                time.sleep(0.2)
                continue
            log_text = pod_log(self.core, pod.metadata.name, self.target.namespace, container="updater")
            accounts = [line for line in log_text.splitlines() if line.startswith("{")]   # not its stderr
            if len(accounts) > self._accounts_seen:
                self._accounts_seen += 1
                return json.loads(accounts[self._accounts_seen - 1])
            time.sleep(0.2)
        return None
