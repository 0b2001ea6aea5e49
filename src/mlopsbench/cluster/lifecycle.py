"""``cluster up``, ``down`` and ``status``: a real single-node Kubernetes cluster on this machine.

Up, in order: certificates and configuration; containerd and etcd; the images; the API
server; the objects the cluster needs (RBAC for the API server's kubelet calls and for
kube-state-metrics, the StorageClass, the study's namespace and roles, the object store);
controller-manager, scheduler, kubelet and kube-proxy; the node Ready, untainted and
labelled; the volume provisioner, kube-state-metrics and Prometheus; the runner's
kubeconfig (its namespaced ServiceAccount, not the admin). ``cluster.json`` in the state
directory then says where everything is.

Down removes every process, mount, pod sandbox, network interface, iptables chain,
conntrack entry, cgroup and sysctl change the cluster made (``teardown``), and the state
directory but its logs. Both need root.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
import yaml

from .. import atomic
from ..config import default
from ..errors import InputError
from . import build, images, pki, teardown
from .daemons import Daemon, running, start, stop, wait_until
from .node import (API_PORT, CONTROLLER_MANAGER_PORT, ETCD_PORTS, KSM_JOB, KSM_PORTS, KUBE_PROXY_PORTS, KUBELET_PORTS,
                   NODE_LABELS, NODE_NAME, PROMETHEUS_PORT, SCHEDULER_PORT, Layout, Network,
                   check_ports_free, choose_network, cni_config, containerd_config, kube_proxy_config, kubelet_config,
                   prometheus_config)
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
# Every sysctl kubelet, kube-proxy (its conntrack settings) and the bridge plugin change; down restores them.
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "kernel.keys.root_maxkeys",
           "kernel.keys.root_maxbytes", "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet",
           "net.bridge.bridge-nf-call-iptables", "net.netfilter.nf_conntrack_max",
           "net.netfilter.nf_conntrack_tcp_timeout_established", "net.netfilter.nf_conntrack_tcp_timeout_close_wait")
# Stop order: nothing re-creates pods once the controllers are gone; containerd goes last.
DAEMONS = ("prometheus", "kube-state-metrics", "provisioner", "kube-scheduler", "kube-controller-manager",
           "kubelet", "kube-proxy", "kube-apiserver", "etcd", "containerd")

log = logging.getLogger(__name__)


class ClusterError(InputError):
    pass


@dataclass(frozen=True)
class Cluster:
    """What ``cluster.json`` records about a running cluster."""

    server: str
    admin_kubeconfig: str
    runner_kubeconfig: str
    namespace: str
    node: str
    prometheus_url: str
    scrape_interval_s: float
    store_service: str
    store_address: str           # host:port of the store's Service, as this machine and pods reach it
    job_image: str
    started: float

    @classmethod
    def read(cls, layout: Layout) -> "Cluster | None":
        try:
            return cls(**json.loads(layout.info.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def _certificates(layout: Layout, network: Network) -> None:
    node_leaf = dict(dns=(NODE_NAME, "localhost"), ips=(network.node_ip, "127.0.0.1"))
    api_names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
                 "localhost", NODE_NAME)
    pki.make_all(layout.pki, {"ca": "mlopsbench-kubernetes-ca", "etcd-ca": "mlopsbench-etcd-ca",
                              "front-proxy-ca": "mlopsbench-front-proxy-ca"}, [
        pki.Leaf("etcd-server", "etcd-ca", "etcd-server", server=True, dns=("localhost",), ips=("127.0.0.1",)),
        pki.Leaf("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client"),
        pki.Leaf("apiserver", "ca", "kube-apiserver", server=True, client=False, dns=api_names,
                 ips=("127.0.0.1", network.node_ip, network.api_service_ip)),
        pki.Leaf("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client"),
        pki.Leaf("front-proxy-client", "front-proxy-ca", "front-proxy-client"),
        pki.Leaf("admin", "ca", "kubernetes-admin", "system:masters"),
        pki.Leaf("kube-controller-manager", "ca", "system:kube-controller-manager"),
        pki.Leaf("kube-scheduler", "ca", "system:kube-scheduler"),
        pki.Leaf("kube-proxy", "ca", "system:kube-proxy"),
        pki.Leaf("kubelet-client", "ca", f"system:node:{NODE_NAME}", "system:nodes"),
        pki.Leaf("kubelet-server", "ca", f"system:node:{NODE_NAME}", server=True, client=False, **node_leaf),
        pki.Leaf("kube-state-metrics", "ca", KSM_USER),
    ])
    pki.signing_key(layout.pki, "service-account")
    for name, user in (("admin", "kubernetes-admin"), ("kube-controller-manager", "system:kube-controller-manager"),
                       ("kube-scheduler", "system:kube-scheduler"), ("kube-proxy", "system:kube-proxy"),
                       ("kubelet", f"system:node:{NODE_NAME}"), ("kube-state-metrics", KSM_USER)):
        cert = "kubelet-client" if name == "kubelet" else name
        pki.kubeconfig(layout.conf / f"{name}.kubeconfig", network.server, layout.pki / "ca.crt", user,
                       layout.pki / f"{cert}.crt", layout.pki / f"{cert}.key")


def _answers(url: str) -> bool:
    """A health endpoint on loopback answers (its certificate is self-signed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        return requests.get(url, timeout=2, verify=False).ok


def _scraped_kube_state_metrics() -> bool:
    """Prometheus's latest scrape of kube-state-metrics succeeded: the third clock runs."""
    body = requests.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query", params={"query": f'up{{job="{KSM_JOB}"}}'},
                        timeout=2).json()
    return any(sample["value"][1] == "1" for sample in body["data"]["result"])


