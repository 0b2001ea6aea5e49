"""The cluster's layout on disk, its address ranges, and each node's configuration files.

Where the cluster keeps things, all outside the work tree: the cache
(``$MLOPSBENCH_CACHE``, default ``~/.cache/mlopsbench``) holds binaries, image layers and
containerd's image store, kept across ``down`` and ``up``; the state
(``$MLOPSBENCH_CLUSTER_STATE``, default ``~/.local/state/mlopsbench/cluster``) holds the
certificates, kubeconfigs, configuration, etcd's data, logs and process ids of one running
cluster, removed by ``down`` (its logs are kept).

Every daemon gets private paths under the state directory (containerd's image store
under the cache, so images survive ``down``), its own CNI configuration directory, and
an explicit node address: for the first node, the address of the interface the default
route leaves by, as this machine's host name resolves to 127.0.0.1 (further nodes: see
``nodes``). A further node's paths lie below ``nodes/<name>`` and its image store is its
own. The pod, service and node ranges are the first candidates that no address or route
of this machine overlaps.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import InputError
from .nodes import NODE_RANGES, Place

BRIDGE = "mlbcni0"   # the pods' bridge, in each node's namespace
POD_RANGES = ("10.244.0.0/16", "10.245.0.0/16", "172.30.0.0/16")
SERVICE_RANGES = ("10.96.0.0/16", "10.97.0.0/16", "172.31.0.0/16")


class NodeError(InputError):
    pass


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlopsbench"
    path = Path(os.environ.get("MLOPSBENCH_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "mlopsbench" / "cluster"
    return Path(os.environ.get("MLOPSBENCH_CLUSTER_STATE", default))


@dataclass(frozen=True)
class Layout:
    """The paths of one cluster's state (``root``) and of containerd's image store (in the cache);
    with ``node``, the paths of that further node's own daemons (certificates, logs and process ids
    stay the cluster's)."""

    root: Path
    node: str | None = None

    @classmethod
    def default(cls) -> "Layout":
        return cls(state_dir())

    def of(self, place: Place) -> "Layout":
        """The layout of ``place``'s daemons (the first node's is the cluster's own)."""
        return Layout(self.root, place.name if place.netns else None)

    @property
    def _own(self) -> Path:
        return self.root if self.node is None else self.root / "nodes" / self.node

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def conf(self) -> Path:
        return self._own / "conf"

    @property
    def cni(self) -> Path:
        return self._own / "cni"

    @property
    def var(self) -> Path:
        return self._own / "var"

    @property
    def run(self) -> Path:
        return self._own / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids"

    @property
    def netns(self) -> str | None:
        return None if self.node is None else f"/run/netns/mlb-{self.node}"

    @property
    def containerd_root(self) -> Path:
        return cache_dir() / ("containerd" if self.node is None else f"containerd-{self.node}")

    @property
    def socket(self) -> Path:
        return self.run / "containerd" / "containerd.sock"

    @property
    def ctr(self) -> list[str]:
        """``ctr`` on this node's containerd, in the namespace the kubelet uses."""
        return ["ctr", "--address", str(self.socket), "-n", "k8s.io"]

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "conf" / "admin.kubeconfig"

    @property
    def runner_kubeconfig(self) -> Path:
        return self.root / "conf" / "runner.kubeconfig"

    @property
    def info(self) -> Path:
        return self.root / "cluster.json"

    @property
    def nodes(self) -> Path:
        """The nodes' places, written before anything starts, so that ``down`` finds every one."""
        return self.root / "nodes.json"


@dataclass(frozen=True)
class Network:
    node_ip: str         # the first node's: the API server's address
    cluster_cidr: str    # all pods (a /24 of it per node)
    service_cidr: str
    api_port: int        # the API server's (its component entry's)
    nodes_cidr: str | None = None   # the bridge the further nodes join (none with one node)

    @property
    def api_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    @property
    def server(self) -> str:
        return f"https://{self.node_ip}:{self.api_port}"

    @staticmethod
    def pod_gateway(pod_cidr: str) -> str:
        return str(next(ipaddress.ip_network(pod_cidr).hosts()))


