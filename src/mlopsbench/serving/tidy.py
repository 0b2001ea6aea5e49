"""Build ``serving_updates.parquet`` (one row per new version, with its parts) and
``serving_requests.parquet`` (one row per client request) from raw serving cells.

Time to serve is the first answer from the new version (its request's send time plus its
duration) minus the upload's start. Its parts follow one another on this machine's wall
clock: the upload, detection (the pointer changed until the updater had read it; in a roll-out
until the API took the new pod template), the download, the start (a roll-out's new pod
starting its containers around the download; none in place), the load, and the delivery (the
server's "loaded" until the first new answer).
An update that failed keeps its row with every part it did not reach empty, never a time.
During an update (its upload's start until the next update), a request that failed or that
no version answered is counted, and so is an answer from the old version after the first
answer from the new one.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from .. import atomic
from ..errors import InputError
from ..rawdirs import ServingCellDir
from ..records import ServingRequest, ServingUpdate, read_jsonl
from ..store.kernel_delay import DELAY_COLUMNS, delay_checked

PARAMETER_COLUMNS = ["setup", "method", "latency_ms", "model_mb", "poll_interval_s", "rate_per_s", "emulation",
                     "framework", "max_surge", "max_unavailable", "drain_s"]
UPDATE_COLUMNS = PARAMETER_COLUMNS + [
    "update", "version", "status", "error", "upload_started", "served", "upload_s", "detect_s", "download_s",
    "start_s", "load_s", "deliver_s", "time_to_serve_s", "requests", "failed_requests", "unanswered_requests",
    "old_answers_after_switch", "cell", "study", *DELAY_COLUMNS]
REQUEST_COLUMNS = PARAMETER_COLUMNS + ["update", "due", "sent", "seconds", "status", "model_version", "error",
                                       "lag_s", "cell"]


def _between(later: float | None, earlier: float | None) -> float | None:
    return later - earlier if later is not None and earlier is not None else None


def _sum(*parts: float | None) -> float | None:
    return None if None in parts else sum(parts)


def _update_row(update: ServingUpdate, during: list[ServingRequest], cell: Path) -> dict:
    """``during``: the requests that ran through this update."""
    new = sorted((r.sent + r.seconds for r in during if r.model_version == update.version and r.seconds is not None))
    first_answer = new[0] if new and update.status == "ok" else None
    return {
        **{name: getattr(update.parameters, name) for name in PARAMETER_COLUMNS},
        "update": update.update, "version": update.version, "status": update.status, "error": update.error,
        "upload_started": update.upload_started, "served": first_answer,
        "upload_s": update.upload_ended - update.upload_started,
        "detect_s": _between(update.detected, update.upload_ended),
        "download_s": _between(update.download_ended, update.download_started),
        # Between the download and the load: a roll-out's new pod starting its containers (0 in place).
        "start_s": _sum(_between(update.download_started, update.detected),
                        _between(update.load_started, update.download_ended)),
        "load_s": _between(update.ready, update.load_started),
        "deliver_s": _between(first_answer, update.ready),
        "time_to_serve_s": _between(first_answer, update.upload_started),
        "requests": len(during),
        "failed_requests": sum(r.status is not None and not (r.status == 200 and r.model_version) for r in during),
        "unanswered_requests": sum(r.status is None for r in during),   # no answer at all: refused or timed out
        "old_answers_after_switch": sum(first_answer is not None and r.model_version not in (None, update.version)
                                        and r.sent > first_answer for r in during),
        "cell": str(cell), "study": update.study,
    }


def _request_row(request: ServingRequest, cell: Path) -> dict:
    return {**{name: getattr(request.parameters, name) for name in PARAMETER_COLUMNS},
            "update": request.update, "due": request.due, "sent": request.sent, "seconds": request.seconds,
            "status": request.status, "model_version": request.model_version, "error": request.error,
            "lag_s": request.sent - request.due, "cell": str(cell)}


def tidy_serving(cell_dirs: list[str | Path], updates_out: str | Path, requests_out: str | Path):
    import pandas as pd

    update_rows, request_rows = [], []
    for cell in map(Path, cell_dirs):
        raw = ServingCellDir(cell)
        if not raw.finished.exists():
            raise InputError(f"{cell}: no {raw.finished.name}; the serving cell has not finished")
        requests = read_jsonl(raw.requests, ServingRequest.from_json, tolerate_truncated_tail=True)
        updates = read_jsonl(raw.updates, ServingUpdate.from_json, tolerate_truncated_tail=True)
        by_update = defaultdict(list)
        for request in requests:
            by_update[request.update].append(request)
        delay = delay_checked(raw.delay)
        update_rows += [_update_row(update, by_update[update.update], cell) | delay for update in updates]
        request_rows += [_request_row(request, cell) for request in requests]
    updates_table = pd.DataFrame(update_rows, columns=UPDATE_COLUMNS)
    requests_table = pd.DataFrame(request_rows, columns=REQUEST_COLUMNS)
    atomic.write_parquet(updates_out, updates_table)
    atomic.write_parquet(requests_out, requests_table)
    return updates_table, requests_table
