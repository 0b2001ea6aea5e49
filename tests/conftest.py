import gzip
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# One TensorFlow thread pool per test process keeps 2-core machines responsive.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


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


@pytest.fixture(scope="session")
def local_cluster(repo):
    """The single-node cluster: the running one if it is up, else started here and stopped at the end.
    Where it cannot run, its tests are skipped, except in CI (CI=true), where they fail."""
    from mlopsbench.cluster import lifecycle

    why = cluster_unavailable()
    if why:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why)
    running = lifecycle.status()
    cluster = running or lifecycle.up(repo)
    yield cluster
    if running is None:
        lifecycle.down()


@pytest.fixture
def admin(local_cluster):
    from kubernetes import config

    return config.new_client_from_config(config_file=local_cluster.admin_kubeconfig)
