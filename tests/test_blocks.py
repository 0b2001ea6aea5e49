"""Blocks of the pipeline experiment: every backend of one configuration and repetition back to
back, in a drawn and recorded order, each run calibrated before and after on its interpreter.

The integration tests run real blocks (local and monolithic, TensorFlow included) on tiny data
through the CLI; the unit tests cover the order, the wait for cores and a failed calibration."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest

from mlopsbench.pipeline.block import block_order
from mlopsbench.pipeline.calibration import CalibrationFailed, CalibrationSettings, measure
from mlopsbench.pipeline.run import read_events
from mlopsbench.pipeline.tidy import tidy_pipeline
from mlopsbench.pipeline.timing import add_core_waits
from mlopsbench.rawdirs import RunDir
from mlopsbench.records import Calibration, CpuTimes

BACKENDS = ["local", "monolithic"]


def run_block(repo, dataset, block, backends=BACKENDS):
    return subprocess.run([sys.executable, "-m", "mlopsbench.cli", "pipeline-block", "--backends", *backends,
                           "--notebook", str(repo / "notebooks/intel54_pipeline.ipynb"), "--dataset", str(dataset),
                           "--dataset-mb", "0.02", "--width", "8", "--epochs", "1", "--series", "dataset",
                           "--rep", "1", "--block", str(block), "--cores", "2", "--order-seed", "7",
                           "--calibration-python-iterations", "20000", "--calibration-keras-steps", "5"],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def block(repo, dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("blocks") / "8x8x8_0.02MB/1/block.json"
    done = run_block(repo, dataset, path)
    assert done.returncode == 0, done.stderr[-3000:]
    return path


@pytest.mark.integration
def test_a_block_runs_its_backends_in_the_drawn_order_and_records_it(block):
    order = block_order(BACKENDS, 7, "8x8x8_0.02MB", 1)
    record = pd.read_json(block, typ="series")
    assert list(record["order"]) == order and record["seed"] == 7 and record["block"] == "8x8x8_0.02MB/1"
    starts = []
    for position, name in enumerate(order):
        events = read_events(RunDir(block.parent / name).events)
        assert events[0].block.order == order and events[0].block.position == position
        assert set(events[0].digests) == {"notebook", "DATASET"}
        starts.append(events[0].t)
    assert starts == sorted(starts)  # back to back, in that order


@pytest.mark.integration
def test_every_run_is_calibrated_before_and_after_on_its_own_interpreter(block, tmp_path):
    for name in BACKENDS:
        events = read_events(RunDir(block.parent / name).events)
        calibrations = [e for e in events if isinstance(e, Calibration)]
        assert [c.phase for c in calibrations] == ["before", "after"]
        assert all(c.python == sys.version and c.keras_step_seconds > 0 and c.python_loop_seconds > 0
                   for c in calibrations)
        ticks = [e for e in events if isinstance(e, CpuTimes)]
        assert [t.phase for t in ticks] == ["start", "end"]
        # The calibrations lie outside the run's steps: the first step starts after the first one ends.
        first_step = next(e.t for e in events if getattr(e, "event", None) == "created")
        assert calibrations[0].t + calibrations[0].seconds <= first_step <= calibrations[1].t
    _, runs = tidy_pipeline([block.parent / n for n in BACKENDS], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert set(runs["block"]) == {"8x8x8_0.02MB/1"} and sorted(runs["block_position"]) == [0, 1]
    for column in ("cal_before_keras_step_s", "cal_after_keras_step_s", "cal_before_python_s", "cal_after_python_s"):
        assert (runs[column] > 0).all(), column
    shares = runs[["cpu_idle_pct", "cpu_steal_pct", "cpu_iowait_pct"]]
    assert shares.notna().all().all() and (shares >= 0).all().all() and (shares.sum(axis=1) <= 100).all()
    assert (runs["cal_python"] == runs["python"]).all()  # the calibration's build is the steps' own


@pytest.mark.integration
def test_a_block_resumes_without_running_a_finished_run_again(repo, dataset, block):
    before = {n: RunDir(block.parent / n).events.read_bytes() for n in BACKENDS}
    again = run_block(repo, dataset, block)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stderr.count("finished earlier; kept") == 2
    assert {n: RunDir(block.parent / n).events.read_bytes() for n in BACKENDS} == before


@pytest.mark.integration
def test_a_finished_run_of_other_data_is_superseded_and_measured_again(repo, dataset, block, tmp_path):
    copy = tmp_path / "8x8x8_0.02MB/1/block.json"
    shutil.copytree(block.parent, copy.parent)
    copy.unlink()
    changed = tmp_path / "changed.csv"
    changed.write_text(dataset.read_text() + dataset.read_text().splitlines()[-1] + "\n")
    again = run_block(repo, changed, copy, backends=["monolithic"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "monolithic finished with other parameters (DATASET's content)" in again.stderr
    kept = list(copy.parent.glob("monolithic.superseded-*"))
    assert len(kept) == 1 and RunDir(copy.parent / "monolithic").finished.exists()
    _, runs = tidy_pipeline([copy.parent / "monolithic"], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert sorted(runs["status"]) == ["succeeded", "superseded"]


def test_the_order_is_drawn_per_block_and_repeats_for_the_same_block():
    backends = ["kubernetes", "local", "monolithic"]
    assert block_order(backends, 2020, "8x8x8_40MB", 1) == block_order(list(reversed(backends)), 2020, "8x8x8_40MB", 1)
    orders = {tuple(block_order(backends, 2020, f"8x8x8_{size}MB", rep)) for size in (2, 10, 20, 40) for rep in (1, 2, 3)}
    assert len(orders) > 1 and all(sorted(o) == backends for o in orders)


def test_waiting_for_cores_ends_when_the_branch_beside_frees_them():
    """Unit test: on 2 cores dnnfit (2) waits for plot; on 8 cores it would not have waited."""
    def rows():
        return [{"step": "plot", "created": 0.0, "scheduled": 0.0, "finished": 30.0, "overhead_seconds": 1.0,
                 "duration_seconds": 30.0},
                {"step": "dnnfit", "created": 2.0, "scheduled": 31.5, "finished": 100.0, "overhead_seconds": 31.0,
                 "duration_seconds": 98.0}]
    two = rows()
    add_core_waits(two, cores=2, cpu={"plot": 1, "dnnfit": 2})
    assert two[0]["core_wait_seconds"] == 0 and two[1]["core_wait_seconds"] == 28.0
    # what dnnfit waited beyond the freed cores (1.5 s) stays overhead
    assert two[1]["overhead_nowait_seconds"] == 3.0 and two[1]["overhead_nowait_pct"] == pytest.approx(100 * 3 / 70)
    eight = rows()
    add_core_waits(eight, cores=8, cpu={"plot": 1, "dnnfit": 4})
    assert eight[1]["core_wait_seconds"] == 0 and eight[1]["overhead_nowait_seconds"] == 31.0


def test_a_step_waits_while_its_siblings_hold_the_cores_they_were_given_first():
    """Unit test: three one-core steps created together on 2 cores; the third waits from the moment
    the other two hold both cores until the first of them ends, not for the scheduler's own delay."""
    siblings = [{"step": name, "created": 0.0, "scheduled": start, "finished": end, "overhead_seconds": 1.0,
                 "duration_seconds": end} for name, start, end in (("a", 0.01, 2.0), ("b", 0.01, 5.0),
                                                                   ("c", 2.3, 4.0))]
    add_core_waits(siblings, cores=2, cpu={})
    assert [row["core_wait_seconds"] for row in siblings] == [0, 0, pytest.approx(1.99)]


def test_a_failed_calibration_names_the_interpreter(tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'no such module' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(CalibrationFailed, match=rf"before the run failed on {broken} \(exit 3\): no such module"):
        measure(str(broken), CalibrationSettings(10, 1), "before")
