"""One reference's uploads and serving measured twice, and how the second measure moves them.

The first measure is the reference's own (one node playing every role, the latency from the delay
proxy); the second is its ``topology`` part (the thesis's core and edge nodes, the latency in the
kernel's path on the edge node's link). Both change at once, so a difference belongs to the two
together. Per cell present in both: each median with its interval, and the second over the first;
per claim of the upload and serving experiments judged in both: each verdict, and whether it held.
The first is judged on the cells the second measured (its setups, latencies, sizes and methods), so
that a claim pooled over cells compares like with like.
"""

from __future__ import annotations

import pandas as pd

from .bundle import StatsBundle

# Each experiment's summary table and what names one of its cells.
CELLS = {"upload": ("upload_summary", ["setup", "latency_ms", "model_mb", "metric"]),
         "serving": ("serving_summary", ["setup", "method", "latency_ms", "model_mb", "metric"])}
SUMMARY_COLUMNS = ["n", "read", "mean", "median", "low", "high"]   # what the report's intervals read
CELL_COLUMNS = ["experiment", "setup", "method", "latency_ms", "model_mb", "metric",
                *(f"{c}_{which}" for which in ("first", "second") for c in SUMMARY_COLUMNS), "ratio"]
# The claims both measures can judge: the upload's (C7-C9) and the serving experiment's (S1-S4).
CLAIM_PREFIXES = ("C7", "C8", "C9", "S")
CLAIM_COLUMNS = ["id", "claim", "verdict_first", "evidence_first", "verdict_second", "evidence_second", "held"]
# What names a cell in each tidy table the upload and serving statistics read (``analyse``'s arguments).
TABLE_CELLS = {"uploads": ["setup", "latency_ms", "model_mb"], "cells": ["setup", "latency_ms"],
               "serving_updates": ["setup", "method", "latency_ms", "model_mb"],
               "serving_requests": ["setup", "method", "latency_ms", "model_mb"]}


def shared_cells(first: dict, second: dict) -> dict:
    """``first``'s tables (named as in ``TABLE_CELLS``, None where absent) keeping only the cells that
    ``second``'s have."""
    kept = {}
    for name, keys in TABLE_CELLS.items():
        mine, theirs = first.get(name), second.get(name)
        if mine is None or theirs is None:
            kept[name] = None
            continue
        kept[name] = mine[mine.set_index(keys).index.isin(theirs.set_index(keys).index)].reset_index(drop=True)
    return kept


def compare(first: StatsBundle, second: StatsBundle) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells and the claims of ``first`` and ``second`` side by side (empty where they share none)."""
    return _cells(first, second), _claims(first.claims, second.claims)


def _cells(first: StatsBundle, second: StatsBundle) -> pd.DataFrame:
    frames = []
    for experiment, (table, keys) in CELLS.items():
        a, b = getattr(first, table), getattr(second, table)
        if a.empty or b.empty:
            continue
        kept = keys + SUMMARY_COLUMNS
        both = a[kept].merge(b[kept], on=keys, suffixes=("_first", "_second"))
        both["ratio"] = both["median_second"] / both["median_first"]
        frames.append(both.assign(experiment=experiment))
    if not frames:
        return pd.DataFrame(columns=CELL_COLUMNS)
    return pd.concat(frames, ignore_index=True).reindex(columns=CELL_COLUMNS)


def _claims(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    if first.empty or second.empty:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    kept = ["id", "claim", "verdict", "evidence"]
    judged = [frame.loc[frame["id"].str.startswith(CLAIM_PREFIXES), kept] for frame in (first, second)]
    both = judged[0].merge(judged[1].drop(columns="claim"), on="id", suffixes=("_first", "_second"))
    both["held"] = both["verdict_first"] == both["verdict_second"]
    return both.reindex(columns=CLAIM_COLUMNS)
