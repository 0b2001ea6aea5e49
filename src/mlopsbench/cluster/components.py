"""The cluster's daemons, one entry each, in the order ``up`` starts them; ``down`` stops them in
the opposite order. A node's own daemons (``per_node``: containerd, kubelet, kube-proxy) run once
on every node, each in its node's network namespace; the rest once, on the first node.

An entry says everything about one daemon: its command line (made from the node's paths,
addresses and binaries), the configuration file it reads, its fixed TCP ports by what each
serves (``up`` refuses to start while one is taken), the certificates it presents or signs in
with and the kubeconfig it reads, the Go module its binary is built from, when it is ready,
what ``up`` does once it is (import the images, apply the cluster's objects, wait for the node),
and what ``down`` must undo once it has stopped. Consecutive entries marked ``with_previous``
start together and are waited for together. ``status``, ``problems``, ``leftovers``, the
free-port check, the certificates, the build and ``down`` all read this table; adding a daemon
is one entry, and a node's daemon is one entry for every node.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests
import urllib3

from . import build, images, registry, teardown
from .build import GoModule
from .node import (Layout, Network, cni_config, containerd_config, kube_proxy_config, kubelet_config, prometheus_config,
                   registry_config)
from .nodes import Place, bridge_address
from .objects import (ACCESS_MANIFESTS, KSM_USER, STORE_MANIFEST, admin_api, apply, cluster_objects, repo_manifests,
                      store_secret, wait_node)
from .pki import Leaf

KSM_JOB = "kube-state-metrics"  # its scrape job in our Prometheus


@dataclass(frozen=True)
class Node:
    """What a daemon's command line and configuration files are made of: the cluster's, and the
    node it runs on (``layout`` is that node's)."""

    layout: Layout
    network: Network
    place: Place
    several: bool                                     # the cluster has more than one node
    binaries: dict[str, Path]
    scrape_interval_s: float
    repo: Path                                        # the project: its deploy/ manifests
    images: dict[str, tuple[list, dict]]              # image name -> its layers and config
    store_credentials: tuple[str, str]                # the in-cluster store's access and secret key


def _none(network: Network, place: Place) -> tuple[Leaf, ...]:
    return ()


@dataclass(frozen=True)
class Component:
    name: str
    argv: Callable[[Node], list[str]]
    ready: Callable[[Node], bool]
    # Every fixed port lies below the kernel's ephemeral range (32768-60999 by default): a port
    # inside it can be held for a moment by any outgoing connection, and the daemon then fails to bind.
    ports: dict[str, int] = field(default_factory=dict)
    # The leaves it presents or signs in with, on the node of the place given.
    certificates: Callable[[Network, Place], tuple[Leaf, ...]] = _none
    kubeconfig: str | None = None                   # the leaf its <name>.kubeconfig signs in to the API with
    per_node: bool = False                          # runs on every node, not once
    signing_keys: tuple[str, ...] = ()              # the keys it signs with (service-account tokens)
    build: GoModule | None = None                   # where its binary comes from (None: Debian's, or ours)
    config: Callable[[Node], Path] | None = None   # writes the file its command line names
    then: Callable[[Node], None] | None = None     # what up does once its wave is ready
    undo: Callable[[Layout], None] | None = None   # what down removes once it has stopped
    with_previous: bool = False                     # starts together with the entry before it


@dataclass(frozen=True)
class Instance:
    """An entry as it runs on one node: ``kubelet`` on the first, ``kubelet@edge`` on a node named edge."""

    component: Component
    place: Place

    @property
    def name(self) -> str:
        return self.component.name + self.place.suffix

    def argv(self, node: Node) -> list[str]:
        return self.place.enter(self.component.argv(node))


def placements(nodes: tuple) -> list[tuple[Component, int]]:
    """Every daemon of a cluster of ``nodes`` (specs or places) and the index of its node, in start order."""
    return [(c, i) for c in COMPONENTS for i in (range(len(nodes)) if c.per_node else (0,))]


def instances(places: tuple[Place, ...]) -> list[Instance]:
    """Every daemon of the cluster on its node(s), in start order."""
    return [Instance(c, places[i]) for c, i in placements(places)]


def instance_names(places: tuple[Place, ...]) -> tuple[str, ...]:
    return tuple(i.name for i in instances(places))


def registry_address(network: Network) -> str:
    """Where every node's containerd pulls from the cluster's registry, and ``images push`` sends to:
    loopback with one node, the nodes' bridge (this machine's end) with more."""
    host = bridge_address(network.nodes_cidr) if network.nodes_cidr else "127.0.0.1"
    return f"{host}:{registry.PORT}"


def port(component: str, use: str) -> int:
    """The port ``component``'s entry gives for ``use``."""
    return BY_NAME[component].ports[use]


def answers(url: str) -> bool:
    """A health endpoint on loopback answers (its certificate is self-signed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        return requests.get(url, timeout=2, verify=False).ok


def api_ready(layout: Layout, server: str) -> bool:
    """The API server's /readyz with the admin's certificate (anonymous requests are refused).
    ``verify`` is given per request: requests lets REQUESTS_CA_BUNDLE override a session's."""
    return requests.get(f"{server}/readyz", timeout=5, verify=str(layout.pki / "ca.crt"),
                        cert=(str(layout.pki / "admin.crt"), str(layout.pki / "admin.key"))).ok


def _scraped_kube_state_metrics() -> bool:
    """Prometheus's latest scrape of kube-state-metrics succeeded: the third clock runs."""
    body = requests.get(f"{prometheus_url()}/api/v1/query", params={"query": f'up{{job="{KSM_JOB}"}}'},
                        timeout=2).json()
    return any(sample["value"][1] == "1" for sample in body["data"]["result"])


def _kubeconfig_flags(node: Node, name: str) -> list[str]:
    path = node.layout.conf / f"{name}.kubeconfig"
    return [f"--kubeconfig={path}", f"--authentication-kubeconfig={path}", f"--authorization-kubeconfig={path}"]


def prometheus_url() -> str:
    return f"http://127.0.0.1:{port('prometheus', 'web')}"


def _etcd(node: Node) -> list[str]:
    p = node.layout.pki
    client, peer, metrics = (port("etcd", use) for use in ("client", "peer", "metrics"))
    return [str(node.binaries["etcd"]), "--name", "mlopsbench", "--data-dir", str(node.layout.var / "etcd"),
            f"--listen-client-urls=https://127.0.0.1:{client}", f"--advertise-client-urls=https://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=mlopsbench=http://127.0.0.1:{peer}", "--initial-cluster-state=new",
            f"--listen-metrics-urls=http://127.0.0.1:{metrics}",
            f"--cert-file={p / 'etcd-server.crt'}", f"--key-file={p / 'etcd-server.key'}", "--client-cert-auth",
            f"--trusted-ca-file={p / 'etcd-ca.crt'}", "--quota-backend-bytes=2147483648", "--log-level=warn"]


def _apiserver(node: Node) -> list[str]:
    p, network = node.layout.pki, node.network
    return [
        str(node.binaries["kube-apiserver"]), f"--advertise-address={network.node_ip}", "--bind-address=0.0.0.0",
        f"--secure-port={port('kube-apiserver', 'secure')}", f"--etcd-servers=https://127.0.0.1:{port('etcd', 'client')}",
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
        f"--proxy-client-key-file={p / 'front-proxy-client.key'}", "--profiling=false", "--v=1"]


def _controller_manager(node: Node) -> list[str]:
    p, network = node.layout.pki, node.network
    return [
        str(node.binaries["kube-controller-manager"]), *_kubeconfig_flags(node, "kube-controller-manager"),
        "--bind-address=127.0.0.1", f"--secure-port={port('kube-controller-manager', 'secure')}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--root-ca-file={p / 'ca.crt'}", f"--service-account-private-key-file={p / 'service-account.key'}",
        "--use-service-account-credentials=true", f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}", f"--service-cluster-ip-range={network.service_cidr}",
        f"--cluster-cidr={network.cluster_cidr}", "--allocate-node-cidrs=false", "--leader-elect=false",
        f"--flex-volume-plugin-dir={node.layout.var / 'flexvolume'}", "--profiling=false", "--v=1"]


