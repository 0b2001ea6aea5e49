"""The delay in the kernel's own path (NFQUEUE and netdelay) between this namespace and one of
its own behind a veth pair: the round trip it adds, the throughput it keeps at 0 ms, and nothing
left behind (no rule, no process)."""

import os
import signal
import subprocess
import time

import pytest

from mlopsbench.store import kernel_delay
from mlopsbench.store.netns import Namespace, namespaces_supported

pytestmark = [pytest.mark.integration, pytest.mark.machine]  # the netfilter queue is one per machine


@pytest.fixture
def namespace():
    supported, why = namespaces_supported()
    usable, reason = kernel_delay.available()
    if not (supported and usable):
        pytest.skip(why if not supported else reason)
    with Namespace("kd") as ns:
        yield ns


def rules(ns) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns.name}", "iptables", "-t", "mangle", "-S"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.alone
def test_the_round_trip_grows_by_the_setting_and_the_queue_keeps_the_throughput(namespace):
    found = kernel_delay.check(namespace.name, namespace.peer_device, namespace.host_ip, 50.0, megabytes=128)
    assert found.round_trip_ok, found          # within 1 ms of 50 ms more than without
    assert found.throughput_ok, found          # at 0 ms, at least QUEUE_FLOOR_MB_S through the queue
    assert "NFQUEUE" not in rules(namespace)   # every rule removed
    assert not subprocess.run(["pgrep", "-f", "netdelay"], capture_output=True).stdout


def test_a_delay_that_cannot_start_leaves_no_rule(namespace):
    with kernel_delay.KernelDelay(namespace.name, namespace.peer_device, 20.0, queue=7):
        with pytest.raises(kernel_delay.DelayError, match="did not start"):
            with kernel_delay.KernelDelay(namespace.name, namespace.peer_device, 20.0, queue=7):
                pass   # the queue is taken: the second program cannot bind it
    assert "NFQUEUE" not in rules(namespace)


def test_a_delay_whose_program_dies_fails_what_it_delayed(namespace):
    """Without its program the queue lets packets pass undelayed: what ran meanwhile must not count."""
    with pytest.raises(kernel_delay.DelayError, match="exited .* was not delayed"):
        with kernel_delay.KernelDelay(namespace.name, namespace.peer_device, 20.0, queue=8) as delay:
            os.kill(delay.pid, signal.SIGKILL)
            time.sleep(0.5)
    assert "NFQUEUE" not in rules(namespace)