def _machine_networks() -> list[ipaddress.IPv4Network]:
    found = []
    for command in (["ip", "-j", "-4", "addr"], ["ip", "-j", "-4", "route"]):
        for item in json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout or "[]"):
            for info in item.get("addr_info", []):
                found.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False))
            if item.get("dst", "default") != "default":
                found.append(ipaddress.ip_network(item["dst"] if "/" in item["dst"] else f"{item['dst']}/32",
                                                  strict=False))
    return found


def _node_ip() -> str:
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "get", "192.0.2.255"], capture_output=True,
                                       text=True).stdout or "[]")
    if not routes or "prefsrc" not in routes[0]:
        raise NodeError("no default route: the node needs an address of a real interface "
                        "(the host name resolves to 127.0.0.1 here)")
    return routes[0]["prefsrc"]


def check_ports_free(ports: tuple[int, ...]) -> None:
    """Refuse to start when a port is taken: a stray daemon's answer would pass for the new one's
    readiness while the new one exits with "address already in use"."""
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    holders = {}
    for line in listening.splitlines():
        fields = line.split()
        holders.setdefault(int(fields[3].rsplit(":", 1)[1]), " ".join(fields[5:]) or "unknown process")
    busy = [f"{port} ({holders[port]})" for port in ports if port in holders]
    if busy:
        raise NodeError(f"TCP ports the cluster needs are in use: {', '.join(busy)}; stop what holds them "
                        f"(a cluster left from an earlier run? `mlopsbench cluster down`)")


def choose_network(api_port: int, several_nodes: bool = False) -> Network:
    taken = [n for n in _machine_networks() if not n.is_loopback]

    def free(candidates: tuple[str, ...], what: str) -> str:
        for candidate in candidates:
            network = ipaddress.ip_network(candidate)
            if not any(network.overlaps(other) for other in taken):
                return candidate
        raise NodeError(f"every candidate {what} range ({', '.join(candidates)}) overlaps an address or route "
                        f"of this machine")

    cluster = free(POD_RANGES, "pod")
    return Network(node_ip=_node_ip(), cluster_cidr=cluster, service_cidr=free(SERVICE_RANGES, "service"),
                   api_port=api_port,
                   nodes_cidr=free(NODE_RANGES, "node") if several_nodes else None)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def containerd_config(layout: Layout, pause_image: str, registry: str) -> Path:
    """containerd's configuration; it pulls from ``registry`` (host:port, the cluster's own) over
    plain HTTP, as a kubelet of a cluster reached by its kubeconfig alone pulls the images."""
    hosts = f'''server = "http://{registry}"

[host."http://{registry}"]
  capabilities = ["pull", "resolve"]
'''
    _write(layout.conf / "registries" / registry / "hosts.toml", hosts)
    # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so a negative oom_score_adj
    # (which kubelet asks for) would fail every sandbox.
    text = f'''version = 2
root = "{layout.containerd_root}"
state = "{layout.run / 'containerd'}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "{layout.socket}"

[ttrpc]
  address = ""

[debug]
  address = ""
  level = "info"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{layout.var / 'containerd-opt'}"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause_image}"
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_selinux = false
    disable_apparmor = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "/usr/sbin/runc"
          Root = "{layout.run / 'runc'}"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{layout.cni}"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "{layout.conf / 'registries'}"
'''
    return _write(layout.conf / "containerd.toml", text)


def registry_config(layout: Layout, address: str, storage: Path | None = None) -> Path:
    """Debian's docker-registry (the distribution API's reference implementation) at ``address``;
    its blobs in ``storage``, by default the cache, so an image pushed once is not pushed again by
    the next cluster."""
    config = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
              "storage": {"filesystem": {"rootdirectory": str(storage or cache_dir() / "registry")}},
              "http": {"addr": address}}
    return _write(layout.conf / "registry.yaml", yaml.safe_dump(config, sort_keys=False))


