"""The serving cells a configuration's ``serving`` section asks for, and their files."""

from __future__ import annotations

from typing import Any

from .. import paths
from ..upload.setups import SETUPS
from .methods import METHODS


def serving_cells(config: dict[str, Any]):
    """(setup, method, latency_ms, model_mb) of every serving cell, in a fixed order; none without a
    ``serving`` section. A method that needs the edge as a pod runs only in setups on a cluster."""
    serving = config.get("serving")
    if not serving:
        return
    for setup in serving["setups"]:
        for method in serving["methods"]:
            if METHODS[method].needs_pod and not SETUPS[setup].on_cluster:
                continue
            for latency in serving["latencies_ms"]:
                for size in serving["model_sizes_mb"]:
                    yield setup, method, latency, size


def serving_cell_files(config: dict[str, Any]) -> list[str]:
    return [paths.serving_cell(*cell) for cell in serving_cells(config)]


def update_count(config: dict[str, Any]) -> int:
    """New versions per cell (0 without a ``serving`` section)."""
    return config["serving"]["updates"] if config.get("serving") else 0


# The serving-run options a configuration's serving section sets, with the key each comes from.
RUN_OPTIONS = {"--poll-interval-s": "poll_interval_s", "--rate-per-s": "rate_per_s", "--settle-s": "settle_s",
               "--update-timeout-s": "update_timeout_s", "--request-timeout-s": "request_timeout_s",
               "--ready-timeout-s": "ready_timeout_s", "--image": "image"}


def run_args(config: dict[str, Any]) -> str:
    """The serving-run arguments of a configuration's serving section (its defaults filled in)."""
    from ..config import with_defaults

    if not config.get("serving"):
        return ""
    serving = with_defaults(config["serving"], "serving")
    return " ".join(f"{option} {serving[key]}" for option, key in RUN_OPTIONS.items())