def _kubeconfig_flags(layout: Layout, name: str) -> list[str]:
    path = layout.conf / f"{name}.kubeconfig"
    return [f"--kubeconfig={path}", f"--authentication-kubeconfig={path}", f"--authorization-kubeconfig={path}"]


def _daemons(layout: Layout, network: Network, binaries: dict[str, Path], scrape_interval_s: float) -> dict:
    return (_store_daemons(layout, binaries) | _control_plane(layout, network, binaries) |
            _node_daemons(layout, network, binaries, scrape_interval_s))


def _store_daemons(layout: Layout, binaries: dict[str, Path]) -> dict:
    """containerd and etcd: what the API server and the node stand on."""
    p, c = layout.pki, layout.conf
    etcd_client, etcd_peer, etcd_metrics = ETCD_PORTS
    return {
        "containerd": Daemon("containerd", ["/usr/bin/containerd", "--config", str(c / "containerd.toml")],
                             lambda: subprocess.run(_ctr(layout) + ["version"], capture_output=True).returncode == 0),
        "etcd": Daemon("etcd", [
            str(binaries["etcd"]), "--name", "mlopsbench", "--data-dir", str(layout.var / "etcd"),
            f"--listen-client-urls=https://127.0.0.1:{etcd_client}",
            f"--advertise-client-urls=https://127.0.0.1:{etcd_client}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=mlopsbench=http://127.0.0.1:{etcd_peer}", "--initial-cluster-state=new",
            f"--listen-metrics-urls=http://127.0.0.1:{etcd_metrics}",
            f"--cert-file={p / 'etcd-server.crt'}", f"--key-file={p / 'etcd-server.key'}", "--client-cert-auth",
            f"--trusted-ca-file={p / 'etcd-ca.crt'}", "--quota-backend-bytes=2147483648", "--log-level=warn"],
            lambda: '"health":"true"' in requests.get(f"http://127.0.0.1:{etcd_metrics}/health", timeout=2).text),
    }


