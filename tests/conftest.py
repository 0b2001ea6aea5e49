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
