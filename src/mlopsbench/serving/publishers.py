"""Who publishes a new version, and from where: the upload half of an update.

* ``StorePublisher``: this machine (the host, netns and vm setups), through the cell's path to
  the store (a delay proxy in front of it);
* ``PodPublisher``: a pod on the cluster's core node (the pod setup), as the upload
  experiment's uploader Job: the version files are copied into the pod before the cell starts,
  and each publication runs there (``mlopsbench serving-publish``, by exec), timing itself on
  the node's clock, which is this machine's.

Either way ``publish(version, path)`` returns the wall-clock start and end of the upload of the
file and its pointer (``versions.publish``).
"""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path

from ..cluster.kube import PodNotRunning, copy_into_pod, exec_output, labels, wait_running
from ..cluster.target import ClusterTarget
from ..store.on_cluster import ClusterStore, store_credentials_env
from .versions import publish

log = logging.getLogger(__name__)

VERSIONS_IN_POD = "/tmp/versions"


class PublishError(RuntimeError):
    pass


class StorePublisher:
    def __init__(self, minio, bucket: str, model: str, part_size: int):
        self.minio, self.bucket, self.model, self.part_size = minio, bucket, model, part_size

    def publish(self, version: str, path: Path) -> tuple[float, float]:
        return publish(self.minio, self.bucket, self.model, version, path, self.part_size)


def publisher_pod(target: ClusterTarget, store: ClusterStore, name: str) -> dict:
    """A pod on the core node that waits for ``exec`` (the job image, no API rights)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": target.namespace, "labels": labels("serving", name)},
            "spec": {"nodeSelector": store.job_node_selector, "serviceAccountName": target.service_account,
                     "automountServiceAccountToken": False, "enableServiceLinks": False, "dnsPolicy": "Default",
                     "terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "publisher", "image": target.image,
                                     "imagePullPolicy": target.image_pull_policy, "command": ["sleep", "infinity"],
                                     "env": store_credentials_env(store.credentials_secret),
                                     "resources": store.job_resources,
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}


class PodPublisher:
    """``with PodPublisher(...) as publisher:`` starts the pod and copies the versions in; the pod
    is always deleted on the way out."""

    def __init__(self, target: ClusterTarget, store: ClusterStore, name: str, endpoint: str, bucket: str, model: str,
                 part_size: int, versions: list[Path], ready_timeout_s: float):
        self.target, self.store, self.name, self.endpoint, self.bucket = target, store, name, endpoint, bucket
        self.model = model
        self.part_size, self.versions, self.ready_timeout_s = part_size, versions, ready_timeout_s
        self.core = target.clients.core

    def __enter__(self) -> "PodPublisher":
        self.core.create_namespaced_pod(self.target.namespace, publisher_pod(self.target, self.store, self.name))
        try:
            wait_running(self.core, self.target.namespace, self.name, self.ready_timeout_s)
            for path in self.versions:
                copy_into_pod(self.core, self.target.namespace, self.name, path, f"{VERSIONS_IN_POD}/{path.name}")
            log.info("publisher pod %s holds the %d versions", self.name, len(self.versions))
        except PodNotRunning as error:
            self.__exit__()
            raise PublishError(f"publisher pod {self.target.namespace}/{self.name} did not run ({error})") from None
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.core.delete_namespaced_pod(self.name, self.target.namespace, grace_period_seconds=0)
        except Exception as error:  # gone already, or the API is away: the study's clean-up finds it by label
            log.warning("deleting publisher pod %s: %s", self.name, error)

    def publish(self, version: str, path: Path) -> tuple[float, float]:
        command = ["mlopsbench", "serving-publish", "--endpoint", self.endpoint, "--bucket", self.bucket,
                   "--model", self.model, "--version", version, "--path", f"{VERSIONS_IN_POD}/{path.name}",
                   "--part-size-mib", str(self.part_size // 2**20)]
        output = exec_output(self.core, self.target.namespace, self.name, command)
        times = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        if not times:
            raise PublishError(f"publishing {version} from pod {self.name} failed: {shlex.join(command)}: "
                               f"{output.strip()[-1000:]}")
        return times[-1]["started"], times[-1]["ended"]