def _control_plane(layout: Layout, network: Network, binaries: dict[str, Path]) -> dict:
    """The API server, the controller-manager and the scheduler."""
    p = layout.pki
    etcd_client = ETCD_PORTS[0]
    return {
        "kube-apiserver": Daemon("kube-apiserver", [
            str(binaries["kube-apiserver"]), f"--advertise-address={network.node_ip}", "--bind-address=0.0.0.0",
            f"--secure-port={API_PORT}", f"--etcd-servers=https://127.0.0.1:{etcd_client}",
            f"--etcd-cafile={p / 'etcd-ca.crt'}", f"--etcd-certfile={p / 'apiserver-etcd-client.crt'}",
            f"--etcd-keyfile={p / 'apiserver-etcd-client.key'}", f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}", f"--client-ca-file={p / 'ca.crt'}",
            f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={p / 'ca.crt'}", "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--authorization-mode=Node,RBAC", "--anonymous-auth=false", "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", f"--service-cluster-ip-range={network.service_cidr}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'service-account.pub'}",
            f"--service-account-signing-key-file={p / 'service-account.key'}",
            f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client", "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group", "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={p / 'front-proxy-client.key'}", "--profiling=false", "--v=1"],
            lambda: _ready(layout, network.server)),
        "kube-controller-manager": Daemon("kube-controller-manager", [
            str(binaries["kube-controller-manager"]), *_kubeconfig_flags(layout, "kube-controller-manager"),
            "--bind-address=127.0.0.1", f"--secure-port={CONTROLLER_MANAGER_PORT}", f"--client-ca-file={p / 'ca.crt'}",
            f"--root-ca-file={p / 'ca.crt'}", f"--service-account-private-key-file={p / 'service-account.key'}",
            "--use-service-account-credentials=true", f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}", f"--service-cluster-ip-range={network.service_cidr}",
            f"--cluster-cidr={network.cluster_cidr}", "--allocate-node-cidrs=false", "--leader-elect=false",
            f"--flex-volume-plugin-dir={layout.var / 'flexvolume'}", "--profiling=false", "--v=1"],
            lambda: _answers(f"https://127.0.0.1:{CONTROLLER_MANAGER_PORT}/healthz")),
        "kube-scheduler": Daemon("kube-scheduler", [
            str(binaries["kube-scheduler"]), *_kubeconfig_flags(layout, "kube-scheduler"), "--bind-address=127.0.0.1",
            f"--secure-port={SCHEDULER_PORT}", "--leader-elect=false", "--profiling=false", "--v=1"],
            lambda: _answers(f"https://127.0.0.1:{SCHEDULER_PORT}/healthz")),
    }


def _node_daemons(layout: Layout, network: Network, binaries: dict[str, Path], scrape_interval_s: float) -> dict:
    """The node's kubelet and kube-proxy, the volume provisioner, and the third clock (kube-state-metrics
    and Prometheus)."""
    c = layout.conf
    return {
        "kubelet": Daemon("kubelet", [
            str(binaries["kubelet"]), f"--config={c / 'kubelet-config.yaml'}", f"--kubeconfig={c / 'kubelet.kubeconfig'}",
            f"--root-dir={layout.var / 'kubelet'}", f"--cert-dir={layout.var / 'kubelet' / 'pki'}",
            f"--hostname-override={NODE_NAME}", f"--node-ip={network.node_ip}", "--v=1"],
            lambda: _answers(f"http://127.0.0.1:{KUBELET_PORTS[1]}/healthz")),
        "kube-proxy": Daemon("kube-proxy", [str(binaries["kube-proxy"]), f"--config={c / 'kube-proxy-config.yaml'}",
                                            "--v=1"],
                             lambda: _answers(f"http://127.0.0.1:{KUBE_PROXY_PORTS[0]}/healthz")),
        "provisioner": Daemon("provisioner", [
            sys.executable, "-m", "mlopsbench.cluster.provisioner", f"--kubeconfig={layout.admin_kubeconfig}",
            f"--node={NODE_NAME}", f"--root={layout.var / 'volumes'}"], lambda: True),
        "kube-state-metrics": Daemon("kube-state-metrics", [
            str(binaries["kube-state-metrics"]), f"--kubeconfig={c / 'kube-state-metrics.kubeconfig'}",
            "--host=127.0.0.1", f"--port={KSM_PORTS[0]}", "--telemetry-host=127.0.0.1",
            f"--telemetry-port={KSM_PORTS[1]}", "--resources=pods"],
            lambda: _answers(f"http://127.0.0.1:{KSM_PORTS[0]}/healthz")),
        "prometheus": Daemon("prometheus", [
            shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={prometheus_config(layout, scrape_interval_s)}",
            f"--storage.tsdb.path={layout.var / 'prometheus'}", f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
            "--storage.tsdb.retention.time=2d", "--log.level=warn"],
            # Ready once it has scraped kube-state-metrics: before that, the third clock misses pods.
            _scraped_kube_state_metrics),
    }


