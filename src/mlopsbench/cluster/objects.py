"""What the cluster holds besides its daemons: the objects it needs (RBAC for the API server's
kubelet calls and for kube-state-metrics, the StorageClass, the study's namespaces and roles,
the netem admission policy, the object store and its credentials), the node's labels, and the
runner's own kubeconfig."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from . import pki
from .daemons import wait_until
from .node import Layout, Network
from .provisioner import storage_class

NAMESPACE = "mlopsbench"
RUNNER = "mlopsbench-runner"
STORE = "mlopsbench-store"
STORE_PORT = 8333
STORE_SECRET = "mlopsbench-store-credentials"
KSM_USER = "mlopsbench:kube-state-metrics"
# Who may do what: the namespaces and their Pod Security levels, the runner's and the steps'
# rights, and the policy that admits only the package's netem DaemonSet where pods may be privileged.
ACCESS_MANIFESTS = ("namespace.yaml", "rbac.yaml", "netem-admission.yaml")
STORE_MANIFEST = "seaweedfs.yaml"

log = logging.getLogger(__name__)


def admin_api(layout: Layout):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(layout.admin_kubeconfig))


def apply(api, documents: list[dict]) -> None:
    """Create or update each object (server-side apply), so a changed manifest takes effect."""
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api)
    for document in documents:
        resource = dynamic.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        dynamic.server_side_apply(resource, body=document, namespace=document["metadata"].get("namespace"),
                                  field_manager="mlopsbench", force_conflicts=True)


def repo_manifests(repo: Path, *names: str) -> list[dict]:
    return [d for name in names for d in yaml.safe_load_all((repo / "deploy" / name).read_text()) if d]


def cluster_objects(several_nodes: bool) -> list[dict]:
    """RBAC the cluster itself needs, and the StorageClass."""
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "mlopsbench:kube-apiserver-kubelet-client"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kube-apiserver-kubelet-client"}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": KSM_USER},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": KSM_USER},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": KSM_USER},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KSM_USER}]},
        storage_class(several_nodes),
    ]


def store_secret(access: str, secret: str) -> dict:
    identities = {"identities": [{"name": "mlopsbench", "credentials": [{"accessKey": access, "secretKey": secret}],
                                  "actions": ["Admin", "Read", "Write", "List"]}]}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": STORE_SECRET, "namespace": NAMESPACE},
            "type": "Opaque", "stringData": {"MINIO_ROOT_USER": access, "MINIO_ROOT_PASSWORD": secret,
                                             "s3.json": json.dumps(identities)}}


def wait_node(api, name: str, labels: dict[str, str], timeout: float = 120.0) -> None:
    """The node Ready and untainted, then labelled with its roles."""
    from kubernetes import client

    core = client.CoreV1Api(api)

    def usable() -> bool:
        node = core.read_node(name)
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        return ready and not node.spec.taints  # the not-ready taint goes a few seconds after Ready

    waited = wait_until(f"node {name} Ready and untainted", usable, timeout)
    core.patch_node(name, {"metadata": {"labels": labels}})
    wait_until(f"ServiceAccount {NAMESPACE}/default", lambda: core.read_namespaced_service_account("default", NAMESPACE),
               60)
    log.info("node %s ready and untainted after %.1f s more, labelled %s", name, waited, labels)


def node_problems(api, names: list[str]) -> list[str]:
    """Why each node of ``names`` that is not Ready is not (empty when all are)."""
    from kubernetes import client

    core, found = client.CoreV1Api(api), []
    for name in names:
        node = core.read_node(name)
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        if ready is None or ready.status != "True":
            found.append(f"node {name} is not Ready ({ready.reason if ready else 'no Ready condition'}: "
                         f"{ready.message if ready else ''})")
    return found


def allocatable(api, name: str) -> dict[str, str]:
    """What the node offers its pods, as it reports it."""
    from kubernetes import client

    offered = client.CoreV1Api(api).read_node(name).status.allocatable
    return {"cpu": offered["cpu"], "memory": offered["memory"]}


def write_runner_kubeconfig(layout: Layout, api, network: Network) -> None:
    """The runner's credentials: a token of its namespaced ServiceAccount (deploy/rbac.yaml)."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=["https://kubernetes.default.svc.cluster.local"], expiration_seconds=7 * 24 * 3600))
    token = client.CoreV1Api(api).create_namespaced_service_account_token(RUNNER, NAMESPACE, request).status.token
    pki.kubeconfig(layout.runner_kubeconfig, network.server, layout.pki / "ca.crt", RUNNER, token=token,
                   namespace=NAMESPACE)


def wait_store(api, timeout: float = 180.0) -> str:
    """Wait for the object store; return its Service's address (no cluster DNS runs here)."""
    from kubernetes import client

    apps = client.AppsV1Api(api)
    wait_until(f"the object store {NAMESPACE}/{STORE}",
               lambda: (apps.read_namespaced_deployment_status(STORE, NAMESPACE).status.ready_replicas or 0) >= 1,
               timeout)
    return f"{client.CoreV1Api(api).read_namespaced_service(STORE, NAMESPACE).spec.cluster_ip}:{STORE_PORT}"
