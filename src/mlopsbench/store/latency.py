"""Emulated network latency: ``tc netem`` where the kernel has it, a TCP proxy where not.

The thesis set netem delays of 0, 50, 250 and 400 ms on the edge node's interface
(Section 4.2), which adds that much to every round trip. Both emulations here add the
configured latency to the round-trip time, half in each direction:

* ``netem``: a netem qdisc of latency/2 on each end of the veth pair of the "netns"
  setup (the kernel's own emulation, with real TCP dynamics);
* ``proxy``: a user-space TCP proxy that holds every chunk for latency/2 in each
  direction, in order, and lets at most ``window_bytes`` be in flight per round trip,
  the way a TCP window bounds throughput to window / RTT. A new connection's first
  bytes arrive one round trip late, as after a TCP handshake. At 0 ms it only relays.
"""

from __future__ import annotations

import collections
import fcntl
import logging
import os
import queue
import socket
import subprocess
import threading
import time

log = logging.getLogger(__name__)

CHUNK = 1 << 16


def netem_available(device: str, namespace: str | None = None) -> tuple[bool, str]:
    """Try to attach a netem qdisc to ``device`` (then remove it); say why if it fails."""
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    probe = subprocess.run(prefix + ["tc", "qdisc", "add", "dev", device, "root", "netem", "delay", "1ms"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return False, (probe.stderr.strip() or probe.stdout.strip() or "tc failed")
    subprocess.run(prefix + ["tc", "qdisc", "del", "dev", device, "root"], capture_output=True)
    return True, "netem qdisc attached"


def set_netem(device: str, one_way_ms: float, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run(prefix + ["tc", "qdisc", "replace", "dev", device, "root", "netem", "delay", f"{one_way_ms}ms"],
                   check=True, capture_output=True)


class DelayProxy:
    """``with DelayProxy((host, port), rtt_ms=50) as (h, p):`` connect to h:p instead."""

    def __init__(self, upstream: tuple[str, int], listen_host: str = "127.0.0.1", rtt_ms: float = 0.0,
                 window_bytes: int = 4 << 20, listen_port: int = 0):
        self.upstream = upstream
        self.listen_host, self.listen_port = listen_host, listen_port
        self.one_way = rtt_ms / 2000.0
        self.window = window_bytes
        self.connections = 0
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lines: list[queue.Queue] = []

    def __enter__(self) -> tuple[str, int]:
        self._listener = socket.create_server((self.listen_host, self.listen_port))
        self._listener.settimeout(0.2)
        self._spawn(self._accept)
        return self._listener.getsockname()[:2]

    def __exit__(self, *exc) -> None:
        self._closing.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for line in self._lines:
            line.put((0.0, b""))  # wake writers that wait for data
        deadline = time.monotonic() + 2
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                downstream, _ = self._listener.accept()
                accepted = time.monotonic()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError as exc:
                log.warning("proxy: upstream %s:%d refused: %s", *self.upstream, exc)
                downstream.close()
                continue
            self.connections += 1
            for sock in (downstream, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(sock)
            # The handshake costs the client one round trip before its data leaves.
            self._pipe(downstream, upstream, not_before=accepted + 3 * self.one_way)
            self._pipe(upstream, downstream)

    def _pipe(self, source: socket.socket, sink: socket.socket, not_before: float = 0.0) -> None:
        if self.one_way == 0:
            self._spawn(self._relay, source, sink)
        else:
            line: queue.Queue = queue.Queue()
            self._lines.append(line)
            self._spawn(self._read_delayed, source, line)
            self._spawn(self._write_delayed, line, sink, not_before)

    @staticmethod
    def _finish(sink: socket.socket) -> None:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        """Zero delay: move bytes in the kernel (splice through a pipe), no copies in Python."""
        read_end, write_end = os.pipe()
        try:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, CHUNK * 16)  # fewer, larger moves
        except OSError:
            pass  # a capped pipe size only costs more system calls
        try:
            while moved := os.splice(source.fileno(), write_end, CHUNK * 16):
                while moved:
                    moved -= os.splice(read_end, sink.fileno(), moved)
        except OSError:
            pass
        finally:
            os.close(read_end)
            os.close(write_end)
        self._finish(sink)

    def _read_delayed(self, source: socket.socket, line: queue.Queue) -> None:
        """Read as the window allows; a byte holds its window share for one round trip."""
        in_flight: collections.deque = collections.deque()  # (release time, bytes)
        held = 0
        try:
            while True:
                now = time.monotonic()
                while in_flight and in_flight[0][0] <= now:
                    held -= in_flight.popleft()[1]
                if held >= self.window:
                    time.sleep(in_flight[0][0] - now)
                    continue
                data = source.recv(min(CHUNK, self.window - held))
                now = time.monotonic()
                line.put((now, data))
                if not data:
                    return
                in_flight.append((now + 2 * self.one_way, len(data)))
                held += len(data)
        except OSError:
            line.put((time.monotonic(), b""))

    def _write_delayed(self, line: queue.Queue, sink: socket.socket, not_before: float) -> None:
        try:
            while True:
                read_at, data = line.get()
                wait = max(read_at + self.one_way, not_before) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        self._finish(sink)
