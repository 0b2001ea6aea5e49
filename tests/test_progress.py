"""Unit tests of the study's progress and its estimate of the time left, on run directories made here."""

import copy
import json

import pytest
import yaml

from mlopsbench import paths
from mlopsbench.config import validate_config
from mlopsbench.progress import Timings, describe, design_seconds, estimate, measured_seconds


@pytest.fixture
def config(repo):
    design = yaml.safe_load((repo / "config/quick.yaml").read_text())
    design["pipeline"] |= {"backends": ["local", "monolithic"], "repetitions": 1}
    design["upload"] |= {"setups": ["host"], "latencies_ms": [0, 400]}
    design["serving"] |= {"setups": ["host"], "latencies_ms": [0], "model_sizes_mb": [1, 4], "updates": 2}
    return validate_config(design)


def finish_run(study, backend, width, size_mb, seconds):
    run_dir = study / paths.pipeline_run(backend, width, 3, size_mb, 1)
    run_dir.parent.mkdir(parents=True)
    (run_dir.parent / "events.jsonl").write_text(json.dumps({"t": 1000.0}) + "\n")
    run_dir.write_text(json.dumps({"finished": 1000.0 + seconds}))


def finish_cell(study, setup, latency, seconds):
    cell = study / paths.upload_cell(setup, latency)
    cell.parent.mkdir(parents=True)
    records = [{"started": 1000.0, "seconds": 5.0}, {"started": 1000.0 + seconds - 10.0, "seconds": 10.0}]
    (cell.parent / "uploads.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    cell.write_text("{}")


def test_nothing_measured_gives_no_estimate(config, tmp_path):
    found = estimate(config, tmp_path)
    assert found["runs_done"] == 0 and found["runs"] == 14 and found["cells"] == 2 and found["seconds_left"] is None
    assert "no estimate" in describe(found)


def test_the_rest_is_estimated_from_what_finished(config, tmp_path):
    finish_run(tmp_path, "local", 8, 2, 100.0)      # 50 s per MB
    finish_run(tmp_path, "monolithic", 8, 2, 60.0)  # the same configuration: mean 80 s
    finish_cell(tmp_path, "host", 0, 30.0)
    found = estimate(config, tmp_path)
    assert found["runs_done"] == 2 and found["cells_done"] == 1 and found["based_on"] == 3
    per_mb = (100 / 2 + 60 / 2) / 2
    others = [c for c in (0.1, 0.5, 1, 2) if c != 2]
    expected_runs = sum(2 * per_mb * size for size in others) + 3 * 2 * per_mb * 1  # the 1 MB model series: 3 widths
    assert found["seconds_left"] == pytest.approx(expected_runs + 30.0, rel=0.05)
    assert "2 of 14 pipeline runs, 0 of 2 serving cells and 1 of 2 upload cells done; about" in describe(found)
    assert "not counting the serving cells until one has finished" in describe(found)


def finish_serving(study, size_mb, seconds):
    cell = study / paths.serving_cell("host", "in-place", 0, size_mb)
    cell.parent.mkdir(parents=True)
    records = [{"sent": 1000.0, "seconds": 0.01}, {"sent": 1000.0 + seconds - 1.0, "seconds": 1.0}]
    (cell.parent / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    cell.write_text("{}")


def test_serving_cells_are_estimated_once_one_finished(config, tmp_path):
    finish_run(tmp_path, "local", 8, 2, 100.0)
    finish_cell(tmp_path, "host", 0, 30.0)
    before = estimate(config, tmp_path)["seconds_left"]
    finish_serving(tmp_path, 1, 40.0)    # two updates: 20 s each
    found = estimate(config, tmp_path)
    assert found["serving_done"] == 1 and found["serving_estimated"]
    assert found["seconds_left"] == pytest.approx(before + 40.0)   # the 4 MB cell: what the 1 MB one took
    assert measured_seconds(Timings(config, tmp_path))["serving host"] == pytest.approx(40.0)


def test_another_design_is_predicted_per_backend_from_what_finished(config, tmp_path):
    finish_run(tmp_path, "local", 8, 2, 100.0)
    finish_run(tmp_path, "monolithic", 8, 2, 60.0)
    finish_cell(tmp_path, "host", 0, 30.0)
    assert measured_seconds(Timings(config, tmp_path)) == pytest.approx(
        {"pipeline local": 100.0, "pipeline monolithic": 60.0, "upload host": 30.0})

    design = copy.deepcopy(config)
    design["pipeline"]["repetitions"] = 3
    design["upload"]["repetitions"] *= 2
    predicted = design_seconds(design, Timings(config, tmp_path))
    per_mb = (100 / 2 + 60 / 2) / 2
    unmeasured_mb = 3 * (0.1 + 0.5 + 1) + 3 * 3 * 1    # 8x8x8 at the other sizes; three widths at 1 MB
    # A configuration measured on this backend takes what it took there, not the mean of both backends.
    assert predicted["pipeline local"] == pytest.approx(3 * 100.0 + per_mb * unmeasured_mb)
    assert predicted["pipeline monolithic"] == pytest.approx(3 * 60.0 + per_mb * unmeasured_mb)
    # Twice the uploads per cell; the 400 ms cell, never measured, takes what one upload took at 0 ms.
    assert predicted["upload host"] == pytest.approx(2 * 2 * 30.0, abs=1e-9)


def test_a_design_with_a_backend_nothing_measured_has_no_estimate_for_it(config, tmp_path):
    finish_cell(tmp_path, "host", 0, 30.0)
    predicted = design_seconds(config, Timings(config, tmp_path))
    assert predicted["pipeline local"] is None and predicted["upload host"] == pytest.approx(60.0, abs=1e-9)