def cni_config(layout: Layout, pod_cidr: str) -> Path:
    # No masquerading: pods never reach past this machine; kube-proxy masquerades what needs it.
    conflist = {"cniVersion": "1.0.0", "name": "mlopsbench-pods", "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr, "gateway": Network.pod_gateway(pod_cidr)}]],
                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(layout.var / "cni" / "networks")}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}]}
    return _write(layout.cni / "10-mlopsbench.conflist", json.dumps(conflist, indent=2))


def kubelet_config(layout: Layout, place: Place, port: int, healthz_port: int) -> Path:
    server = f"kubelet-server{place.suffix}"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "containerRuntimeEndpoint": f"unix://{layout.socket}", "cgroupDriver": "cgroupfs", "cgroupsPerQOS": True,
        # A kubelet removes the pod cgroups it does not know below its root: one root per node.
        "cgroupRoot": place.cgroup_root, "failSwapOn": False,
        "address": "0.0.0.0", "port": port, "readOnlyPort": 0, "healthzBindAddress": place.local_ip,
        "healthzPort": healthz_port, "tlsCertFile": str(layout.pki / f"{server}.crt"),
        "tlsPrivateKeyFile": str(layout.pki / f"{server}.key"), "rotateCertificates": False,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(layout.pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "podLogsDir": str(layout.var / "log" / "pods"), "clusterDomain": "cluster.local", "clusterDNS": [],
        "resolvConf": "", "registerNode": True, "volumePluginDir": str(layout.var / "kubelet-plugins"),
        # This machine: no CAP_SYS_RESOURCE (no negative oom_score_adj), nofile hard limit 20000.
        "oomScoreAdj": 0, "maxOpenFiles": 20000, "protectKernelDefaults": False,
        # Every node shares this machine's disk with everything else on it: a share of that disk says
        # nothing about a node, so no eviction or image removal for disk (as kind's nodes have it);
        # ``images.check_room`` refuses an import that would not fit instead.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "0%", "nodefs.inodesFree": "0%",
                         "imagefs.available": "0%"},
        "imageGCHighThresholdPercent": 100,
    }
    reserved = _reserved(place)
    if reserved:   # every node sees the whole machine: what it does not offer is reserved
        config["systemReserved"] = reserved
    return _write(layout.conf / "kubelet-config.yaml", yaml.safe_dump(config, sort_keys=False))


def _reserved(place: Place) -> dict[str, str]:
    reserved = {}
    if place.spec.cpu is not None:
        spare = os.cpu_count() - place.spec.cpu
        if spare < 0:
            raise NodeError(f"node {place.name} asks for {place.spec.cpu:g} cores; this machine has {os.cpu_count()}")
        reserved["cpu"] = f"{round(spare * 1000)}m"
    if place.spec.memory_mib is not None:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        if place.spec.memory_mib > total:
            raise NodeError(f"node {place.name} asks for {place.spec.memory_mib} MiB; this machine has {total}")
        reserved["memory"] = f"{total - place.spec.memory_mib}Mi"
    return reserved


def kube_proxy_config(layout: Layout, place: Place, cluster_cidr: str, healthz_port: int, metrics_port: int) -> Path:
    config = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
              "clientConnection": {"kubeconfig": str(layout.conf / "kube-proxy.kubeconfig")},
              "hostnameOverride": place.name, "mode": "iptables", "clusterCIDR": cluster_cidr,
              "bindAddress": "0.0.0.0", "healthzBindAddress": f"{place.local_ip}:{healthz_port}",
              "metricsBindAddress": f"{place.local_ip}:{metrics_port}",
              "iptables": {"masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
              # The conntrack table is the machine's, not a node's: no kube-proxy sizes it.
              "conntrack": {"maxPerCore": 0}, "nodePortAddresses": ["primary"]}
    return _write(layout.conf / "kube-proxy-config.yaml", yaml.safe_dump(config, sort_keys=False))


def prometheus_config(layout: Layout, scrape_interval_s: float, job: str, target: str) -> Path:
    """Prometheus scraping one ``job`` at ``target`` (host:port) every ``scrape_interval_s``."""
    config = {"global": {"scrape_interval": f"{scrape_interval_s:g}s", "evaluation_interval": "15s"},
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}]}
    return _write(layout.conf / "prometheus.yaml", yaml.safe_dump(config, sort_keys=False))
