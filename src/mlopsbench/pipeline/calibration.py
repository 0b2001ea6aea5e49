"""The machine's speed beside every pipeline run: a fixed calibration on the run's own interpreter.

On a shared machine the same work takes more or less time from hour to hour, so a run is
calibrated just before and just after it, each time in a fresh process of the interpreter the
run's steps use (nothing the run imported or warmed carries over):

* a pure-Python loop: the interpreter's own speed (Keras's per-batch loop is Python);
* a fixed Keras training loop, one thread: the seconds per training step of the thesis's
  smallest model on fixed data, batch 32, which is what dnnfit does, after a warm-up that
  traced the training function.

The CPU's time shares (idle, steal, ...) come from ``/proc/stat``, read around each
calibration and around the run itself; the records keep the raw tick counters.

Run as a module (``python -m mlopsbench.pipeline.calibration``) it is the calibration itself
and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

PROC_STAT = Path("/proc/stat")
# The aggregate line's fields in order (guest time is already counted in user).
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")
# One thread everywhere: the calibration measures the same work whatever the run's cores.
THREADS = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}
BATCH = 32
WARMUP_STEPS = 20
SEED = 2020


class CalibrationFailed(InputError):
    pass


@dataclass(frozen=True)
class CalibrationSettings:
    """How much work one calibration does: about a second of each loop on this machine."""

    python_iterations: int
    keras_steps: int

    def args(self) -> list[str]:
        return ["--python-iterations", str(self.python_iterations), "--keras-steps", str(self.keras_steps)]


def cpu_times() -> dict[str, int]:
    """The machine's CPU time since boot per kind, in clock ticks (the first line of /proc/stat)."""
    first = PROC_STAT.read_text().split("\n", 1)[0].split()
    return dict(zip(CPU_FIELDS, map(int, first[1:1 + len(CPU_FIELDS)])))


def _ticks(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {kind: after[kind] - before[kind] for kind in CPU_FIELDS}


def shares(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Each kind's share of all CPU time between two readings of ``cpu_times``; NaN where no tick passed."""
    delta = _ticks(before, after)
    total = sum(delta.values())
    return {kind: ticks / total if total > 0 else float("nan") for kind, ticks in delta.items()}


def busy_since(before: dict[str, int]) -> str:
    """``<busy seconds> <stolen seconds>`` of the whole machine (all its CPUs, every process) since
    ``before`` (a ``cpu_times``): a step prints it around its cells, beside its own CPU seconds, so
    that what the rest of the machine took while the cells ran can be told from what they waited."""
    delta, tick = _ticks(before, cpu_times()), os.sysconf("SC_CLK_TCK")
    busy = sum(delta[kind] for kind in BUSY_FIELDS)
    return f"{busy / tick:.2f} {delta['steal'] / tick:.2f}"


def thread_waits() -> dict[str, int]:
    """Nanoseconds each of this process's threads has waited on a run queue (runnable but not
    running), by thread id: the second field of ``/proc/self/task/<tid>/schedstat``."""
    waits = {}
    for stat in Path("/proc/self/task").glob("*/schedstat"):
        try:
            waits[stat.parent.name] = int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):   # a thread that ended while being read
            continue
    return waits


def queued_since(before: dict[str, int]) -> str:
    """Seconds this process's threads alive now waited for a CPU since ``before`` (``thread_waits``),
    summed: beside a cell's CPU and wall seconds, whether a cell off its CPU waited for one or was
    blocked. ``-`` where the kernel keeps no schedstat."""
    after = thread_waits()
    if not after:
        return "-"
    return f"{sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9:.2f}"


def measure(python: str, settings: CalibrationSettings, phase: str):
    """One calibration in a fresh process of ``python``; a ``records.Calibration``."""
    from ..records import Calibration

    before, t, start = cpu_times(), time.time(), time.perf_counter()
    done = subprocess.run([python, "-m", __name__, *settings.args()], capture_output=True, text=True,
                          env=os.environ | THREADS, timeout=600)
    seconds, after = time.perf_counter() - start, cpu_times()
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise CalibrationFailed(f"the calibration {phase} the run failed on {python} (exit {done.returncode}): {tail}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Calibration(t=t, phase=phase, seconds=seconds, cpu_before=before, cpu_after=after, **found)


def python_loop(iterations: int) -> float:
    """Seconds for a fixed loop of integer arithmetic and dictionary stores."""
    start = time.perf_counter()
    value, table = 0, {}
    for i in range(iterations):
        value = (value * 31 + i) % 1_000_003
        table[i & 1023] = value
    return time.perf_counter() - start


def keras_loop(steps: int) -> float:
    """Seconds per training step of a fixed 3 -> 8 -> 8 -> 8 -> 1 regression on fixed data."""
    import keras
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=((steps + WARMUP_STEPS) * BATCH, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential([keras.Input((3,)), *[keras.layers.Dense(8, activation="relu") for _ in range(3)],
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="mean_absolute_error")
    warm = WARMUP_STEPS * BATCH
    model.fit(x[:warm], y[:warm], batch_size=BATCH, epochs=1, verbose=0)   # traces the training step
    start = time.perf_counter()
    model.fit(x[warm:], y[warm:], batch_size=BATCH, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one calibration of this interpreter; prints JSON")
    parser.add_argument("--python-iterations", type=int, required=True)
    parser.add_argument("--keras-steps", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps({"python": sys.version, "python_loop_iterations": args.python_iterations,
                      "python_loop_seconds": python_loop(args.python_iterations), "keras_steps": args.keras_steps,
                      "keras_step_seconds": keras_loop(args.keras_steps)}))


if __name__ == "__main__":
    main()
