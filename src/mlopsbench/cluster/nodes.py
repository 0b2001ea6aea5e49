"""The cluster's nodes: their roles and sizes, and where each lives on this machine.

The first node is this machine's own network namespace: the control plane, the runner, Prometheus
and the host's uploads share it, as the thesis's core VM held its master's neighbours. Every
further node gets a network namespace of its own (``mlb-<name>``), joined to this machine over a
bridge (``mlbnodes0``), and its own containerd, kubelet and kube-proxy, its own cgroup root and
pod range. Traffic between nodes goes through this machine: each further node's pod range is
routed to its address, and its own default route leads back here, so everything that talks to
an edge node crosses that node's one interface, where its latency is added.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..config import with_defaults
from ..errors import InputError

NODE_NAME = "mlopsbench-node"
EDGE_LABEL = "iot.mlopsbench.io/edge"
# The thesis's labels (Section 4.2): iot=core and iot=edge. A node that plays both roles cannot carry
# iot=edge too, so the edge role has a label of its own, which every edge workload selects.
ROLES = {"core": {"iot": "core"}, "edge": {"iot": "edge", EDGE_LABEL: "true"},
         "core+edge": {"iot": "core", EDGE_LABEL: "true"}}
NODES_BRIDGE = "mlbnodes0"
NODE_RANGES = ("10.250.0.0/24", "172.28.0.0/24", "192.168.250.0/24")
CGROUP = Path("/sys/fs/cgroup")
_MEMORY = re.compile(r"^(\d+)(Mi|Gi)$")


class NodesError(InputError):
    pass


@dataclass(frozen=True)
class NodeSpec:
    """A node as a configuration describes it: its name, its role, and what it offers its pods
    (None: the whole machine)."""

    name: str
    role: str
    cpu: float | None = None
    memory_mib: int | None = None

    @property
    def labels(self) -> dict[str, str]:
        return ROLES[self.role]

    @classmethod
    def parse(cls, text: str) -> "NodeSpec":
        """``NAME:ROLE[:CPU[:MEMORY]]``, e.g. ``mlopsbench-edge:edge:1:2Gi``."""
        name, _, rest = text.partition(":")
        role, cpu, memory = (rest.split(":") + [None, None])[:3]
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?", name) or role not in ROLES:
            raise NodesError(f"node {text!r}: expected NAME:ROLE[:CPU[:MEMORY]], a lower-case DNS name and a "
                             f"role of {', '.join(ROLES)}")
        return cls(name, role, float(cpu) if cpu else None, memory_mib(memory, f"node {name}") if memory else None)

    def argument(self) -> str:
        """The ``--node`` value ``parse`` reads back."""
        size = [f"{self.cpu:g}" if self.cpu else "", f"{self.memory_mib}Mi" if self.memory_mib else ""]
        return ":".join([self.name, self.role, *size]).rstrip(":")


def memory_mib(text: str, where: str) -> int:
    found = _MEMORY.match(text)
    if not found:
        raise NodesError(f"{where}: memory {text!r} is not a size like 512Mi or 2Gi")
    return int(found[1]) * (1024 if found[2] == "Gi" else 1)


ONE_NODE = (NodeSpec(NODE_NAME, "core+edge"),)
# The thesis's topology (Section 4.2) at this machine's scale: the core node with the control plane,
# and an edge node half the machine's cores, as the thesis's edge VM had half its benchmarking
# host's (4 of 8 vCPUs), and that VM's 8 GB.
CORE_EDGE = (NodeSpec("mlopsbench-core", "core"), NodeSpec("mlopsbench-edge", "edge", 1.0, 8192))


def specs_from_section(section: dict) -> tuple[NodeSpec, ...]:
    """The nodes of a loaded ``kubernetes`` section (``nodes``; one node playing both roles by default)."""
    listed = section.get("nodes") or []
    specs = tuple(NodeSpec(n["name"], n["role"], n.get("cpu"),
                           memory_mib(n["memory"], f"kubernetes.nodes[{i}]") if n.get("memory") else None)
                  for i, n in enumerate(listed)) or ONE_NODE
    check(specs)
    return specs


def cluster_up_args(config: dict) -> str:
    """The ``cluster up`` arguments a configuration's kubernetes section sets for the local cluster."""
    section = with_defaults(config.get("kubernetes") or {}, "kubernetes")
    nodes = " ".join(f"--node {spec.argument()}" for spec in specs_from_section(section))
    return f"--scrape-interval {section['scrape_interval_s']} --kubelet-variant {section['kubelet_variant']} {nodes}"


def check(specs: tuple[NodeSpec, ...]) -> None:
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise NodesError(f"node names repeat: {', '.join(names)}")
    if specs[0].role == "edge":
        raise NodesError(f"the first node ({specs[0].name}) holds the control plane and the runner: give it the "
                         f"core role, and the edge a node of its own")


@dataclass(frozen=True)
class Place:
    """Where a node lives: its address, its pod range and its network namespace (None: this machine's)."""

    spec: NodeSpec
    index: int
    address: str
    pod_cidr: str
    netns: str | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def suffix(self) -> str:
        """What tells this node's daemons, certificates and files from the first node's ("" on it)."""
        return "" if self.index == 0 else f"@{self.name}"

    @property
    def netns_path(self) -> str | None:
        return None if self.netns is None else f"/run/netns/{self.netns}"

    @property
    def local_ip(self) -> str:
        """Where this machine reaches the node's own health endpoints."""
        return "127.0.0.1" if self.netns is None else self.address

    @property
    def cgroup_root(self) -> str:
        return "/" if self.netns is None else f"/{self.netns}"

    @property
    def veth(self) -> str:
        return f"mlbnode{self.index}"   # this machine's end (interface names stop at 15 characters)

    def enter(self, argv: list[str]) -> list[str]:
        """``argv`` run in the node's network namespace (nsenter: ``ip netns exec``'s private mount
        namespace would hide the volumes the kubelet mounts from the rest of the machine)."""
        return argv if self.netns is None else ["nsenter", f"--net={self.netns_path}", *argv]

    def record(self) -> dict:
        return {"name": self.name, "role": self.spec.role, "labels": self.spec.labels, "address": self.address,
                "pod_cidr": self.pod_cidr, "netns": self.netns, "cpu": self.spec.cpu,
                "memory_mib": self.spec.memory_mib}