def _kubelet(node: Node) -> list[str]:
    layout, c = node.layout, node.layout.conf
    return [str(node.binaries["kubelet"]), f"--config={c / 'kubelet-config.yaml'}",
            f"--kubeconfig={c / 'kubelet.kubeconfig'}", f"--root-dir={layout.var / 'kubelet'}",
            f"--cert-dir={layout.var / 'kubelet' / 'pki'}", f"--hostname-override={node.place.name}",
            f"--node-ip={node.place.address}", "--v=1"]


def _containerd_files(node: Node) -> Path:
    """containerd's configuration, and the CNI configuration its CRI plugin reads."""
    cni_config(node.layout, node.place.pod_cidr)
    return containerd_config(node.layout, images.PAUSE_IMAGE, registry_address(node.network))


def _import_images(node: Node) -> None:
    for name, (layers, config) in node.images.items():
        images.ensure_imported(node.layout, name, layers, config)


def _apply_objects(node: Node) -> None:
    apply(admin_api(node.layout), cluster_objects(node.several) + repo_manifests(node.repo, *ACCESS_MANIFESTS) +
          [store_secret(*node.store_credentials)] + repo_manifests(node.repo, STORE_MANIFEST))


def _apiserver_certificates(network: Network, place: Place) -> tuple[Leaf, ...]:
    names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
             "localhost", place.name)
    return (Leaf("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client"),
            Leaf("apiserver", "ca", "kube-apiserver", server=True, client=False, dns=names,
                 ips=("127.0.0.1", network.node_ip, network.api_service_ip)),
            Leaf("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client"),
            Leaf("front-proxy-client", "front-proxy-ca", "front-proxy-client"))


