"""Fakes of a few Kubernetes API calls, for unit tests of corner cases a real cluster cannot
produce on demand: a netem DaemonSet that works (this kernel has no netem), and a Job that
dies before it reports. Everything else runs against the real local cluster."""

from kubernetes import client


class RawResponse:
    """What the client returns with _preload_content=False: the body in ``data``."""

    def __init__(self, text: str):
        self.data = text.encode()


class FakeCluster:
    """CoreV1Api's (and AppsV1Api's) collection deletes, recorded."""

    def __init__(self):
        self.deleted: list[tuple[str, str]] = []

    def delete_collection_namespaced_pod(self, namespace, label_selector):
        self.deleted.append(("pods", label_selector))

    def delete_collection_namespaced_persistent_volume_claim(self, namespace, label_selector):
        self.deleted.append(("pvcs", label_selector))

    def delete_collection_namespaced_service(self, namespace, label_selector):
        self.deleted.append(("services", label_selector))

    def delete_collection_namespaced_deployment(self, namespace, label_selector):
        self.deleted.append(("deployments", label_selector))


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

    def read_namespaced_pod_log(self, name, namespace, _preload_content=True):
        return RawResponse(self.logs[name])

    def read_namespaced_service(self, name, namespace):
        return client.V1Service(spec=client.V1ServiceSpec(cluster_ip="10.96.0.9"))


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