def _ready(layout: Layout, server: str) -> bool:
    """The API server's /readyz with the admin's certificate (anonymous requests are refused).
    ``verify`` is given per request: requests lets REQUESTS_CA_BUNDLE override a session's."""
    return requests.get(f"{server}/readyz", timeout=5, verify=str(layout.pki / "ca.crt"),
                        cert=(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))).ok


def _ctr(layout: Layout) -> list[str]:
    return ["ctr", "--address", str(layout.socket), "-n", "k8s.io"]


def _launch(layout: Layout, daemon: Daemon, timeout: float = 120.0) -> None:
    started = time.monotonic()
    start(daemon, layout.logs, layout.pids)
    wait_until(daemon.name, daemon.ready, timeout, layout.pids / daemon.name, layout.logs / f"{daemon.name}.log")
    log.info("%s ready in %.1f s", daemon.name, time.monotonic() - started)


def _record_sysctls(layout: Layout) -> None:
    values = {}
    for key in SYSCTLS:
        result = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True)
        if result.returncode == 0:
            values[key] = result.stdout.strip()
    atomic.write_json(layout.root / "sysctl-before.json", values)
    subprocess.run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], capture_output=True)


def _api(layout: Layout):
    from kubernetes import config

    return config.new_client_from_config(config_file=str(layout.admin_kubeconfig))


def _apply(api, documents: list[dict]) -> None:
    """Create or update each object (server-side apply), so a changed manifest takes effect."""
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(api)
    for document in documents:
        resource = dynamic.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        dynamic.server_side_apply(resource, body=document, namespace=document["metadata"].get("namespace"),
                                  field_manager="mlopsbench", force_conflicts=True)


def _repo_manifests(repo: Path, *names: str) -> list[dict]:
    return [d for name in names for d in yaml.safe_load_all((repo / "deploy" / name).read_text()) if d]


def _cluster_objects() -> list[dict]:
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
        storage_class(),
    ]


def _store_secret(access: str, secret: str) -> dict:
    identities = {"identities": [{"name": "mlopsbench", "credentials": [{"accessKey": access, "secretKey": secret}],
                                  "actions": ["Admin", "Read", "Write", "List"]}]}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": STORE_SECRET, "namespace": NAMESPACE},
            "type": "Opaque", "stringData": {"MINIO_ROOT_USER": access, "MINIO_ROOT_PASSWORD": secret,
                                             "s3.json": json.dumps(identities)}}


def _wait_node(api, timeout: float = 120.0) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api)

    def usable() -> bool:
        node = core.read_node(NODE_NAME)
        ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        return ready and not node.spec.taints  # the not-ready taint goes a few seconds after Ready

    waited = wait_until(f"node {NODE_NAME} Ready and untainted", usable, timeout)
    core.patch_node(NODE_NAME, {"metadata": {"labels": NODE_LABELS}})
    wait_until(f"ServiceAccount {NAMESPACE}/default", lambda: core.read_namespaced_service_account("default", NAMESPACE),
               60)
    log.info("node %s ready and untainted after %.1f s more, labelled %s", NODE_NAME, waited, NODE_LABELS)


