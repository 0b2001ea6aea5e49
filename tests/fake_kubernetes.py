"""A fake of the few Kubernetes API calls the runner makes: the one fake this project
accepts, because no API server can run on the machines it is built on.

Pods go through a scripted life (scheduled, running, terminated) on a thread, and every
change is published to the fake watch as real ``kubernetes.client`` model objects.
"""

import queue
import threading
import time
from datetime import datetime, timezone

from kubernetes import client
from kubernetes.client.rest import ApiException


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)  # the API's second resolution


class FakeCluster:
    def __init__(self, behaviour=None, interrupt_on=None, step_seconds=0.05):
        self.behaviour = behaviour or {}  # step -> "ok" | "fail" | "unschedulable"
        self.interrupt_on = interrupt_on
        self.step_seconds = step_seconds
        self.events: queue.Queue = queue.Queue()
        self.pods: dict[str, client.V1Pod] = {}
        self.manifests: dict[str, dict] = {}
        self.pvcs: list[dict] = []
        self.deleted: list[tuple[str, str]] = []

    # --- the CoreV1Api subset -----------------------------------------------------------
    def create_namespaced_persistent_volume_claim(self, namespace, body):
        self.pvcs.append(body)

    def create_namespaced_pod(self, namespace, body):
        step = body["metadata"]["labels"]["mlopsbench.io/step"]
        if step == self.interrupt_on:
            raise KeyboardInterrupt
        name = body["metadata"]["name"]
        self.manifests[name] = body
        pod = client.V1Pod(metadata=client.V1ObjectMeta(name=name, creation_timestamp=now()),
                           spec=client.V1PodSpec(containers=[client.V1Container(name="step")]),
                           status=client.V1PodStatus(phase="Pending"))
        self.pods[name] = pod
        self._publish("ADDED", pod)
        threading.Thread(target=self._live, args=(name, self.behaviour.get(step, "ok")), daemon=True).start()
        return pod

    def list_namespaced_pod(self, namespace, **kwargs):  # only handed to the watch
        raise AssertionError("the runner lists pods through the watch")

    def read_namespaced_pod_log(self, name, namespace):
        if name not in self.pods:
            raise ApiException(status=404, reason="Not Found")
        step = self.manifests[name]["metadata"]["labels"]["mlopsbench.io/step"]
        return f"[MLB] started 0\n[JT] {step} time(s) 0.01\n[JT] end cell\n"

    def delete_namespaced_pod(self, name, namespace):
        self.deleted.append(("pod", name))

    def delete_collection_namespaced_pod(self, namespace, label_selector):
        self.deleted.append(("pods", label_selector))

    def delete_collection_namespaced_persistent_volume_claim(self, namespace, label_selector):
        self.deleted.append(("pvcs", label_selector))

    # --- the pods' scripted lives ----------------------------------------------------------
    def _publish(self, kind, pod):
        self.events.put({"type": kind, "object": pod})

    def _live(self, name, behaviour):
        pod = self.pods[name]
        if behaviour == "unschedulable":
            return
        time.sleep(self.step_seconds)
        pod.spec.node_name = "node-a"
        pod.status.conditions = [client.V1PodCondition(type="PodScheduled", status="True",
                                                       last_transition_time=now())]
        self._publish("MODIFIED", pod)
        time.sleep(self.step_seconds)
        started = now()
        pod.status.phase = "Running"
        pod.status.container_statuses = [self._container(client.V1ContainerState(
            running=client.V1ContainerStateRunning(started_at=started)))]
        self._publish("MODIFIED", pod)
        time.sleep(self.step_seconds)
        code = 0 if behaviour == "ok" else 1
        pod.status.phase = "Succeeded" if code == 0 else "Failed"
        pod.status.container_statuses = [self._container(client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(exit_code=code, started_at=started, finished_at=now())))]
        self._publish("MODIFIED", pod)

    @staticmethod
    def _container(state):
        return client.V1ContainerStatus(name="step", image="mlopsbench", image_id="", ready=False,
                                        restart_count=0, state=state)


class FakeWatch:
    def __init__(self, cluster: FakeCluster):
        self.cluster = cluster
        self.stopped = False

    def stream(self, func, namespace, label_selector, timeout_seconds):
        deadline = time.monotonic() + timeout_seconds
        while not self.stopped and time.monotonic() < deadline:
            try:
                yield self.cluster.events.get(timeout=0.05)
            except queue.Empty:
                continue

    def stop(self):
        self.stopped = True


class FakeBatch:
    """BatchV1Api's Job calls; the Job's pod prints ``log`` and ends as ``outcome``."""

    def __init__(self, core_pods: dict, log: str, outcome: str = "succeeded"):
        self.core_pods, self.log, self.outcome = core_pods, log, outcome
        self.jobs: dict[str, dict] = {}
        self.deleted: list[str] = []

    def create_namespaced_job(self, namespace, body):
        name = body["metadata"]["name"]
        self.jobs[name] = body
        self.core_pods[f"{name}-pod"] = self.log

    def read_namespaced_job_status(self, name, namespace):
        done = {"succeeded": 1} if self.outcome == "succeeded" else {"failed": 1}
        return client.V1Job(status=client.V1JobStatus(**done))

    def delete_namespaced_job(self, name, namespace, propagation_policy=None):
        self.deleted.append(name)


class FakeJobPods:
    """CoreV1Api's calls the Job reader makes: list the Job's pods and read their logs."""

    def __init__(self):
        self.logs: dict[str, str] = {}

    def list_namespaced_pod(self, namespace, label_selector):
        job = label_selector.split("=", 1)[1]
        names = [n for n in self.logs if n.startswith(job)]
        return client.V1PodList(items=[client.V1Pod(metadata=client.V1ObjectMeta(name=n)) for n in names])

    def read_namespaced_pod_log(self, name, namespace):
        return self.logs[name]


class FakeApps:
    """AppsV1Api's DaemonSet calls; the DaemonSet is ready at once on one edge node."""

    def __init__(self):
        self.created: list[dict] = []
        self.deleted: list[str] = []

    def create_namespaced_daemon_set(self, namespace, body):
        self.created.append(body)

    def read_namespaced_daemon_set_status(self, name, namespace):
        return client.V1DaemonSet(status=client.V1DaemonSetStatus(
            desired_number_scheduled=1, number_ready=1, current_number_scheduled=1, number_misscheduled=0))

    def delete_namespaced_daemon_set(self, name, namespace):
        self.deleted.append(name)
