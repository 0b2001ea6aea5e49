"""A delay in the kernel's own path where the kernel has no netem: NFQUEUE and ``netdelay``.

iptables rules in a network namespace send every packet in and out of one interface (every
protocol) to a netfilter queue, with ``--queue-bypass`` so that nothing is lost while no program
listens; ``netdelay`` (``netdelay.c``, compiled here once per machine and source) holds each for
half the round trip's addition and then lets it go on, in order. Unlike the user-space proxy, the
TCP connection runs end to end through the delay, its slow start and window growth included.

``check`` measures what a cell must record: the round trip across the delayed link against the
setting, and the path's throughput with the queue in it at 0 ms (against a floor well above any
upload's, and beside the same path without it), so that a large upload measures the latency and
not the emulator.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..cluster.node import cache_dir
from ..errors import InputError

SOURCE = Path(__file__).with_name("netdelay.c")
EMULATION = "nfqueue"

log = logging.getLogger(__name__)


class DelayError(InputError):
    pass


@functools.cache
def _build_key(compiler: str) -> str:
    """The source's and the compiler's hash: asked once a process, not at every delay."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    return hashlib.sha256(SOURCE.read_bytes() + version.encode()).hexdigest()[:12]


def binary() -> Path:
    """``netdelay``, compiled (static, with gcc) where the cache lacks this source's build."""
    compiler = shutil.which("gcc")
    if compiler is None:
        raise DelayError("the kernel-path delay is compiled with gcc: install it (install.sh does)")
    dest = cache_dir() / "bin" / f"netdelay-{_build_key(compiler)}" / "netdelay"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent.parent) as tmp:
            built = Path(tmp, "netdelay")
            done = subprocess.run([compiler, "-O2", "-static", "-o", str(built), str(SOURCE)], capture_output=True,
                                  text=True)
            if done.returncode != 0:
                raise DelayError(f"compiling {SOURCE} failed: {done.stderr.strip()[-2000:]}")
            os.replace(built, dest)
    return dest


def in_namespace(namespace: str | None, argv: list[str]) -> list[str]:
    """``argv`` run in the network namespace ``namespace``: a name of ``ip netns``, or a path such as
    a process's ``/proc/<pid>/ns/net`` (none: this one). nsenter, not ``ip netns exec``, whose private
    mount namespace would hide mounts made inside from the rest of the machine."""
    if namespace is None:
        return argv
    return ["nsenter", f"--net={namespace if namespace.startswith('/') else f'/run/netns/{namespace}'}", *argv]


def gateway(namespace: str) -> str:
    """The address ``namespace`` reaches this machine at: its default route's gateway."""
    done = subprocess.run(in_namespace(namespace, ["ip", "-j", "-4", "route", "show", "default"]), capture_output=True,
                          text=True)
    routes = json.loads(done.stdout or "[]") if done.returncode == 0 else []
    if not routes or "gateway" not in routes[0]:
        raise DelayError(f"{namespace}: no default route to this machine ({done.stderr.strip()})")
    return routes[0]["gateway"]


def _rules(interface: str, queue: int) -> list[list[str]]:
    """The mangle rules that queue every packet in and out of ``interface``."""
    target = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    return [["PREROUTING", "-i", interface, *target], ["POSTROUTING", "-o", interface, *target]]


def _iptables(namespace: str | None, action: str, rule: list[str], check: bool = True) -> None:
    done = subprocess.run(in_namespace(namespace, ["iptables", "-w", "-t", "mangle", action, *rule]),
                          capture_output=True, text=True)
    if check and done.returncode != 0:
        raise DelayError(f"iptables {action} {' '.join(rule)} in {namespace or 'this namespace'}: "
                         f"{done.stderr.strip()}")