def place(specs: tuple[NodeSpec, ...], node_ip: str, cluster_cidr: str, nodes_cidr: str | None) -> tuple[Place, ...]:
    """Each node's address and pod range: the first keeps this machine's address; every further one
    the next address of ``nodes_cidr`` (this machine holds the first). One /24 of ``cluster_cidr`` each."""
    ranges = ipaddress.ip_network(cluster_cidr).subnets(new_prefix=24)
    hosts = list(ipaddress.ip_network(nodes_cidr).hosts()) if nodes_cidr else []
    places = []
    for index, spec in enumerate(specs):
        own = index > 0
        places.append(Place(spec, index, str(hosts[index]) if own else node_ip, str(next(ranges)),
                            f"mlb-{spec.name}" if own else None))
    return tuple(places)


def bridge_address(nodes_cidr: str) -> str:
    return str(next(ipaddress.ip_network(nodes_cidr).hosts()))


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise NodesError(f"{what}: {' '.join(argv)}: {done.stderr.strip()}")


def join(places: tuple[Place, ...], nodes_cidr: str) -> None:
    """The bridge, and for every node past the first its namespace, link, address, routes and
    cgroup root: what its daemons need before they start."""
    own = [p for p in places if p.netns]
    if not own:
        return
    prefix = ipaddress.ip_network(nodes_cidr).prefixlen
    _run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], "forwarding between the nodes")   # down restores it
    _run(["ip", "link", "add", NODES_BRIDGE, "type", "bridge"], "the nodes' bridge")
    _run(["ip", "addr", "add", f"{bridge_address(nodes_cidr)}/{prefix}", "dev", NODES_BRIDGE], "the bridge's address")
    _run(["ip", "link", "set", NODES_BRIDGE, "up"], "the bridge up")
    for node in own:
        _run(["ip", "netns", "add", node.netns], f"node {node.name}'s namespace")
        _run(["ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns],
             f"node {node.name}'s link")
        _run(["ip", "link", "set", node.veth, "master", NODES_BRIDGE, "up"], f"node {node.name}'s link up")
        for argv in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{node.address}/{prefix}", "dev", "eth0"],
                     ["ip", "link", "set", "eth0", "up"],
                     ["ip", "route", "add", "default", "via", bridge_address(nodes_cidr)],
                     ["sysctl", "-qw", "net.ipv4.ip_forward=1"]):
            _run(node.enter(argv), f"node {node.name}'s network")
        # Where the kernel keeps it per namespace: the node's own pods' bridged traffic through its Services.
        subprocess.run(node.enter(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"]), capture_output=True)
        _run(["ip", "route", "add", node.pod_cidr, "via", node.address], f"the route to node {node.name}'s pods")
        make_cgroup_root(node)


def controllers() -> list[Path]:
    """The cgroup v1 hierarchies mounted here (each controller once: ``cpu`` and ``cpuacct`` are
    links to one)."""
    return sorted({p.resolve() for p in CGROUP.iterdir() if p.is_dir() and (p.resolve() / "cgroup.procs").exists()})


def make_cgroup_root(node: Place) -> None:
    """The node's cgroup root in every hierarchy: the kubelet refuses a root that does not exist."""
    for hierarchy in controllers():
        directory = hierarchy / node.cgroup_root.lstrip("/")
        directory.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):   # a new cpuset holds no CPU until given its parent's
            if (directory / name).exists() and not (directory / name).read_text().strip():
                (directory / name).write_text((hierarchy / name).read_text())


def leave(places: tuple[Place, ...]) -> None:
    """Undo ``join``: every node namespace (its end of each link with it), the bridge (the routes go
    with it), the cgroup roots (their pods' cgroups already removed)."""
    for node in places:
        if node.netns:
            subprocess.run(["ip", "netns", "del", node.netns], capture_output=True)
            subprocess.run(["ip", "link", "del", node.veth], capture_output=True)
            remove_cgroups(node.cgroup_root)
    subprocess.run(["ip", "link", "del", NODES_BRIDGE], capture_output=True)


def remove_cgroups(root: str) -> None:
    """``root`` and every cgroup below it, deepest first, in every hierarchy (a busy one stays)."""
    for hierarchy in controllers():
        top = hierarchy / root.lstrip("/")
        if top.is_dir() and top != hierarchy:
            for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                                    reverse=True) + [top]:
                try:
                    directory.rmdir()
                except OSError:
                    pass


def leftovers() -> list[str]:
    """Every node namespace, link and cgroup root still on this machine (named ``mlb-*``, ``mlbnode*``)."""
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    found = [f"network namespace {n}" for n in namespaces if n.startswith("mlb-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {name}" for name in re.findall(r"^\d+: ([^:@]+)", links, re.M)
              if name == NODES_BRIDGE or name.startswith("mlbnode")]
    return found + [f"cgroup {root}" for h in controllers() for root in h.glob("mlb-*")]
