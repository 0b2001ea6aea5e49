"""``cluster up``, ``down`` and ``status``: a real single-node Kubernetes cluster on this machine.

Up: the binaries and images (built once, cached), certificates, then every daemon of
``components.COMPONENTS`` in its order, each with its configuration file, ready check and
what follows it (the images imported once containerd runs, the cluster's objects applied
once the API server answers, the node Ready, untainted and labelled once the kubelet
reports); then the runner's kubeconfig (its namespaced ServiceAccount, not the admin) and
the object store. ``cluster.json`` in the state directory then says where everything is.

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
from . import build, images, pki, teardown
from .components import (COMPONENTS, GO_MODULES, NAMES, PORTS, Component, Node, api_ready, ctr, port, prometheus_url,
                         waves)
from .daemons import running, start, stop, wait_until
from .node import NODE_NAME, Layout, Network, check_ports_free, choose_network
from .objects import (ACCESS_MANIFESTS, NAMESPACE, STORE, STORE_MANIFEST, admin_api, apply, node_problem,
                      repo_manifests, wait_store, write_runner_kubeconfig)

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
    node: str
    prometheus_url: str
    scrape_interval_s: float
    store_service: str
    store_address: str           # host:port of the store's Service, as this machine and pods reach it
    job_image: str
    started: float
    kubelet_variant: str = "stock"   # the kubelet's build: stock Kubernetes, or a measurement variant

    @classmethod
    def read(cls, layout: Layout) -> "Cluster | None":
        try:
            return cls(**json.loads(layout.info.read_text()))
        except (OSError, ValueError, TypeError):
            return None


# The cluster's three authorities, as kubeadm has them; every leaf is a daemon's (its entry's) or the admin's.
AUTHORITIES = {"ca": "mlopsbench-kubernetes-ca", "etcd-ca": "mlopsbench-etcd-ca",
               "front-proxy-ca": "mlopsbench-front-proxy-ca"}
ADMIN = pki.Leaf("admin", "ca", "kubernetes-admin", "system:masters")


def _certificates(layout: Layout, network: Network) -> None:
    """Every daemon's certificates, signing keys and kubeconfig, as its entry asks, and the admin's."""
    leaves = [ADMIN, *(leaf for component in COMPONENTS for leaf in component.certificates(network))]
    pki.make_all(layout.pki, AUTHORITIES, leaves)
    for key in dict.fromkeys(key for component in COMPONENTS for key in component.signing_keys):
        pki.signing_key(layout.pki, key)
    users = {leaf.name: leaf.common_name for leaf in leaves}
    signing_in = [("admin", ADMIN.name), *((c.name, c.kubeconfig) for c in COMPONENTS if c.kubeconfig)]
    for name, cert in signing_in:
        pki.kubeconfig(layout.conf / f"{name}.kubeconfig", network.server, layout.pki / "ca.crt", users[cert],
                       layout.pki / f"{cert}.crt", layout.pki / f"{cert}.key")


def _record_sysctls(layout: Layout) -> None:
    values = {}
    for key in SYSCTLS:
        result = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True)
        if result.returncode == 0:
            values[key] = result.stdout.strip()
    atomic.write_json(layout.root / "sysctl-before.json", values)
    subprocess.run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], capture_output=True)


def _start_wave(node: Node, wave: list[Component], timeout: float = 120.0) -> None:
    layout, started = node.layout, time.monotonic()
    for component in wave:
        start(component.name, component.argv(node), layout.logs, layout.pids)
    for component in wave:
        wait_until(component.name, lambda: component.ready(node), timeout, layout.pids / component.name,
                   layout.logs / f"{component.name}.log")
    log.info("%s ready in %.1f s", ", ".join(c.name for c in wave), time.monotonic() - started)
    for component in wave:
        if component.then:
            component.then(node)


def import_image(name: str, layers: list, config: dict, layout: Layout | None = None) -> str:
    """Import an image into the running cluster's containerd, building what the cache lacks (an image
    only some experiments need, like the serving image, is imported when first needed)."""
    return images.ensure_imported(ctr(layout or Layout.default()), name, layers, config)


def up(repo: Path, scrape_interval_s: float | None = None, layout: Layout | None = None,
       kubelet_variant: str | None = None) -> Cluster:
    """Start the cluster, or check the running one and bring its images up to date.
    ``scrape_interval_s``: Prometheus's, for kube-state-metrics; ``kubelet_variant``: stock, or a
    measurement variant of ``build.KUBELET_VARIANTS`` (both by default the configuration's)."""
    layout = layout or Layout.default()
    scrape_interval_s = scrape_interval_s or default("kubernetes.scrape_interval_s")
    kubelet_variant = kubelet_variant or default("kubernetes.kubelet_variant")
    if os.geteuid() != 0:
        raise ClusterError("the local cluster needs root (containerd, network namespaces, mounts, iptables)")
    current = status(layout)
    if current is not None and current.kubelet_variant != kubelet_variant:
        raise ClusterError(f"the running cluster's kubelet is {current.kubelet_variant}, not {kubelet_variant}: "
                           f"`mlopsbench cluster down` first")
    if current is not None:
        log.info("cluster already up (API %s); bringing its images and manifests up to date", current.server)
        import_image(images.JOB_IMAGE, images.job_layers(repo), images.JOB_CONFIG, layout)
        apply(admin_api(layout), repo_manifests(repo, *ACCESS_MANIFESTS, STORE_MANIFEST))
        return current
    if any(running(layout.pids / name) for name in NAMES) or layout.run.exists():
        log.warning("a cluster that did not stop cleanly is left over: removing it first")
        down(layout)
    check_ports_free(PORTS)
    started = time.monotonic()
    # The variant's kubelet, built last, stands in for the stock one (the same module for stock).
    binaries = build.ensure_binaries(dict.fromkeys((*GO_MODULES, build.kubelet_module(kubelet_variant))))
    # The images are built (or found in the cache) before anything starts.
    node_images = {images.PAUSE_IMAGE: (images.pause_layers(), images.PAUSE_CONFIG),
                   images.JOB_IMAGE: (images.job_layers(repo), images.JOB_CONFIG)}
    network = choose_network(port("kube-apiserver", "secure"))
    for folder in (layout.pki, layout.conf, layout.var, layout.run, layout.logs):
        folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(layout.root / "network.json", network.__dict__)
    atomic.write_json(layout.root / "binaries.json", {name: str(path) for name, path in binaries.items()})
    (layout.var / "etcd").mkdir(mode=0o700, exist_ok=True)
    _certificates(layout, network)
    access, secret = f"MLB{secrets.token_hex(8).upper()}", secrets.token_urlsafe(24)
    node = Node(layout, network, binaries, scrape_interval_s, repo, node_images, (access, secret))
    for component in COMPONENTS:
        if component.config:
            component.config(node)
    _record_sysctls(layout)
    try:
        for wave in waves():
            _start_wave(node, wave)
        api = admin_api(layout)
        write_runner_kubeconfig(layout, api, network)
        store_address = wait_store(api)
    except BaseException:
        log.error("cluster up failed; removing what was started (logs stay in %s)", layout.logs)
        down(layout)
        raise
    cluster = Cluster(server=network.server, admin_kubeconfig=str(layout.admin_kubeconfig),
                      runner_kubeconfig=str(layout.runner_kubeconfig), namespace=NAMESPACE, node=NODE_NAME,
                      prometheus_url=prometheus_url(), scrape_interval_s=scrape_interval_s,
                      store_service=STORE,
                      store_address=store_address, job_image=images.JOB_IMAGE, started=time.time(),
                      kubelet_variant=kubelet_variant)
    atomic.write_private(layout.conf / "store-credentials.json", json.dumps({"access_key": access, "secret_key": secret}))
    atomic.write_json(layout.info, cluster.__dict__)  # last: the cluster counts as up from here
    log.info("cluster up in %.1f s: API %s, admin kubeconfig %s", time.monotonic() - started, network.server,
             layout.admin_kubeconfig)
    return cluster


def status(layout: Layout | None = None) -> Cluster | None:
    """The running cluster, if every daemon runs and the API server answers; else None."""
    layout = layout or Layout.default()
    cluster = Cluster.read(layout)
    if cluster is None or not all(running(layout.pids / name) for name in NAMES):
        return None
    try:
        return cluster if api_ready(layout, cluster.server) else None
    except requests.RequestException:
        return None


def problems(layout: Layout | None = None) -> list[str]:
    """What is wrong with a cluster that is not up: the daemons that stopped, an API server that
    does not answer, a node that is not Ready. Empty when none was started (it is simply down)."""
    layout = layout or Layout.default()
    cluster = Cluster.read(layout)
    if cluster is None:
        return []
    found = [f"{name} is not running on node {NODE_NAME}" for name in NAMES if not running(layout.pids / name)]
    try:
        answering = api_ready(layout, cluster.server)
    except requests.RequestException as exc:
        answering, why = False, f"{type(exc).__name__}"
    else:
        why = "not ready"
    if not answering:
        return found + [f"the API server {cluster.server} does not answer ({why})"]
    problem = node_problem(admin_api(layout))
    return found + ([problem] if problem else [])


def down(layout: Layout | None = None) -> None:
    """Stop the cluster and remove every trace of it but its logs."""
    layout = layout or Layout.default()
    started = time.monotonic()
    for component in reversed(COMPONENTS):
        stop(component.name, layout.pids)
        if component.undo:
            component.undo(layout)
    teardown.after_daemons(layout)
    for name in os.listdir(layout.root) if layout.root.exists() else []:
        if name != "logs":
            shutil.rmtree(layout.root / name, ignore_errors=True) if (layout.root / name).is_dir() \
                else (layout.root / name).unlink()
    log.info("cluster down in %.1f s", time.monotonic() - started)


def leftovers(layout: Layout | None = None) -> list[str]:
    """What of a cluster is still on this machine (empty once it is down)."""
    return teardown.leftovers(layout or Layout.default(), NAMES)

