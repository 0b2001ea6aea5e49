"""What a CPU limit's quota cost a step: its cgroup's CFS throttling, as the kernel counts it.

A compiled step prints this as its last mark. A pod's container has a cgroup of its own (mounted as
the container's cgroup root), so there the count is its step's alone; a local process reads the
runner's cgroup, where no quota is set unless someone set one. Reads cgroup v1's ``cpu.stat``
(throttled_time in ns) and v2's (throttled_usec); ``unknown`` where neither can be read.

A pod's quota is set twice, on the container's cgroup and on the pod's above it, and ``cpu.stat``
counts only what the cgroup's own quota throttled. Where the kernel has ``cpu.stat.local`` (Linux
6.8 on) the seconds are read from it instead: the time the cgroup's own run queues were throttled,
by its quota or an ancestor's (the pod's, the kubepods slice's).
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_stat_path(proc_cgroup: str, root: Path = CGROUP_ROOT) -> Path | None:
    """The ``cpu.stat`` of the cgroup that ``proc_cgroup`` (the text of /proc/self/cgroup) names: at
    its path under the cpu controller's mount, else at that mount's top (inside a container)."""
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        mount = root / controllers if controllers else root   # v1: cpu or cpu,cpuacct; v2: the root
        for candidate in (mount / path.lstrip("/") / "cpu.stat", mount / "cpu.stat"):
            if candidate.is_file():
                return candidate
    return None


def _counters(text: str) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in text.splitlines() if line.strip())}


def _seconds(stat: dict[str, int]) -> float:
    return stat["throttled_usec"] / 1e6 if "throttled_usec" in stat else stat["throttled_time"] / 1e9


def throttling(cpu_stat: str, cpu_stat_local: str | None = None) -> tuple[int, int, float]:
    """Enforcement periods and throttled periods from a ``cpu.stat``'s text, and the seconds
    throttled: from ``cpu.stat.local``'s text where given (its quota's and its ancestors'), else
    from ``cpu.stat``'s (its own quota's)."""
    stat = _counters(cpu_stat)
    seconds = _seconds(_counters(cpu_stat_local)) if cpu_stat_local else _seconds(stat)
    return stat["nr_periods"], stat["nr_throttled"], seconds


def mark() -> str:
    """``<periods> <throttled periods> <seconds>`` of this process's cgroup, or ``unknown``."""
    try:
        path = cpu_stat_path(Path("/proc/self/cgroup").read_text())
        if path is None:
            return "unknown"
        local = path.with_name("cpu.stat.local")
        return "{} {} {:.6f}".format(*throttling(path.read_text(), local.read_text() if local.is_file() else None))
    except (OSError, ValueError, KeyError):
        return "unknown"
