"""The delay proxy against real sockets on loopback: added round trip, order, window."""

import hashlib
import os
import socket
import statistics
import threading
import time

import pytest

from mlopsbench.store.latency import DelayProxy

pytestmark = pytest.mark.alone  # the added round trips are checked to a few milliseconds


@pytest.fixture(scope="module")
def echo_server():
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    def echo(conn):
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[:2]
    server.close()


def round_trips(address, count):
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(b"x" * 64)
            received = 0
            while received < 64:
                received += len(sock.recv(64))
            times.append(time.perf_counter() - start)
    return times


def test_added_round_trip_is_within_10_percent_for_50_ms(echo_server):
    direct = statistics.median(round_trips(echo_server, 20))
    with DelayProxy(echo_server, rtt_ms=50) as address:
        delayed = round_trips(address, 12)[1:]  # the first carries the emulated handshake
    added_ms = (statistics.median(delayed) - direct) * 1000
    assert added_ms == pytest.approx(50, rel=0.10)


def test_new_connection_pays_a_handshake_round_trip(echo_server):
    with DelayProxy(echo_server, rtt_ms=100) as address:
        first = round_trips(address, 1)[0]
    assert first == pytest.approx(0.2, rel=0.15)  # handshake + the request's own round trip


def exchange(address, payload):
    received = bytearray()
    with socket.create_connection(address) as sock:
        reader = threading.Thread(target=lambda: received.extend(read_all(sock, len(payload))))
        reader.start()
        sock.sendall(payload)
        reader.join()
    return bytes(received)


def read_all(sock, size):
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("rtt_ms", [0, 20])
def test_bytes_arrive_complete_and_in_order(echo_server, rtt_ms):
    payload = os.urandom(3 << 20)
    with DelayProxy(echo_server, rtt_ms=rtt_ms) as address:
        echoed = exchange(address, payload)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()


def test_window_bounds_throughput_like_tcp(echo_server):
    payload = os.urandom(2 << 20)
    with DelayProxy(echo_server, rtt_ms=100, window_bytes=512 << 10) as address:
        start = time.perf_counter()
        exchange(address, payload)
        seconds = time.perf_counter() - start
    # 2 MiB through a 512 KiB window at 100 ms RTT needs at least 4 round trips.
    assert seconds >= 0.4
    assert seconds < 1.5
