"""A network namespace joined to this one by a veth pair: the path a container's traffic takes.

The namespace gets 10.<a>.<b>.2/30 and this side 10.<a>.<b>.1/30, both derived from the
process id and a slot (one process may hold two: an uploader's and the store's); only this
machine's own namespaces are ever addressed. Deleting the namespace removes both ends of the pair.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

log = logging.getLogger(__name__)


class NamespaceError(RuntimeError):
    pass


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def namespaces_supported() -> tuple[bool, str]:
    """Whether this machine lets us create a namespace and a veth pair, and if not why."""
    if shutil.which("ip") is None:
        return False, "the 'ip' command (iproute2) is not installed"
    if os.geteuid() != 0:
        return False, "creating network namespaces needs root"
    name = f"mlbprobe{os.getpid()}"
    created = _ip("netns", "add", name)
    if created.returncode != 0:
        return False, created.stderr.strip() or "ip netns add failed"
    _ip("netns", "delete", name)
    return True, "network namespaces and veth pairs work"


class Namespace:
    """``with Namespace() as ns:`` ns.name, ns.host_ip (this side), ns.peer_ip, ns.peer_device."""

    def __init__(self, tag: str = "", slot: int = 0):
        pid = os.getpid()
        self.name = f"mlb{tag}{pid}"
        self.host_device, self.peer_device = f"mlb{tag}h{pid}"[:15], f"mlb{tag}p{pid}"[:15]
        a, b = 200 + pid % 50, (pid // 50) % 32 * 8 + 4 * slot
        self.host_ip, self.peer_ip = f"10.{a}.{b}.1", f"10.{a}.{b}.2"

    def __enter__(self) -> "Namespace":
        steps = [
            ("netns", "add", self.name),
            ("link", "add", self.host_device, "type", "veth", "peer", "name", self.peer_device),
            ("link", "set", self.peer_device, "netns", self.name),
            ("addr", "add", f"{self.host_ip}/30", "dev", self.host_device),
            ("link", "set", self.host_device, "up"),
            ("netns", "exec", self.name, "ip", "addr", "add", f"{self.peer_ip}/30", "dev", self.peer_device),
            ("netns", "exec", self.name, "ip", "link", "set", self.peer_device, "up"),
            ("netns", "exec", self.name, "ip", "link", "set", "lo", "up"),
        ]
        for step in steps:
            result = _ip(*step)
            if result.returncode != 0:
                self.__exit__(None, None, None)
                raise NamespaceError(f"ip {' '.join(step)}: {result.stderr.strip()}")
        log.info("namespace %s: %s (here) <-> %s (%s)", self.name, self.host_ip, self.peer_ip, self.peer_device)
        return self

    def admit_only(self, port: int) -> None:
        """Refuse new TCP connections that come in over the veth pair to any port but ``port``
        (a server may bind more to the namespace's end than it was asked to)."""
        rule = ["INPUT", "-i", self.peer_device, "-p", "tcp", "--syn", "!", "--dport", str(port),
                "-j", "REJECT", "--reject-with", "tcp-reset"]
        result = subprocess.run(self.command(["iptables", "-w", "-A", *rule]), capture_output=True, text=True)
        if result.returncode != 0:
            raise NamespaceError(f"iptables in namespace {self.name}: {result.stderr.strip()}")

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def __exit__(self, *exc) -> None:
        remove_namespace(self.name, self.host_device)


def remove_namespace(name: str, host_device: str | None = None) -> None:
    """Delete a namespace (and with it the veth pair), also one a killed process left behind."""
    _ip("netns", "delete", name)
    if host_device:
        _ip("link", "delete", host_device)
