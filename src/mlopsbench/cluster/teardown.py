"""Remove every trace a cluster leaves on the machine, and say what is left.

The order matters and each step tolerates "already gone", so ``down`` also cleans up
after a crash: pod sandboxes through CRI (containers, CNI, network namespaces); kube-proxy's
own clean-up of its chains; then, with the daemons stopped, containerd's shims, leftover
pod processes (by their cgroups), mounts below the state directory (deepest first), the
``kubepods`` cgroups, the bridge and its veths, the remaining ``KUBE-*``/``CNI-*`` chains,
the further nodes' namespaces, links and cgroup roots (what was inside a namespace goes
with it), conntrack entries of pod and service addresses, the sysctls kubelet and the
bridge plugin changed, and the few files the stack writes at fixed paths.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import nodes
from .build import recorded_binary
from .cri import crictl_command
from .node import BRIDGE, Layout
from .nodes import Place

FIXED_PATHS = (Path("/run/containerd/s"), Path("/var/lib/cni/results"), Path("/var/lib/kubelet/device-plugins"))
CHAIN = re.compile(r"^(KUBE|CNI)-")
TABLES = ("filter", "nat", "mangle", "raw")

log = logging.getLogger(__name__)


def _quiet(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def remove_pods(layout: Layout) -> None:
    """Every pod sandbox through CRI: containers, CNI DEL (veth, IPAM, portmap chains), netns."""
    if not layout.socket.exists():
        return
    crictl = crictl_command(layout) + ["--timeout", "20s"]
    pods = _quiet(crictl + ["pods", "-q"]).stdout.split()
    if pods:
        _quiet(crictl + ["stopp", *pods])
        _quiet(crictl + ["rmp", "-f", "-a"])
        log.info("removed %d pod sandboxes", len(pods))


def kube_proxy_cleanup(layout: Layout) -> None:
    config = layout.conf / "kube-proxy-config.yaml"
    if config.exists():
        enter = ["nsenter", f"--net={layout.netns}"] if layout.netns else []
        _quiet([*enter, str(recorded_binary(layout.root, "kube-proxy")), "--cleanup", f"--config={config}"])


def _kill_shims(layout: Layout) -> None:
    result = _quiet(["pgrep", "-f", f"containerd-shim.*-address {layout.socket}"])
    for pid in result.stdout.split():
        os.kill(int(pid), signal.SIGKILL)


def _pods_cgroup(place: Place) -> str:
    return f"{place.cgroup_root.rstrip('/')}/kubepods"


def _pod_processes(places: tuple[Place, ...]) -> list[int]:
    pids = []
    for place in places:
        top = Path("/sys/fs/cgroup/pids") / _pods_cgroup(place).lstrip("/")
        for procs in top.rglob("cgroup.procs") if top.exists() else []:
            pids += [int(p) for p in procs.read_text().split()]
    return pids


def _kill_pod_processes(places: tuple[Place, ...]) -> None:
    """Container processes outlive a crashed containerd: end them by their cgroups."""
    for _ in range(5):
        pids = _pod_processes(places)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def _mounts_below(root: Path) -> list[str]:
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    prefix = str(root.resolve())
    return sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True)


def _mounts(layout: Layout, places: tuple[Place, ...]) -> list[str]:
    stores = [layout.of(place).containerd_root for place in places]
    return sorted({m for root in (layout.root, *stores) for m in _mounts_below(root)}, key=len, reverse=True)


def _unmount(layout: Layout, places: tuple[Place, ...]) -> None:
    for _ in range(3):
        for mount in _mounts(layout, places):
            if _quiet(["umount", mount]).returncode != 0:
                _quiet(["umount", "-l", mount])


def _remove_bridge() -> None:
    links = _quiet(["ip", "-o", "link", "show", "master", BRIDGE]).stdout.splitlines()
    for line in links:
        _quiet(["ip", "link", "del", line.split(": ")[1].split("@")[0]])
    _quiet(["ip", "link", "del", BRIDGE])


def _remove_chains() -> None:
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            rules = _quiet([tool, "-t", table, "-S"]).stdout.splitlines()
            for rule in rules:  # jumps from built-in chains into ours
                parts = rule.split()
                if parts[:1] == ["-A"] and not CHAIN.match(parts[1]) and "-j" in parts \
                        and CHAIN.match(parts[parts.index("-j") + 1]):
                    _quiet([tool, "-t", table, "-D", *parts[1:]])
            chains = [r.split()[1] for r in rules if r.startswith("-N ") and CHAIN.match(r.split()[1])]
            for chain in chains:
                _quiet([tool, "-t", table, "-F", chain])
            for chain in chains:
                _quiet([tool, "-t", table, "-X", chain])


def _flush_conntrack(layout: Layout) -> None:
    network_file = layout.root / "network.json"
    if not network_file.exists() or shutil.which("conntrack") is None:
        return
    network = json.loads(network_file.read_text())
    for flag, cidr in (("-s", network["cluster_cidr"]), ("-d", network["cluster_cidr"]),
                       ("-d", network["service_cidr"])):
        _quiet(["conntrack", "-D", flag, cidr])


def _restore_sysctls(layout: Layout) -> None:
    recorded = layout.root / "sysctl-before.json"
    if recorded.exists():
        for key, value in json.loads(recorded.read_text()).items():
            _quiet(["sysctl", "-qw", f"{key}={value}"])


def _remove_fixed_paths(layout: Layout) -> None:
    for path in FIXED_PATHS:
        shutil.rmtree(path, ignore_errors=True)
        for parent in (path.parent, path.parent.parent):
            try:
                parent.rmdir()
            except OSError:
                pass
    containers = Path("/var/log/containers")
    if containers.is_dir():
        for link in containers.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(str(layout.root)):
                link.unlink()


def after_daemons(layout: Layout, places: tuple[Place, ...]) -> None:
    for place in places:
        _kill_shims(layout.of(place))
    _kill_pod_processes(places)
    _unmount(layout, places)
    for place in places:
        nodes.remove_cgroups(_pods_cgroup(place))
    _remove_bridge()
    _remove_chains()
    nodes.leave(places)
    _flush_conntrack(layout)
    _restore_sysctls(layout)
    _remove_fixed_paths(layout)


def leftovers(layout: Layout, places: tuple[Place, ...], daemons: tuple[str, ...]) -> list[str]:
    """Every process, mount, link, chain, namespace or cgroup of a cluster still on this machine."""
    from .daemons import running

    found = [f"process {name}" for name in daemons if running(layout.pids / name)]
    for place in places:
        socket = layout.of(place).socket
        found += [f"shim {p}" for p in _quiet(["pgrep", "-f", f"containerd-shim.*-address {socket}"]).stdout.split()]
    found += [f"pod process {p}" for p in _pod_processes(places)]
    found += [f"mount {m}" for m in _mounts(layout, places)]
    links = _quiet(["ip", "-o", "link", "show"]).stdout
    found += [f"link {name}" for name in re.findall(r"^\d+: ([^:@]+)", links, re.M)
              if name == BRIDGE or name.startswith("veth")]
    for tool in ("iptables", "ip6tables"):
        for table in TABLES:
            found += [f"{tool} {table} chain {r.split()[1]}" for r in _quiet([tool, "-t", table, "-S"]).stdout.splitlines()
                      if r.startswith("-N ") and CHAIN.match(r.split()[1])]
    found += [f"cgroup {h}/kubepods" for h in Path("/sys/fs/cgroup").iterdir() if (h / "kubepods").exists()]
    return found + nodes.leftovers()
