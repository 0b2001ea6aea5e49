"""What every part that talks to a Kubernetes cluster shares: the API clients, names, labels.

The clients are built once from the configuration's ``kubernetes`` section and passed in,
so the runners work the same against a real cluster and, in unit tests, a fake.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

PART_OF = "mlopsbench"
KEY = "mlopsbench.io"
# What a run makes and deletes again; the store, Prometheus and kube-state-metrics are not among them.
RUN_COMPONENTS = ("pipeline-step", "uploader", "delay-proxy", "serving")
LEFT_BY_RUNS = f"app.kubernetes.io/part-of={PART_OF},app.kubernetes.io/component in ({','.join(RUN_COMPONENTS)})"


@dataclass(frozen=True)
class KubeClients:
    core: Any                    # CoreV1Api
    batch: Any = None            # BatchV1Api
    apps: Any = None             # AppsV1Api
    watch: Callable | None = None  # a factory of kubernetes.watch.Watch


def connect(section: dict) -> KubeClients:
    """Clients for the kubeconfig named in config, else in-cluster config, else ~/.kube/config."""
    from kubernetes import client, config, watch

    if section.get("kubeconfig"):
        api = config.new_client_from_config(config_file=section["kubeconfig"], context=section.get("context"))
    else:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config(context=section.get("context"))
        api = client.ApiClient()
    return KubeClients(core=client.CoreV1Api(api), batch=client.BatchV1Api(api), apps=client.AppsV1Api(api),
                       watch=watch.Watch)


def dns_name(text: str) -> str:
    """A DNS-1123 label (lower case, digits, '-') of at most 63 characters."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-")


def labels(component: str, instance: str, **ours: str) -> dict[str, str]:
    """The labels every object we create carries; ``ours`` go under mlopsbench.io/."""
    return {"app.kubernetes.io/name": "mlopsbench", "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/instance": instance, "app.kubernetes.io/component": component,
            **{f"{KEY}/{key}": value for key, value in ours.items()}}


def pod_log(core, name: str, namespace: str, container: str | None = None, previous: bool = False,
            timeout: float | None = None) -> str:
    """A pod's (or one of its containers') log as text (the client's own decoding can hand back the
    repr of bytes); ``previous``: that of the container's last run before a restart; ``timeout``:
    seconds to wait for the API server (None: as long as it takes)."""
    extra = ({"container": container} if container else {}) | ({"previous": True} if previous else {}) | (
        {"_request_timeout": timeout} if timeout else {})
    return core.read_namespaced_pod_log(name, namespace, _preload_content=False, **extra).data.decode(errors="replace")


def cleanup(core, namespace: str, selector: str = LEFT_BY_RUNS, apps=None, timeout: float | None = None) -> None:
    """Delete the Deployments (with ``apps``), pods, volume claims and Services that match
    ``selector`` (default: what runs make). Deployments first: else they would make their pods again.
    ``timeout``: seconds each call waits for the API server (None: as long as it takes)."""
    waits = {"_request_timeout": timeout} if timeout else {}
    if apps is not None:
        apps.delete_collection_namespaced_deployment(namespace, label_selector=selector, **waits)
    core.delete_collection_namespaced_pod(namespace, label_selector=selector, **waits)
    core.delete_collection_namespaced_persistent_volume_claim(namespace, label_selector=selector, **waits)
    core.delete_collection_namespaced_service(namespace, label_selector=selector, **waits)


class PodCopyError(RuntimeError):
    pass


def exec_output(core, namespace: str, pod: str, command: list[str], stdin: bytes | None = None) -> str:
    """Run ``command`` in the pod's first container (feeding it ``stdin``); its output and errors as
    text. Read here, not by the client, which would turn a JSON line into a dict's repr."""
    from kubernetes.stream import stream

    session = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=command, stdin=stdin is not None,
                     stdout=True, stderr=True, tty=False, _preload_content=False)
    for start in range(0, len(stdin or b""), 1 << 20):
        session.write_stdin(stdin[start:start + (1 << 20)])
    output = ""
    while session.is_open():
        session.update(timeout=1)
        output += session.read_stdout() + session.read_stderr()
    session.close()
    return output


def copy_into_pod(core, namespace: str, pod: str, source: Path, dest: str) -> None:
    """Stream ``source`` into ``dest`` in the pod (exec; ``head -c`` ends after the size sent), and
    check what arrived by its SHA-256."""
    data = source.read_bytes()
    folder = dest.rpartition("/")[0]
    command = ["sh", "-c", f"mkdir -p {folder} && head -c {len(data)} > {dest} && sha256sum {dest}"]
    output = exec_output(core, namespace, pod, command, stdin=data)
    if hashlib.sha256(data).hexdigest() not in output:
        raise PodCopyError(f"copying {source} into pod {namespace}/{pod} failed: {output.strip()[-500:]}")


class PodNotRunning(RuntimeError):
    pass


def wait_running(core, namespace: str, name: str, timeout_s: float):
    """The pod once Running; PodNotRunning if it ended first or did not run within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (pod := core.read_namespaced_pod(name, namespace)).status.phase != "Running":
        if pod.status.phase in ("Failed", "Succeeded") or time.monotonic() > deadline:
            raise PodNotRunning(f"{pod.status.phase}: {pod.status.reason or 'not running within %g s' % timeout_s}")
        time.sleep(0.2)
    return pod
