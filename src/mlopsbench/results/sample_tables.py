"""Tidy tables shaped like a finished study, for tests and benchmarks of the statistics, figures and
report: every column the tidy steps write, random numbers of the right shape, and nothing that
pretends to be a measurement (the store is "synthetic", so is the emulation)."""

from __future__ import annotations

import json

# The interpreter build every synthetic run says its steps ran on (one, as install.sh arranges).
PYTHON_BUILD = "3.11.2 (main, Oct 7 2026, 12:35:07) [GCC 12.2.0]"
STEPS = ("preprocessing", "plot", "createdict", "dnncompile", "dnnfit", "dnneval", "modelerrorssummary",
         "dnnpredict", "dnnpredictsummary")


def tidy_tables(config: dict, scale: int = 1, seed: int = 0):
    """Tidy tables shaped like a finished study of ``config``, with ``scale`` x its repetitions.

    For tests and benchmarks of the statistics and the report; the numbers are random.
    """
    import numpy as np
    import pandas as pd

    from ..config import pipeline_configurations, series_of
    from ..data.models import trainable_params
    from ..paths import architecture_name
    from ..pipeline.backends import BACKENDS
    from ..pipeline.tidy import RUN_COLUMNS, STEP_COLUMNS
    from ..upload.tidy import CELL_COLUMNS, UPLOAD_COLUMNS

    rng = np.random.default_rng(seed)
    layers = config["model"]["hidden_layers"]
    cpu_per_step = json.dumps({step: 2 if step == "dnnfit" else 1 for step in STEPS}, sort_keys=True)
    steps, runs = [], []
    backends = config["pipeline"]["backends"]
    t = 1.8e9
    for c in pipeline_configurations(config):
        model = architecture_name(c.width, layers)
        for rep in range(1, config["pipeline"]["repetitions"] * scale + 1):
            block = f"{model}_{c.dataset_mb:g}MB/{rep}"
            for position, backend in enumerate(backends):   # a block: every backend back to back
                run_id = f"{backend}/{block}"
                base = {"backend": backend, "series": series_of(config, c.dataset_mb, c.width),
                        "dataset_mb": c.dataset_mb, "model": model, "trainable_params": trainable_params(c.width, layers),
                        "rep": rep, "run_id": run_id, "raw_dir": f"results/raw/pipeline/{block}/{backend}"}
                split = BACKENDS[backend].split
                start, speed = t, rng.lognormal(0, 0.1)   # the machine's speed drifts from run to run
                for step in STEPS:
                    cell = speed * rng.gamma(2.0, 0.5) * (c.dataset_mb if step in ("dnnfit", "plot") else 0.05)
                    overhead = rng.normal(3.0, 0.3) if split else 0.01
                    wait = rng.exponential(0.5) if split else 0.0
                    startup = min(overhead - wait, rng.normal(2.0, 0.2)) if split else 0.0
                    steps.append(base | {"step": step, "created": t, "scheduled": t + wait, "started": t + wait + 0.02,
                                         "finished": t + cell + overhead, "wait_seconds": wait,
                                         "startup_seconds": startup, "marshal_seconds": 0.1 if split else 0.0,
                                         "rest_seconds": overhead - wait - startup - (0.1 if split else 0.0),
                                         "peak_rss_mib": rng.normal(300, 20), "python": PYTHON_BUILD,
                                         "timestamp_source": BACKENDS[backend].clock,
                                         "cell_seconds": cell, "duration_seconds": cell + overhead,
                                         "overhead_seconds": overhead,
                                         "overhead_pct": 100 * overhead / (cell + overhead), "status": "succeeded",
                                         "run_status": "succeeded", "core_wait_seconds": wait,
                                         "overhead_nowait_seconds": overhead - wait,
                                         "overhead_nowait_pct": 100 * (overhead - wait) / (cell + overhead - wait)})
                    t += cell + overhead
                cells = sum(r["cell_seconds"] for r in steps[-len(STEPS):])
                wall = t - start
                keras = 0.0015 * speed
                runs.append(base | {"created": start, "finished": t, "wall_seconds": wall, "cell_seconds": cells,
                                    "overhead_seconds": wall - cells, "overhead_pct": 100 * (wall - cells) / wall,
                                    "imports_seconds": None, "steps": len(STEPS), "steps_failed": 0,
                                    "status": "succeeded", "epochs": config["training"]["epochs"], "cores": 2,
                                    "cpu_per_step": cpu_per_step, "python": PYTHON_BUILD, "block": block,
                                    "block_position": position, "block_order": " > ".join(backends), "order_seed": seed,
                                    "cal_python": PYTHON_BUILD, "cal_before_t": start - 8, "cal_after_t": t,
                                    "cal_before_keras_step_s": keras, "cal_after_keras_step_s": keras * rng.normal(1, 0.03),
                                    "cal_before_python_s": 0.9 * speed, "cal_after_python_s": 0.9 * speed,
                                    "cal_before_steal_pct": 0.5, "cal_after_steal_pct": 0.5, "cpu_idle_pct": 20.0,
                                    "cpu_steal_pct": 0.5, "cpu_iowait_pct": 0.0})
                t += 20
    uploads, cell_rows = [], []
    upload = config["upload"]
    for setup in upload["setups"]:
        for latency in upload["latencies_ms"]:
            cell = f"results/raw/upload/{setup}/{latency:g}ms"
            cell_rows.append({"cell": cell, "setup": setup, "latency_ms": latency, "status": "succeeded",
                              "reason": None, "uploads": 0, "failed": 0})
            for size in upload["model_sizes_mb"]:
                for rep in range(1, upload["repetitions"] * scale + 1):
                    seconds = 0.02 + size / 200 + latency / 1000 * (2 + size / 40) * rng.lognormal(0, 0.05)
                    uploads.append({"setup": setup, "store": "synthetic", "model_mb": size, "bytes": int(size * 2**20),
                                    "latency_ms": latency, "emulation": "synthetic", "rep": rep, "seconds": seconds,
                                    "throughput_mb_s": size * 2**20 / 1e6 / seconds, "verified": True,
                                    "part_size": 16 * 2**20, "verify_method": "etag", "requests": 1,
                                    "window_bytes": 4 * 2**20, "warmup_uploads": 1,
                                    "started": 1.8e9, "status": "ok", "error": None,
                                    "cell": cell, "study": config["study"], "endpoint": "synthetic",
                                    "unit": upload["size_unit"], "bucket": upload["store"]["bucket"]})
                    cell_rows[-1]["uploads"] += 1
    return (pd.DataFrame(steps, columns=STEP_COLUMNS), pd.DataFrame(runs, columns=RUN_COLUMNS),
            pd.DataFrame(uploads, columns=UPLOAD_COLUMNS), pd.DataFrame(cell_rows, columns=CELL_COLUMNS))