def available(namespace: str | None = None) -> tuple[bool, str]:
    """Whether this machine can queue packets to a program (NFQUEUE), and if not why."""
    if os.geteuid() != 0:
        return False, "netfilter queues need root"
    if shutil.which("iptables") is None or shutil.which("gcc") is None:
        return False, "iptables and gcc are needed (install.sh installs them)"
    probe = ["OUTPUT", "-o", "lo", "-p", "udp", "--dport", "9", "-j", "NFQUEUE", "--queue-num", "65000",
             "--queue-bypass"]
    try:
        _iptables(namespace, "-A", probe)
    except DelayError as error:
        return False, str(error)
    _iptables(namespace, "-D", probe, check=False)
    return True, "netfilter queues work"


@dataclass
class KernelDelay:
    """``with KernelDelay(namespace, interface, rtt_ms):`` every packet across ``interface`` (in
    ``namespace``) is held ``rtt_ms / 2`` on its way out and on its way in."""

    namespace: str | None
    interface: str
    rtt_ms: float
    queue: int = 0
    maxlen: int = 10000          # packets the kernel may hold for the program; more are dropped, as by a full router

    def __enter__(self) -> "KernelDelay":
        argv = [str(binary()), str(self.queue), str(round(self.rtt_ms * 1000 / 2)), str(self.maxlen)]
        self._process = subprocess.Popen(in_namespace(self.namespace, argv), stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        first = self._process.stdout.readline()
        if not first.startswith("ready"):
            self._process.wait(10)
            raise DelayError(f"netdelay on queue {self.queue} in {self.namespace or 'this namespace'} did not start: "
                             f"{self._process.stderr.read().strip()}")
        added = []
        try:
            for rule in _rules(self.interface, self.queue):
                _iptables(self.namespace, "-I", rule)
                added.append(rule)
        except BaseException:
            self._remove(added)
            raise
        log.info("kernel-path delay: %g ms per round trip across %s in %s (netdelay: %s)", self.rtt_ms, self.interface,
                 self.namespace or "this namespace", first.strip())
        return self

    @property
    def pid(self) -> int:
        """The delaying program's process."""
        return self._process.pid

    def _remove(self, rules: list[list[str]]) -> None:
        for rule in rules:
            _iptables(self.namespace, "-D", rule, check=False)
        self._process.send_signal(signal.SIGTERM)   # it lets what it holds go on, then exits
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __exit__(self, exc_type, *exc) -> None:
        # With --queue-bypass, packets pass undelayed once the program is gone: what was measured
        # after it died was not measured at the setting.
        died = self._process.poll()
        self._remove(_rules(self.interface, self.queue))
        if died is not None and exc_type is None:
            raise DelayError(f"netdelay (queue {self.queue}, {self.rtt_ms:g} ms across {self.interface}) exited with "
                             f"{died} while the delay was in use: what was measured meanwhile was not delayed")


def round_trip_ms(namespace: str | None, host: str, port: int, samples: int = 11) -> float:
    """The median time a TCP connect to ``host:port`` takes from ``namespace``: one round trip (the
    SYN out, the SYN-ACK back)."""
    code = (f"import socket, statistics, time\nseen = []\nfor _ in range({samples}):\n"
            f"    t = time.perf_counter(); s = socket.create_connection(({host!r}, {port}), timeout=30)\n"
            f"    seen.append((time.perf_counter() - t) * 1000); s.close()\nprint(statistics.median(seen))")
    return _probe(namespace, code, 120, f"no connection to {host}:{port}")


def _probe(namespace: str | None, code: str, timeout: float, failure: str) -> float:
    """The number a probe's Python ``code`` prints, run in ``namespace`` (a fresh interpreter there)."""
    done = subprocess.run(in_namespace(namespace, [shutil.which("python3") or "python3", "-c", code]),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise DelayError(f"{failure} from {namespace or 'this namespace'}: {done.stderr.strip()[-500:]}")
    return float(done.stdout.strip())


class Listener:
    """``with Listener(host) as port:`` a TCP server on ``host`` that takes every connection and reads
    it until its client closes (a thread each)."""

    def __init__(self, host: str):
        self.server = socket.create_server((host, 0))

    def __enter__(self) -> int:
        threading.Thread(target=self._accept, daemon=True).start()
        return self.server.getsockname()[1]

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:   # closed
                return
            threading.Thread(target=self._drain, args=(connection,), daemon=True).start()

    @staticmethod
    def _drain(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):   # a round-trip probe closes at once
            while connection.recv(1 << 20):
                pass
            connection.sendall(b".")   # the sender's last read: every byte arrived

    def __exit__(self, *exc) -> None:
        self.server.close()


def throughput_mb_s(namespace: str | None, host: str, port: int, megabytes: int) -> float:
    """MB/s of one TCP stream of ``megabytes`` from ``namespace`` to ``host:port``."""
    code = (f"import socket, time\nchunk = bytes(1 << 20)\ns = socket.create_connection(({host!r}, {port}))\n"
            f"t = time.perf_counter()\nfor _ in range({megabytes}): s.sendall(chunk)\n"
            f"s.shutdown(socket.SHUT_WR); s.recv(1); s.close()\nprint({megabytes} * 1.048576 / (time.perf_counter() - t))")
    return _probe(namespace, code, 600, f"no stream to {host}:{port}")


@dataclass(frozen=True)
class Check:
    """What a cell records of its delay: the round trip measured against the setting, and the
    throughput through the queue at 0 ms against the same path without it."""

    setting_ms: float
    round_trip_ms: float
    base_round_trip_ms: float        # the same path without the delay
    throughput_mb_s: float           # through the queue at 0 ms (the median stream)
    throughput_ratio: float          # through the queue at 0 ms / without it
    emulation: str = EMULATION

    @property
    def round_trip_ok(self) -> bool:
        return abs(self.round_trip_ms - self.base_round_trip_ms - self.setting_ms) <= 1.0

    @property
    def throughput_ok(self) -> bool:
        return self.throughput_mb_s >= QUEUE_FLOOR_MB_S


# What the queue must carry at 0 ms so that an upload measures the latency and not the emulator:
# five times the fastest upload the reference run measured (172 MB/s, host at 0 ms). A ratio to the
# bare veth (2-3 GB/s here, 0.7-0.9 of it through the queue) would judge the veth, not the uploads.
QUEUE_FLOOR_MB_S = 860.0


# A cell's kernel-path delay as checked before it measured, as tidy tables keep it (empty where another
# emulation delayed the cell).
DELAY_COLUMNS = ["delay_round_trip_ms", "delay_base_round_trip_ms", "delay_throughput_mb_s", "delay_throughput_ratio",
                 "delay_round_trip_ok", "delay_throughput_ok"]


def delay_checked(record: Path) -> dict:
    """A cell's delay record as the ``DELAY_COLUMNS`` (None where the cell has none)."""
    found = json.loads(record.read_text()) if record.exists() else {}
    return {column: found.get(column.removeprefix("delay_")) for column in DELAY_COLUMNS}


def check(namespace: str, interface: str, host: str | None, setting_ms: float, megabytes: int = 256,
          repeats: int = 3) -> Check:
    """Measure the delay across ``interface`` between ``namespace`` and this side's ``host`` (the
    interface's other end; None: the namespace's gateway): the round trip without and with
    ``setting_ms``, and the median of ``repeats`` paired streams of ``megabytes`` with the queue at
    0 ms and without it."""
    host = host or gateway(namespace)
    with Listener(host) as port:
        base = round_trip_ms(namespace, host, port)
        with KernelDelay(namespace, interface, setting_ms, queue=1):
            delayed = round_trip_ms(namespace, host, port)
        streams = []
        for _ in range(repeats):   # alternated, so the machine's drift hits both
            without = throughput_mb_s(namespace, host, port, megabytes)
            with KernelDelay(namespace, interface, 0.0, queue=1):
                through = throughput_mb_s(namespace, host, port, megabytes)
            streams.append((through / without, through))
    ratio, through = sorted(streams)[len(streams) // 2]
    return Check(setting_ms, delayed, base, through, ratio)
