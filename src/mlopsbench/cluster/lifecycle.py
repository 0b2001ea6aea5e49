"""``cluster up``, ``down`` and ``status``: a real Kubernetes cluster of one or more nodes on this machine.

Up: the binaries and images (built once, cached), the nodes' places (``nodes``: the first is
this machine's network namespace, every further one a namespace of its own), certificates,
then every daemon of ``components.COMPONENTS`` in its order, a node's own daemons once per
node, each with its configuration file, ready check and what follows it (the images imported
once a node's containerd runs, the cluster's objects applied once the API server answers,
each node Ready, untainted and labelled with its role once its kubelet reports); then the
runner's kubeconfig (its namespaced ServiceAccount, not the admin) and the object store.
``cluster.json`` in the state directory then says where everything is, every node included.

Down walks the same table backwards, each daemon stopped and what it leaves removed, then
removes every mount, network interface, iptables chain, conntrack entry, cgroup and sysctl
change the cluster made (``teardown``), and the state directory but its logs. Both need root.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .. import atomic
from ..config import default
from ..errors import InputError
from ..locks import one_at_a_time
from . import build, images, nodes, pki, teardown
from .components import (GO_MODULES, PORTS, Instance, Node, api_ready, instance_names, instances, port,
                         prometheus_url, registry_address, waves)
from .daemons import running, start, stop, wait_until
from .node import Layout, Network, check_ports_free, choose_network
from .nodes import ONE_NODE, NodeSpec, Place
from .objects import (ACCESS_MANIFESTS, NAMESPACE, STORE, STORE_MANIFEST, admin_api, allocatable, apply,
                      node_problems, repo_manifests, wait_store, write_runner_kubeconfig)

# Every sysctl kubelet, kube-proxy (its conntrack settings) and the bridge plugin change; down restores them.
SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "kernel.keys.root_maxkeys",
           "kernel.keys.root_maxbytes", "net.ipv4.ip_forward", "net.ipv4.conf.all.route_localnet",
           "net.bridge.bridge-nf-call-iptables", "net.netfilter.nf_conntrack_max",
           "net.netfilter.nf_conntrack_tcp_timeout_established", "net.netfilter.nf_conntrack_tcp_timeout_close_wait")

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
    node: str                    # the first node's name: the control plane's and the runner's
    prometheus_url: str
    scrape_interval_s: float
    store_service: str
    store_address: str           # host:port of the store's Service, as this machine and pods reach it
    job_image: str
    started: float
    kubelet_variant: str = "stock"   # the kubelet's build: stock Kubernetes, or a measurement variant
    nodes: tuple[dict, ...] = ()     # each node's place and what it offers its pods, as it reported
    registry: str = ""               # host:port of its image registry, as every node reaches it

    @classmethod
    def read(cls, layout: Layout) -> "Cluster | None":
        try:
            return cls(**json.loads(layout.info.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    @property
    def specs(self) -> tuple[NodeSpec, ...]:
        return tuple(NodeSpec(n["name"], n["role"], n["cpu"], n["memory_mib"]) for n in self.nodes) or ONE_NODE

    def edge(self) -> dict | None:
        """The node in the edge role that has a network namespace of its own (None: none has)."""
        return next((n for n in self.nodes if n["role"] == "edge" and n["netns"]), None)


# The cluster's three authorities, as kubeadm has them; every leaf is a daemon's (its entry's) or the admin's.
AUTHORITIES = {"ca": "mlopsbench-kubernetes-ca", "etcd-ca": "mlopsbench-etcd-ca",
               "front-proxy-ca": "mlopsbench-front-proxy-ca"}
ADMIN = pki.Leaf("admin", "ca", "kubernetes-admin", "system:masters")


def _certificates(layout: Layout, network: Network, running_here: list[Instance]) -> None:
    """Every daemon's certificates, signing keys and kubeconfig, as its entry asks, and the admin's."""
    leaves = [ADMIN, *(leaf for i in running_here for leaf in i.component.certificates(network, i.place))]
    pki.make_all(layout.pki, AUTHORITIES, leaves)
    for key in dict.fromkeys(key for i in running_here for key in i.component.signing_keys):
        pki.signing_key(layout.pki, key)
    users = {leaf.name: leaf.common_name for leaf in leaves}
    signing_in = [(layout.admin_kubeconfig, ADMIN.name)]
    signing_in += [(layout.of(i.place).conf / f"{i.component.name}.kubeconfig", i.component.kubeconfig + i.place.suffix)
                   for i in running_here if i.component.kubeconfig]
    for path, cert in signing_in:
        pki.kubeconfig(path, network.server, layout.pki / "ca.crt", users[cert], layout.pki / f"{cert}.crt",
                       layout.pki / f"{cert}.key")


def _record_sysctls(layout: Layout) -> None:
    values = {}
    for key in SYSCTLS:
        result = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True)
        if result.returncode == 0:
            values[key] = result.stdout.strip()
    atomic.write_json(layout.root / "sysctl-before.json", values)
    subprocess.run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], capture_output=True)


def _start_wave(contexts: dict[str, Node], wave: list[Instance], timeout: float = 120.0) -> None:
    started = time.monotonic()
    for instance in wave:
        node = contexts[instance.place.name]
        start(instance.name, instance.argv(node), node.layout.logs, node.layout.pids)
    for instance in wave:
        node = contexts[instance.place.name]
        wait_until(instance.name, lambda: instance.component.ready(node), timeout, node.layout.pids / instance.name,
                   node.layout.logs / f"{instance.name}.log")
    log.info("%s ready in %.1f s", ", ".join(i.name for i in wave), time.monotonic() - started)
    for instance in wave:
        if instance.component.then:
            instance.component.then(contexts[instance.place.name])


def import_image(name: str, layers: list, config: dict, layout: Layout | None = None) -> str:
    """Import an image into every node's containerd of the running cluster, building what the cache
    lacks (an image only some experiments need, like the serving image, is imported when first needed)."""
    layout = layout or Layout.default()
    reference = ""
    for place in _places(layout):
        reference = images.ensure_imported(layout.of(place), name, layers, config)
    return reference


def _places(layout: Layout) -> tuple[Place, ...]:
    """The nodes' places as ``up`` wrote them (one node where none were written: a cluster of an
    earlier version, or none)."""
    try:
        saved = json.loads(layout.nodes.read_text())
    except (OSError, ValueError):
        return nodes.place(ONE_NODE, "", "10.244.0.0/16", None)
    return tuple(Place(NodeSpec(**p["spec"]), p["index"], p["address"], p["pod_cidr"], p["netns"]) for p in saved)


def _changing(layout: Layout):
    """``up`` and ``down`` one at a time on this machine: a second waits for the first, then finds
    the cluster it left (two at once would remove each other's state under running daemons)."""
    return one_at_a_time(layout.root.with_name(f".{layout.root.name}.lock"), "starting or stopping the cluster")


def up(repo: Path, scrape_interval_s: float | None = None, layout: Layout | None = None,
       kubelet_variant: str | None = None, specs: tuple[NodeSpec, ...] = ONE_NODE) -> Cluster:
    """Start the cluster of the nodes ``specs``, or check the running one and bring its images up
    to date. ``scrape_interval_s``: Prometheus's, for kube-state-metrics; ``kubelet_variant``:
    stock, or a measurement variant of ``build.KUBELET_VARIANTS`` (both by default the configuration's)."""
    layout = layout or Layout.default()
    with _changing(layout):
        return _up(repo, scrape_interval_s, layout, kubelet_variant, specs)


def _up(repo: Path, scrape_interval_s: float | None, layout: Layout, kubelet_variant: str | None,
        specs: tuple[NodeSpec, ...]) -> Cluster:
    scrape_interval_s = scrape_interval_s or default("kubernetes.scrape_interval_s")
    kubelet_variant = kubelet_variant or default("kubernetes.kubelet_variant")
    nodes.check(specs)
    if os.geteuid() != 0:
        raise ClusterError("the local cluster needs root (containerd, network namespaces, mounts, iptables)")
    current = status(layout)
    if current is not None and (current.kubelet_variant, current.specs) != (kubelet_variant, specs):
        raise ClusterError(f"the running cluster (kubelet {current.kubelet_variant}; nodes "
                           f"{', '.join(s.argument() for s in current.specs)}) is not the one asked for (kubelet "
                           f"{kubelet_variant}; nodes {', '.join(s.argument() for s in specs)}): "
                           f"`mlopsbench cluster down` first")
    if current is not None:
        log.info("cluster already up (API %s); bringing its images and manifests up to date", current.server)
        import_image(images.JOB_IMAGE, images.job_layers(repo), images.JOB_CONFIG, layout)
        apply(admin_api(layout), repo_manifests(repo, *ACCESS_MANIFESTS, STORE_MANIFEST))
        return current
    left = _places(layout)
    if any(running(layout.pids / name) for name in instance_names(left)) or layout.run.exists():
        log.warning("a cluster that did not stop cleanly is left over: removing it first")
        _down(layout)
    check_ports_free(PORTS)
    started = time.monotonic()
    # The variant's kubelet, built last, stands in for the stock one (the same module for stock).
    binaries = build.ensure_binaries(dict.fromkeys((*GO_MODULES, build.kubelet_module(kubelet_variant))))
    # The images are built (or found in the cache) before anything starts.
    node_images = {images.PAUSE_IMAGE: (images.pause_layers(), images.PAUSE_CONFIG),
                   images.JOB_IMAGE: (images.job_layers(repo), images.JOB_CONFIG)}
    network = choose_network(port("kube-apiserver", "secure"), several_nodes=len(specs) > 1)
    places = nodes.place(specs, network.node_ip, network.cluster_cidr, network.nodes_cidr)
    for folder in (layout.pki, layout.conf, layout.var, layout.run, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(layout.root / "network.json", network.__dict__)
    atomic.write_json(layout.nodes, [{"spec": p.spec.__dict__, "index": p.index, "address": p.address,
                                      "pod_cidr": p.pod_cidr, "netns": p.netns} for p in places])
    atomic.write_json(layout.root / "binaries.json", {name: str(path) for name, path in binaries.items()})
    (layout.var / "etcd").mkdir(mode=0o700, exist_ok=True)
    running_here = instances(places)
    _certificates(layout, network, running_here)
    access, secret = f"MLB{secrets.token_hex(8).upper()}", secrets.token_urlsafe(24)
    contexts = {p.name: Node(layout.of(p), network, p, len(places) > 1, binaries, scrape_interval_s, repo,
                             node_images, (access, secret)) for p in places}
    _record_sysctls(layout)
    try:
        nodes.join(places, network.nodes_cidr)
        for instance in running_here:
            if instance.component.config:
                instance.component.config(contexts[instance.place.name])
        for wave in waves(places):
            _start_wave(contexts, wave)
        api = admin_api(layout)
        write_runner_kubeconfig(layout, api, network)
        store_address = wait_store(api)
        offered = [p.record() | {"allocatable": allocatable(api, p.name)} for p in places]
    except BaseException:
        log.error("cluster up failed; removing what was started (logs stay in %s)", layout.logs)
        _down(layout)
        raise
    cluster = Cluster(server=network.server, admin_kubeconfig=str(layout.admin_kubeconfig),
                      runner_kubeconfig=str(layout.runner_kubeconfig), namespace=NAMESPACE, node=places[0].name,
                      prometheus_url=prometheus_url(), scrape_interval_s=scrape_interval_s,
                      store_service=STORE,
                      store_address=store_address, job_image=images.JOB_IMAGE, started=time.time(),
                      kubelet_variant=kubelet_variant, nodes=tuple(offered), registry=registry_address(network))
    atomic.write_private(layout.conf / "store-credentials.json", json.dumps({"access_key": access, "secret_key": secret}))
    atomic.write_json(layout.info, cluster.__dict__)  # last: the cluster counts as up from here
    log.info("cluster up in %.1f s: API %s, %d node(s) (%s), admin kubeconfig %s", time.monotonic() - started,
             network.server, len(places), ", ".join(f"{p['name']} {p['role']} {p['allocatable']}" for p in offered),
             layout.admin_kubeconfig)
    return cluster


def status(layout: Layout | None = None) -> Cluster | None:
    """The running cluster, if every daemon on every node runs and the API server answers; else None."""
    layout = layout or Layout.default()
    cluster = Cluster.read(layout)
    if cluster is None or not all(running(layout.pids / name) for name in instance_names(_places(layout))):
        return None
    try:
        return cluster if api_ready(layout, cluster.server) else None
    except requests.RequestException:
        return None


def daemons(layout: Layout | None = None) -> list[Instance]:
    """Every daemon of the cluster ``up`` started, on its node, in start order."""
    return instances(_places(layout or Layout.default()))


def problems(layout: Layout | None = None) -> list[str]:
    """What is wrong with a cluster that is not up: the daemons that stopped (and on which node), an
    API server that does not answer, a node that is not Ready. Empty when none was started (it is
    simply down)."""
    layout = layout or Layout.default()
    cluster = Cluster.read(layout)
    if cluster is None:
        return []
    places = _places(layout)
    found = [f"{i.component.name} is not running on node {i.place.name}" for i in instances(places)
             if not running(layout.pids / i.name)]
    try:
        answering = api_ready(layout, cluster.server)
    except requests.RequestException as exc:
        answering, why = False, f"{type(exc).__name__}"
    else:
        why = "not ready"
    if not answering:
        return found + [f"the API server {cluster.server} does not answer ({why})"]
    return found + node_problems(admin_api(layout), [p.name for p in places])


def down(layout: Layout | None = None) -> None:
    """Stop the cluster, every node of it, and remove every trace of it but its logs."""
    layout = layout or Layout.default()
    with _changing(layout):
        _down(layout)


def _down(layout: Layout) -> None:
    started = time.monotonic()
    places = _places(layout)
    for instance in reversed(instances(places)):
        stop(instance.name, layout.pids)
        if instance.component.undo:
            instance.component.undo(layout.of(instance.place))
    teardown.after_daemons(layout, places)
    for name in os.listdir(layout.root) if layout.root.exists() else []:
        if name != "logs":
            shutil.rmtree(layout.root / name, ignore_errors=True) if (layout.root / name).is_dir() \
                else (layout.root / name).unlink()
    log.info("cluster down in %.1f s", time.monotonic() - started)


def leftovers(layout: Layout | None = None) -> list[str]:
    """What of a cluster is still on this machine (empty once it is down)."""
    layout = layout or Layout.default()
    places = _places(layout)
    return teardown.leftovers(layout, places, instance_names(places))
