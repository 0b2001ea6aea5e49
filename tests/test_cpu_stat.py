"""Unit test: a step's CFS throttling read from its cgroup (``pipeline.cpu_stat``), in the layouts a
step meets: cgroup v1 on a host (its path under the controller's mount), v1 inside a container (the
container's cgroup mounted as the controller's top), and v2; ``unknown`` where none can be read."""

import re

import pytest

from mlopsbench.pipeline.cpu_stat import cpu_stat_path, mark, throttling

V1 = "nr_periods 120\nnr_throttled 7\nthrottled_time 350000000\nnr_bursts 0\nburst_time 0\n"
V2 = "usage_usec 9000000\nuser_usec 8000000\nsystem_usec 1000000\nnr_periods 40\nnr_throttled 3\nthrottled_usec 250000\n"


def test_v1_and_v2_counts_are_read_in_seconds():
    assert throttling(V1) == (120, 7, pytest.approx(0.35))
    assert throttling(V2) == (40, 3, pytest.approx(0.25))


def test_the_local_count_takes_in_what_an_ancestors_quota_throttled():
    """A pod's container whose own quota never ran out while the pod's did (as read on a cluster
    here: the container's own 2.7 ms, its local 25.4 ms): the seconds are the local count's."""
    own = "nr_periods 8758\nnr_throttled 1\nthrottled_time 2714786\nnr_bursts 0\nburst_time 0\n"
    assert throttling(own, "throttled_time 25351046\n") == (8758, 1, pytest.approx(0.025351046))
    assert throttling(V2, "throttled_usec 900000\n") == (40, 3, pytest.approx(0.9))


@pytest.mark.parametrize("proc_cgroup, made, expected", [
    # v1 on a host: the process's own cgroup under the cpu controller's mount, not the mount's top.
    ("4:cpu,cpuacct:/kubepods/pod1/abc\n3:memory:/kubepods/pod1/abc\n",
     ["cpu,cpuacct/cpu.stat", "cpu,cpuacct/kubepods/pod1/abc/cpu.stat"], "cpu,cpuacct/kubepods/pod1/abc/cpu.stat"),
    # v1 in a container: its path is the host's, but its own cgroup is mounted as the top.
    ("4:cpu:/mlb-core/kubepods/pod1/abc\n", ["cpu/cpu.stat"], "cpu/cpu.stat"),
    # v2 with a namespace of its own ("0::/") or on a host.
    ("0::/\n", ["cpu.stat"], "cpu.stat"),
    ("0::/user.slice/session-1.scope\n", ["cpu.stat", "user.slice/session-1.scope/cpu.stat"],
     "user.slice/session-1.scope/cpu.stat"),
    # No cpu controller to read.
    ("3:memory:/x\n", ["memory/cpu.stat"], None),
])
def test_the_cgroup_of_the_process_is_found_where_a_step_meets_it(tmp_path, proc_cgroup, made, expected):
    for name in made:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(V1)
    found = cpu_stat_path(proc_cgroup, root=tmp_path)
    assert found == (tmp_path / expected if expected else None)


def test_this_process_reads_its_own_cgroup_or_says_unknown():
    assert re.fullmatch(r"\d+ \d+ \d+\.\d{6}|unknown", mark())
