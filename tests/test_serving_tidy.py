"""Unit tests of the serving tidy on hand-made records: the parts of an update and time to serve
come out as computed by hand; failed, unanswered and late old-version requests are counted in
the update they ran through; a failed update has no time."""

import pytest

from mlopsbench.errors import InputError
from mlopsbench.rawdirs import ServingCellDir
from mlopsbench.records import JsonLines, ServingParameters, ServingRequest, ServingUpdate
from mlopsbench.serving.tidy import tidy_serving

PARAMETERS = ServingParameters(setup="host", method="in-place", latency_ms=50.0, model_mb=1.0, poll_interval_s=1.0,
                               rate_per_s=10.0, emulation="proxy", framework="kserve 0.21.0")


def request(update, sent, seconds, version, status=200, error=None):
    return ServingRequest(study="s", parameters=PARAMETERS, update=update, due=sent, sent=sent, seconds=seconds,
                          status=status, model_version=version, error=error)


@pytest.fixture
def cell(tmp_path):
    raw = ServingCellDir(tmp_path / "host/in-place/50ms")
    raw.root.mkdir(parents=True)
    with JsonLines(raw.updates) as out:
        out.append(ServingUpdate(study="s", parameters=PARAMETERS, update=1, version="v2", upload_started=100.0,
                                 upload_ended=101.5, detected=102.0, download_started=102.0, download_ended=102.25,
                                 load_started=102.25, ready=103.0))
        out.append(ServingUpdate(study="s", parameters=PARAMETERS, update=2, version="v3", upload_started=200.0,
                                 upload_ended=201.0, detected=201.5, download_started=201.5, download_ended=201.75,
                                 load_started=201.75, status="failed", error="HTTP 503: bad file"))
    with JsonLines(raw.requests) as out:
        for r in [request(0, 99.0, 0.01, "v1"),
                  request(1, 102.5, 0.01, "v1"),
                  request(1, 103.1, 0.15, "v2"),           # the first answer from v2: at 103.25
                  request(1, 103.3, 0.01, "v1"),           # the old version after the switch
                  request(1, 103.4, 0.01, "v2"),
                  request(1, 103.5, None, None, status=None, error="ConnectTimeout"),
                  request(1, 103.6, 0.02, None, status=503, error="not ready"),
                  request(2, 201.8, 0.01, "v2")]:
            out.append(r)
    raw.finished.write_text("{}")
    return raw.root


def test_parts_and_time_to_serve_as_computed_by_hand(cell, tmp_path):
    updates, requests = tidy_serving([cell], tmp_path / "u.parquet", tmp_path / "r.parquet")
    first = updates.iloc[0]
    assert (first["upload_s"], first["detect_s"], first["download_s"], first["start_s"], first["load_s"]) == \
        (1.5, 0.5, 0.25, 0.0, 0.75)
    parts = first[["upload_s", "detect_s", "download_s", "start_s", "load_s", "deliver_s"]].sum()
    assert parts == pytest.approx(first["time_to_serve_s"])   # the parts follow one another
    assert first["deliver_s"] == pytest.approx(0.25) and first["time_to_serve_s"] == pytest.approx(3.25)
    assert (first["requests"], first["failed_requests"], first["unanswered_requests"],
            first["old_answers_after_switch"]) == (6, 1, 1, 1)
    failed = updates.iloc[1]
    assert failed["status"] == "failed" and failed["error"] == "HTTP 503: bad file"
    assert failed[["load_s", "deliver_s", "time_to_serve_s"]].isna().all()
    assert len(requests) == 8 and (requests["lag_s"] == 0).all()


def test_an_unfinished_cell_is_refused_by_name(cell, tmp_path):
    (cell / "run.json").unlink()
    with pytest.raises(InputError, match=f"{cell}: no run.json"):
        tidy_serving([cell], tmp_path / "u.parquet", tmp_path / "r.parquet")
