"""Unit tests of the study's progress and its estimate of the time left, on run directories made here."""

import json

import pytest
import yaml

from mlopsbench import paths
from mlopsbench.config import validate_config
from mlopsbench.progress import describe, estimate


@pytest.fixture
def config(repo):
    design = yaml.safe_load((repo / "config/quick.yaml").read_text())
    design["pipeline"] |= {"backends": ["local", "monolithic"], "repetitions": 1}
    design["upload"] |= {"setups": ["host"], "latencies_ms": [0, 400]}
    return validate_config(design)


def finish_run(study, backend, width, size_mb, seconds):
    run_dir = study / paths.pipeline_run(backend, width, 3, size_mb, 1)
    run_dir.parent.mkdir(parents=True)
    (run_dir.parent / "events.jsonl").write_text(json.dumps({"t": 1000.0}) + "\n")
    run_dir.write_text(json.dumps({"finished": 1000.0 + seconds}))


def test_nothing_measured_gives_no_estimate(config, tmp_path):
    found = estimate(config, tmp_path)
    assert found["runs_done"] == 0 and found["runs"] == 14 and found["cells"] == 2 and found["seconds_left"] is None
    assert "no estimate" in describe(found)


def test_the_rest_is_estimated_from_what_finished(config, tmp_path):
    finish_run(tmp_path, "local", 8, 2, 100.0)      # 50 s per MB
    finish_run(tmp_path, "monolithic", 8, 2, 60.0)  # the same configuration: mean 80 s
    for latency, seconds in ((0, 30.0),):
        cell = tmp_path / paths.upload_cell("host", latency)
        cell.parent.mkdir(parents=True)
        (cell.parent / "uploads.jsonl").write_text(json.dumps({"started": cell.parent.stat().st_mtime - seconds}) + "\n")
        cell.write_text("{}")
    found = estimate(config, tmp_path)
    assert found["runs_done"] == 2 and found["cells_done"] == 1 and found["based_on"] == 3
    per_mb = (100 / 2 + 60 / 2) / 2
    others = [c for c in (0.1, 0.5, 1, 2) if c != 2]
    expected_runs = sum(2 * per_mb * size for size in others) + 3 * 2 * per_mb * 1  # the 1 MB model series: 3 widths
    assert found["seconds_left"] == pytest.approx(expected_runs + 30.0, rel=0.05)
    assert "2 of 14 pipeline runs and 1 of 2 upload cells done; about" in describe(found)