def _runner_kubeconfig(layout: Layout, api, network: Network) -> None:
    """The runner's credentials: a token of its namespaced ServiceAccount (deploy/rbac.yaml)."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=["https://kubernetes.default.svc.cluster.local"], expiration_seconds=7 * 24 * 3600))
    token = client.CoreV1Api(api).create_namespaced_service_account_token(RUNNER, NAMESPACE, request).status.token
    pki.kubeconfig(layout.runner_kubeconfig, network.server, layout.pki / "ca.crt", RUNNER, token=token,
                   namespace=NAMESPACE)


def _wait_store(api, timeout: float = 180.0) -> str:
    """Wait for the object store; return its Service's address (no cluster DNS runs here)."""
    from kubernetes import client

    apps = client.AppsV1Api(api)
    wait_until(f"the object store {NAMESPACE}/{STORE}",
               lambda: (apps.read_namespaced_deployment_status(STORE, NAMESPACE).status.ready_replicas or 0) >= 1,
               timeout)
    return f"{client.CoreV1Api(api).read_namespaced_service(STORE, NAMESPACE).spec.cluster_ip}:{STORE_PORT}"


def up(repo: Path, scrape_interval_s: float | None = None, layout: Layout | None = None) -> Cluster:
    """Start the cluster, or check the running one and bring its images up to date.
    ``scrape_interval_s``: Prometheus's, for kube-state-metrics (default: the configuration's)."""
    layout = layout or Layout.default()
    scrape_interval_s = scrape_interval_s or default("kubernetes.scrape_interval_s")
    if os.geteuid() != 0:
        raise ClusterError("the local cluster needs root (containerd, network namespaces, mounts, iptables)")
    current = status(layout)
    if current is not None:
        log.info("cluster already up (API %s); bringing its images and manifests up to date", current.server)
        images.ensure_imported(_ctr(layout), images.JOB_IMAGE, images.job_layers(repo), images.JOB_CONFIG)
        _apply(_api(layout), _repo_manifests(repo, *ACCESS_MANIFESTS, "seaweedfs.yaml"))
        return current
    if any(running(layout.pids / name) for name in DAEMONS) or layout.run.exists():
        log.warning("a cluster that did not stop cleanly is left over: removing it first")
        down(layout)
    check_ports_free()
    started = time.monotonic()
    binaries = build.ensure_binaries()
    pause, job = images.pause_layers(), images.job_layers(repo)
    network = choose_network()
    for folder in (layout.pki, layout.conf, layout.var, layout.run, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(layout.root / "network.json", network.__dict__)
    atomic.write_json(layout.root / "binaries.json", {name: str(path) for name, path in binaries.items()})
    (layout.var / "etcd").mkdir(mode=0o700, exist_ok=True)
    _certificates(layout, network)
    containerd_config(layout, images.PAUSE_IMAGE)
    cni_config(layout, network)
    kubelet_config(layout)
    kube_proxy_config(layout, network)
    _record_sysctls(layout)
    daemons = _daemons(layout, network, binaries, scrape_interval_s)
    try:
        _launch(layout, daemons["containerd"])
        _launch(layout, daemons["etcd"])
        images.ensure_imported(_ctr(layout), images.PAUSE_IMAGE, pause, images.PAUSE_CONFIG)
        images.ensure_imported(_ctr(layout), images.JOB_IMAGE, job, images.JOB_CONFIG)
        _launch(layout, daemons["kube-apiserver"])
        api = _api(layout)
        access, secret = f"MLB{secrets.token_hex(8).upper()}", secrets.token_urlsafe(24)
        _apply(api, _cluster_objects() + _repo_manifests(repo, *ACCESS_MANIFESTS) +
               [_store_secret(access, secret)] + _repo_manifests(repo, "seaweedfs.yaml"))
        for name in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
            start(daemons[name], layout.logs, layout.pids)
        for name in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
            wait_until(name, daemons[name].ready, 120, layout.pids / name, layout.logs / f"{name}.log")
        _wait_node(api)
        for name in ("provisioner", "kube-state-metrics", "prometheus"):
            _launch(layout, daemons[name])
        _runner_kubeconfig(layout, api, network)
        store_address = _wait_store(api)
    except BaseException:
        log.error("cluster up failed; removing what was started (logs stay in %s)", layout.logs)
        down(layout)
        raise
    cluster = Cluster(server=network.server, admin_kubeconfig=str(layout.admin_kubeconfig),
                      runner_kubeconfig=str(layout.runner_kubeconfig), namespace=NAMESPACE, node=NODE_NAME,
                      prometheus_url=f"http://127.0.0.1:{PROMETHEUS_PORT}", scrape_interval_s=scrape_interval_s,
                      store_service=STORE,
                      store_address=store_address, job_image=images.JOB_IMAGE, started=time.time())
    atomic.write_private(layout.conf / "store-credentials.json", json.dumps({"access_key": access, "secret_key": secret}))
    atomic.write_json(layout.info, cluster.__dict__)  # last: the cluster counts as up from here
    log.info("cluster up in %.1f s: API %s, admin kubeconfig %s", time.monotonic() - started, network.server,
             layout.admin_kubeconfig)
    return cluster


def status(layout: Layout | None = None) -> Cluster | None:
    """The running cluster, if every daemon runs and the API server answers; else None."""
    layout = layout or Layout.default()
    cluster = Cluster.read(layout)
    if cluster is None or not all(running(layout.pids / name) for name in DAEMONS):
        return None
    try:
        return cluster if _ready(layout, cluster.server) else None
    except requests.RequestException:
        return None


def problems(layout: Layout | None = None) -> list[str]:
    """What is wrong with a cluster that is not up: the daemons that stopped, an API server that
    does not answer, a node that is not Ready. Empty when none was started (it is simply down)."""
    layout = layout or Layout.default()
    cluster = Cluster.read(layout)
    if cluster is None:
        return []
    found = [f"{name} is not running" for name in DAEMONS if not running(layout.pids / name)]
    try:
        answering = _ready(layout, cluster.server)
    except requests.RequestException as exc:
        answering, why = False, f"{type(exc).__name__}"
    else:
        why = "not ready"
    if not answering:
        return found + [f"the API server {cluster.server} does not answer ({why})"]
    from kubernetes import client

    node = client.CoreV1Api(_api(layout)).read_node(NODE_NAME)
    ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
    if ready is None or ready.status != "True":
        found.append(f"node {NODE_NAME} is not Ready ({ready.reason if ready else 'no Ready condition'}: "
                     f"{ready.message if ready else ''})")
    return found


def down(layout: Layout | None = None) -> None:
    """Stop the cluster and remove every trace of it but its logs."""
    layout = layout or Layout.default()
    started = time.monotonic()
    for name in DAEMONS[:6]:
        stop(name, layout.pids)
    teardown.remove_pods(layout)
    stop("kube-proxy", layout.pids)
    teardown.kube_proxy_cleanup(layout)
    for name in ("kube-apiserver", "etcd", "containerd"):
        stop(name, layout.pids)
    teardown.after_daemons(layout)
    for name in os.listdir(layout.root) if layout.root.exists() else []:
        if name != "logs":
            shutil.rmtree(layout.root / name, ignore_errors=True) if (layout.root / name).is_dir() \
                else (layout.root / name).unlink()
    log.info("cluster down in %.1f s", time.monotonic() - started)


def leftovers(layout: Layout | None = None) -> list[str]:
    """What of a cluster is still on this machine (empty once it is down)."""
    return teardown.leftovers(layout or Layout.default(), DAEMONS)

