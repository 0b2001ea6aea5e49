import fcntl
import gzip
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# One TensorFlow thread pool per test process keeps 2-core machines responsive.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


# The suite runs in two workers (pytest-xdist), a test file to a worker at a time (so a module's
# fixtures are made once). The files that hold something this machine has one of (the cluster and
# its ports, the netfilter queue, the image registry's cache) are one unit that runs in order on
# one worker; a test whose check is a tight timing is marked ``alone`` and holds the machine by
# itself while it runs. (xdist's own groups do not reach its scheduler under pytest 9.)
MACHINE_FILES = {"test_cluster_faults.py", "test_cluster_lifecycle.py", "test_cluster_nodes.py", "test_kernel_delay.py",
                 "test_kubernetes_cluster.py", "test_own_cluster.py", "test_registry.py", "test_serving_cluster.py",
                 "test_study.py"}


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class OneMachine(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "machine" if Path(path).name in MACHINE_FILES else path

    return OneMachine(config, log)


def pytest_collection_modifyitems(items):
    """The tests on two nodes last (the cluster is reshaped once, not back and forth); a test of the
    machine outside MACHINE_FILES is refused, since it would run beside them."""
    strays = {item.path.name for item in items if item.path.name not in MACHINE_FILES
              and ("clusters" in getattr(item, "fixturenames", ()) or item.get_closest_marker("machine"))}
    if strays:
        raise pytest.UsageError(f"{', '.join(sorted(strays))}: uses the cluster or is marked machine; add it to "
                                f"MACHINE_FILES in tests/conftest.py")
    items.sort(key=lambda item: "two_nodes" in getattr(item, "fixturenames", ()))


def pytest_terminal_summary(terminalreporter):
    """The lines tests keep for a person to read (``record_property("note", ...)``), also from
    xdist's workers, whose own output is not shown."""
    notes = [value for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed")
             for name, value in report.user_properties if name == "note"]
    if notes:
        terminalreporter.write_sep("-", "notes")
        for note in notes:
            terminalreporter.write_line(note)


@pytest.fixture(autouse=True)
def _machine_share(request, tmp_path_factory):
    """Under xdist: a shared hold on the machine for every test, an exclusive one for a test marked
    ``alone``. A turnstile in front keeps a waiting exclusive test from being passed by shared ones."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    root = tmp_path_factory.getbasetemp().parent  # the run's, shared by its workers
    alone = request.node.get_closest_marker("alone") is not None
    with open(root / "machine.turnstile", "a") as turnstile, open(root / "machine.lock", "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)  # in line behind an exclusive test that waits
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield  # closing the files lets both go


def write_gz(path: Path, lines: list[str], newline_at_end: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    with gzip.open(path, "wt") as out:
        out.write(text)
    return path


def reading(mote: int, epoch: int = 1, temperature="19.9884", humidity="37.0933",
            light="45.08", voltage="2.69964") -> str:
    """One line of the published format (values from the real file's first lines)."""
    return f"2004-03-31 03:38:15.757551 {epoch} {mote} {temperature} {humidity} {light} {voltage}"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for CLI subprocesses: the interpreter running the tests comes first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """A 0.02 MB dataset from a synthetic file in the published format, through our filter."""
    from mlopsbench.data.datasets import build_dataset
    from mlopsbench.data.intel_lab import filter_mote
    from mlopsbench.data.synthetic import write_published_file

    root = tmp_path_factory.mktemp("data")
    raw = write_published_file(root / "data.txt.gz", 4000, seed=5)
    filter_mote(raw, 54, root / "node54.csv", root / "counts.json", progress=False)
    build_dataset(root / "node54.csv", 0.02, root / "intel54_0.02MB.csv")
    return root / "intel54_0.02MB.csv"


def cluster_unavailable() -> str | None:
    """Why the local Kubernetes cluster cannot run on this machine, or None."""
    import shutil

    if os.geteuid() != 0:
        return "the local cluster needs root"
    tools = ("containerd", "runc", "go", "debootstrap", "iptables", "conntrack", "prometheus", "gcc", "docker-registry")
    missing = [t for t in tools
               if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    return f"missing {', '.join(missing)} (the README's install step brings them)" if missing else None


class Clusters:
    """The session's local cluster, in the shape a test asks for: one node (the default, and every
    test's but the ``two_nodes`` ones, which run last), or the thesis's core and edge, always on the
    configured (stock) kubelet. A cluster that was up before the session is used as it is, never
    stopped or reshaped; one started here is reshaped when asked and stopped at the end. Each test
    gets the cluster as it is then: a test that restarts it changes its Service addresses and
    certificates."""

    def __init__(self, repo):
        from mlopsbench.cluster import lifecycle
        from mlopsbench.config import default

        self.repo, self.lifecycle = repo, lifecycle
        self.kubelet = default("kubernetes.kubelet_variant")
        self.found = lifecycle.status()
        self.started = None

    def is_wanted(self, cluster, specs) -> bool:
        return cluster is not None and (cluster.kubelet_variant, cluster.specs) == (self.kubelet, specs)

    def get(self, specs):
        running = self.lifecycle.status()
        if self.found is not None:
            if not self.is_wanted(self.found, specs):
                (pytest.fail if os.environ.get("CI") else pytest.skip)(
                    f"another cluster (kubelet {self.found.kubelet_variant}; nodes "
                    f"{', '.join(s.argument() for s in self.found.specs)}) was up before the tests: "
                    f"`mlopsbench cluster down` first")
            return running or self.lifecycle.up(self.repo, specs=specs)
        if self.is_wanted(running, specs):
            self.started = running
        else:
            if running is not None:   # another shape: reshaped
                self.lifecycle.down()
            self.started = self.lifecycle.up(self.repo, specs=specs)
        return self.started


@pytest.fixture(scope="session")
def clusters(repo):
    """Where the local cluster cannot run, its tests are skipped, except in CI (CI=true), where they fail."""
    why = cluster_unavailable()
    if why:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)
    keeper = Clusters(repo)
    yield keeper
    if keeper.started is not None:
        keeper.lifecycle.down()


@pytest.fixture
def local_cluster(clusters):
    """The one-node cluster."""
    from mlopsbench.cluster.nodes import ONE_NODE

    return clusters.get(ONE_NODE)


@pytest.fixture
def two_nodes(clusters):
    """The thesis's topology: a core node and a small edge node."""
    from mlopsbench.cluster.nodes import CORE_EDGE

    return clusters.get(CORE_EDGE)


@pytest.fixture
def admin(local_cluster):
    from kubernetes import config

    return config.new_client_from_config(config_file=local_cluster.admin_kubeconfig)