def _kubelet_certificates(network: Network, place: Place) -> tuple[Leaf, ...]:
    user = f"system:node:{place.name}"   # the Node authorizer's and NodeRestriction's identity of the node
    return (Leaf(f"kubelet-client{place.suffix}", "ca", user, "system:nodes"),
            Leaf(f"kubelet-server{place.suffix}", "ca", user, server=True, client=False,
                 dns=(place.name, "localhost"), ips=tuple(dict.fromkeys((place.address, place.local_ip)))))


def _client(name: str, user: str) -> Callable[[Network, Place], tuple[Leaf, ...]]:
    """A client certificate of its own, named like the daemon (on a further node, and its node),
    for the API user ``user``."""
    return lambda network, place: (Leaf(name + place.suffix, "ca", user),)


COMPONENTS: tuple[Component, ...] = (
    Component("containerd", lambda n: ["/usr/bin/containerd", "--config", str(n.layout.conf / "containerd.toml")],
              lambda n: subprocess.run(n.layout.ctr + ["version"], capture_output=True).returncode == 0,
              config=_containerd_files, then=_import_images, per_node=True),
    Component("etcd", _etcd, lambda n: '"health":"true"' in requests.get(
                  f"http://127.0.0.1:{port('etcd', 'metrics')}/health", timeout=2).text,
              ports={"client": 2379, "peer": 2380, "metrics": 2381}, build=build.KUBERNETES,
              certificates=lambda network, place: (Leaf("etcd-server", "etcd-ca", "etcd-server", server=True,
                                                        dns=("localhost",), ips=("127.0.0.1",)),)),
    Component("kube-apiserver", _apiserver, lambda n: api_ready(n.layout, n.network.server),
              ports={"secure": 6443}, certificates=_apiserver_certificates, signing_keys=("service-account",),
              build=build.KUBERNETES, then=_apply_objects),
    Component("kube-controller-manager", _controller_manager,
              lambda n: answers(f"https://127.0.0.1:{port('kube-controller-manager', 'secure')}/healthz"),
              ports={"secure": 10257}, certificates=_client("kube-controller-manager", "system:kube-controller-manager"),
              kubeconfig="kube-controller-manager", build=build.KUBERNETES),
    Component("kube-scheduler", lambda n: [
                  str(n.binaries["kube-scheduler"]), *_kubeconfig_flags(n, "kube-scheduler"), "--bind-address=127.0.0.1",
                  f"--secure-port={port('kube-scheduler', 'secure')}", "--leader-elect=false", "--profiling=false",
                  "--v=1"],
              lambda n: answers(f"https://127.0.0.1:{port('kube-scheduler', 'secure')}/healthz"),
              ports={"secure": 10259}, certificates=_client("kube-scheduler", "system:kube-scheduler"),
              kubeconfig="kube-scheduler", build=build.KUBERNETES, with_previous=True),
    # Its pod sandboxes go through CRI once it has stopped (nothing starts them again), while
    # containerd still runs: containers, CNI DEL (veths, IPAM, portmap chains), network namespaces.
    Component("kubelet", _kubelet,
              lambda n: answers(f"http://{n.place.local_ip}:{port('kubelet', 'healthz')}/healthz"),
              ports={"api": 10250, "healthz": 10248}, certificates=_kubelet_certificates, kubeconfig="kubelet-client",
              build=build.KUBERNETES, per_node=True,
              config=lambda n: kubelet_config(n.layout, n.place, port("kubelet", "api"), port("kubelet", "healthz")),
              then=lambda n: wait_node(admin_api(n.layout), n.place.name, n.place.spec.labels),
              undo=teardown.remove_pods, with_previous=True),
    Component("kube-proxy", lambda n: [str(n.binaries["kube-proxy"]),
                                       f"--config={n.layout.conf / 'kube-proxy-config.yaml'}", "--v=1"],
              lambda n: answers(f"http://{n.place.local_ip}:{port('kube-proxy', 'healthz')}/healthz"),
              ports={"healthz": 10256, "metrics": 10249}, certificates=_client("kube-proxy", "system:kube-proxy"),
              kubeconfig="kube-proxy", build=build.KUBERNETES, per_node=True,
              config=lambda n: kube_proxy_config(n.layout, n.place, n.network.cluster_cidr, port("kube-proxy", "healthz"),
                                                 port("kube-proxy", "metrics")),
              undo=teardown.kube_proxy_cleanup, with_previous=True),
    # One for the cluster: a claim's volume lies on the node its first pod is placed on.
    Component("provisioner", lambda n: [
                  sys.executable, "-m", "mlopsbench.cluster.provisioner", f"--kubeconfig={n.layout.admin_kubeconfig}",
                  f"--root={n.layout.var / 'volumes'}"], lambda n: True),
    Component("kube-state-metrics", lambda n: [
                  str(n.binaries["kube-state-metrics"]), f"--kubeconfig={n.layout.conf / 'kube-state-metrics.kubeconfig'}",
                  "--host=127.0.0.1", f"--port={port('kube-state-metrics', 'metrics')}", "--telemetry-host=127.0.0.1",
                  f"--telemetry-port={port('kube-state-metrics', 'telemetry')}", "--resources=pods"],
              lambda n: answers(f"http://127.0.0.1:{port('kube-state-metrics', 'metrics')}/healthz"),
              ports={"metrics": 18080, "telemetry": 18081}, certificates=_client("kube-state-metrics", KSM_USER),
              kubeconfig="kube-state-metrics", build=build.KUBE_STATE_METRICS),
    # Ready once it has scraped kube-state-metrics: before that, the third clock misses pods.
    Component("prometheus", lambda n: [
                  shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={n.layout.conf / 'prometheus.yaml'}",
                  f"--storage.tsdb.path={n.layout.var / 'prometheus'}",
                  f"--web.listen-address=127.0.0.1:{port('prometheus', 'web')}", "--storage.tsdb.retention.time=2d",
                  "--log.level=warn"],
              lambda n: _scraped_kube_state_metrics(), ports={"web": 19090},
              config=lambda n: prometheus_config(n.layout, n.scrape_interval_s, KSM_JOB,
                                                 f"127.0.0.1:{port('kube-state-metrics', 'metrics')}")),
    # The images for a cluster reached through its kubeconfig alone: pushed here, pulled by the kubelet.
    Component("registry", lambda n: [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve",
                                     str(n.layout.conf / "registry.yaml")],
              lambda n: answers(f"http://{registry_address(n.network)}/v2/"), ports={"http": registry.PORT},
              config=lambda n: registry_config(n.layout, registry_address(n.network)), with_previous=True),
)
BY_NAME = {component.name: component for component in COMPONENTS}
NAMES = tuple(BY_NAME)
PORTS = tuple(number for component in COMPONENTS for number in component.ports.values())
# What up builds: every daemon's Go module, and crictl, the runner's tool for the runtime's clock.
GO_MODULES = tuple(dict.fromkeys([*(c.build for c in COMPONENTS if c.build), build.CRICTL]))


def waves(places: tuple[Place, ...]) -> list[list[Instance]]:
    """The daemons in start order, those that start together grouped (an entry's instances on
    every node start together)."""
    grouped: list[list[Instance]] = []
    for component in COMPONENTS:
        mine = [i for i in instances(places) if i.component is component]
        if component.with_previous and grouped:
            grouped[-1] += mine
        else:
            grouped.append(mine)
    return grouped
