"""The edge as a pod on the cluster's edge node (the vm and pod setups): the manifests.

One Deployment of one replica serves the model, behind a Service the client reaches. Its
pod fetches the version it starts with in an init container (the updater, once) into an
``emptyDir``, and is Ready when KServe says the model is. What the two methods (``methods``) need
of it:

* in place: the pod also runs the updater beside the server, polling the store, and the
  Deployment never changes;
* roll out: a new version is a new pod template (the version in an annotation and in the init
  container's fetch); the rolling update starts a new pod beside the old one
  (``maxSurge: 1, maxUnavailable: 0``), the Service sends traffic to it once it is Ready, and
  the old pod goes after: for ``DRAIN_S`` it still answers, closing each connection it answers
  on (``server.Drain``), so the client's kept-alive connections move to the new pod.

Everything carries the package's labels (``cluster.kube.labels``), so a clean-up finds it.
"""

from __future__ import annotations

from ..cluster.kube import labels
from ..cluster.target import ClusterTarget
from ..store.on_cluster import store_credentials_env
from .methods.rollout import DRAIN_S, MAX_SURGE, MAX_UNAVAILABLE
from .versions import DRAIN_PATH

HTTP_PORT = 8080
MODELS = "/models"
VERSION_ANNOTATION = "mlopsbench.io/version"


def _container(name: str, image: str, pull_policy: str, args: list[str], secret: str) -> dict:
    return {"name": name, "image": image, "imagePullPolicy": pull_policy, "args": args,
            "env": store_credentials_env(secret),
            "volumeMounts": [{"name": "models", "mountPath": MODELS}],
            "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 1000,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}


def edge_deployment(target: ClusterTarget, name: str, image: str, store: str, bucket: str, model: str,
                    secret: str, node_selector: dict, version: str, poll_interval_s: float | None) -> dict:
    """The serving Deployment, starting with ``version``; with the updater beside the server, polling
    every ``poll_interval_s``, where a method updates in place (None: no updater)."""
    store_args = ["--store", store, "--bucket", bucket, "--models-dir", MODELS, "--model", model]
    pull = target.image_pull_policy
    fetch = _container("fetch", image, pull, ["-m", "mlopsbench.serving.updater", *store_args, "--version", version],
                       secret)
    server = _container("server", image, pull, ["-m", "mlopsbench.serving.server", "--models-dir", MODELS,
                                                "--model", model, "--http-port", str(HTTP_PORT),
                                                "--drain-s", f"{DRAIN_S:g}"], secret)
    server |= {"ports": [{"containerPort": HTTP_PORT}],
               # Ready as soon as one probe passes; a probe slowed by a load beside the serving version
               # must not take the pod out of the Service.
               "readinessProbe": {"httpGet": {"path": f"/v2/models/{model}/ready", "port": HTTP_PORT},
                                  "periodSeconds": 1, "timeoutSeconds": 5, "failureThreshold": 5},
               # A pod leaving the Service keeps answering until kube-proxy has stopped sending it
               # requests (the roll-out's old pod refused 5 requests at the switch without a drain),
               # and closes each connection it answers on, so kept-alive clients reconnect elsewhere.
               "lifecycle": {"preStop": {"httpGet": {"path": DRAIN_PATH, "port": HTTP_PORT}}}}
    containers = [server]
    if poll_interval_s is not None:
        containers.append(_container("updater", image, pull, [
            "-m", "mlopsbench.serving.updater", *store_args, "--server", f"http://127.0.0.1:{HTTP_PORT}",
            "--poll-interval-s", f"{poll_interval_s:g}"], secret))
    tag = labels("serving", name)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": target.namespace, "labels": tag},
        "spec": {
            "replicas": 1, "selector": {"matchLabels": tag},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": MAX_SURGE, "maxUnavailable": MAX_UNAVAILABLE}},
            "template": {
                "metadata": {"labels": tag, "annotations": {VERSION_ANNOTATION: version}},
                "spec": {"nodeSelector": node_selector, "serviceAccountName": target.service_account,
                         "automountServiceAccountToken": False, "enableServiceLinks": False,
                         "dnsPolicy": "Default",   # the store is named by its cluster IP; no cluster DNS needed
                         "terminationGracePeriodSeconds": DRAIN_S + 10, "initContainers": [fetch],
                         "containers": containers,
                         "volumes": [{"name": "models", "emptyDir": {}}]}}}}


def rolled_to(deployment: dict, version: str) -> dict:
    """The same Deployment with ``version`` in its pod template: a roll-out to it."""
    template = deployment["spec"]["template"]
    fetch = template["spec"]["initContainers"][0]
    args = fetch["args"][:fetch["args"].index("--version") + 1] + [version]
    return deployment | {"spec": deployment["spec"] | {"template": {
        "metadata": template["metadata"] | {"annotations": {VERSION_ANNOTATION: version}},
        "spec": template["spec"] | {"initContainers": [fetch | {"args": args}]}}}}


def edge_service(target: ClusterTarget, name: str) -> dict:
    tag = labels("serving", name)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": target.namespace,
                                                                "labels": tag},
            "spec": {"selector": tag, "ports": [{"port": HTTP_PORT, "targetPort": HTTP_PORT}]}}
