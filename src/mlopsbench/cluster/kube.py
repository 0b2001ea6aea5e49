"""What every part that talks to a Kubernetes cluster shares: the API clients, names, labels.

The clients are built once from the configuration's ``kubernetes`` section and passed in,
so the runners work the same against a real cluster and, in unit tests, a fake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

PART_OF = "mlopsbench"
KEY = "mlopsbench.io"
# What a run makes and deletes again; the store, Prometheus and kube-state-metrics are not among them.
RUN_COMPONENTS = ("pipeline-step", "uploader", "delay-proxy")
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


def pod_log(core, name: str, namespace: str) -> str:
    """A pod's log as text (the client's own decoding can hand back the repr of bytes)."""
    return core.read_namespaced_pod_log(name, namespace, _preload_content=False).data.decode(errors="replace")


def cleanup(core, namespace: str, selector: str = LEFT_BY_RUNS) -> None:
    """Delete the pods and volume claims that match ``selector`` (default: what runs make)."""
    core.delete_collection_namespaced_pod(namespace, label_selector=selector)
    core.delete_collection_namespaced_persistent_volume_claim(namespace, label_selector=selector)
