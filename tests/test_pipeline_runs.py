"""Integration tests: the compiled pipeline runs for real (TensorFlow included) on tiny data."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from mlopsbench.pipeline.backends import backend
from mlopsbench.pipeline.compiler import compile_notebook
from mlopsbench.pipeline.run import RunFailed, RunSpec, read_events
from mlopsbench.pipeline.tidy import STEP_COLUMNS, TidyError, read_run, tidy_pipeline
from mlopsbench.rawdirs import RunDir
from mlopsbench.records import RunIdentity, StepEvent

pytestmark = pytest.mark.integration

PARAMETERS = {"WIDTH": 8, "HIDDEN_LAYERS": 3, "EPOCHS": 2, "SEED": 1}


def spec(backend_name, run_dir, dataset, **kwargs):
    identity = RunIdentity(study="test", backend=backend_name, configuration="8x8x8_0.02MB", rep=1, series="dataset",
                           dataset_mb=0.02, width=8, hidden_layers=3)
    return RunSpec(identity, run_dir, PARAMETERS | {"DATASET": str(dataset)}, cores=2, **kwargs)


def run(plan, spec):
    return backend(spec.backend).run(plan, spec)


@pytest.fixture(scope="module")
def local_run(repo, dataset, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "local/8x8x8_0.02MB/1"
    run(compile_notebook(repo / "notebooks/intel54_pipeline.ipynb"), spec("local", run_dir, dataset))
    return run_dir


def test_local_run_records_every_step_in_order(local_run):
    events = read_events(local_run / "events.jsonl")
    assert events[0].EVENT == "run-started" and events[-1].EVENT == "run-finished"
    assert events[-1].status == "succeeded"
    by_step = {}
    for event in (e for e in events if isinstance(e, StepEvent)):
        by_step.setdefault(event.step, {})[event.event] = event.t
    assert len(by_step) == 9
    for step, t in by_step.items():
        assert t["created"] <= t["dispatched"] <= t["started"] <= t["finished"], step
    assert by_step["dnncompile"]["finished"] <= by_step["dnnfit"]["created"]
    assert json.loads(RunDir(local_run).finished.read_text())["status"] == "succeeded"
    assert not (local_run / "marshal").exists()
    assert sorted(p.name for p in (local_run / "artifacts").iterdir()) == ["loss.png", "pairplot.png",
                                                                           "predictions.png"]


def test_logs_carry_each_cells_own_time(local_run):
    log = (local_run / "logs/dnnfit.log").read_text()
    assert "Epoch 2/2" in log and "[JT] dnnfit time(s) " in log and "[JT] end cell" in log
    assert "[MLB] marshal load dnncompile/dnn_model keras" in log


def test_tidy_rows_follow_the_overhead_definition(local_run, tmp_path):
    steps, runs = tidy_pipeline([local_run], tmp_path / "steps.parquet", tmp_path / "runs.parquet")
    assert list(steps.columns) == STEP_COLUMNS and len(steps) == 9
    assert (steps["status"] == "succeeded").all() and (steps["timestamp_source"] == "local-runner").all()
    assert (steps["duration_seconds"] == steps["finished"] - steps["created"]).all()
    assert (steps["overhead_seconds"] == steps["duration_seconds"] - steps["cell_seconds"]).all()
    assert (steps["overhead_pct"] - 100 * steps["overhead_seconds"] / steps["duration_seconds"]).abs().max() < 1e-9
    # createdict's cell (`test_results = {}`) can take 0.0 s on the notebook's own clock.
    assert (steps["overhead_seconds"] > 0).all() and (steps["cell_seconds"] >= 0).all()
    assert steps.set_index("step").loc["dnnfit", "cell_seconds"] > 0
    assert steps["trainable_params"].unique().tolist() == [185] and steps["model"].unique().tolist() == ["8x8x8"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "steps.parquet"), steps)
    assert runs.loc[0, "status"] == "succeeded" and runs.loc[0, "wall_seconds"] > steps["cell_seconds"].sum()
    # Every step says which interpreter build ran it: here, the runner's.
    assert set(steps["python"]) == {runs.loc[0, "python"]} == {" ".join(sys.version.split())}


def test_runs_of_one_id_in_folders_of_their_own_are_each_counted_once(local_run, tmp_path):
    """A benchmark's variants run the same backend, configuration and repetition in folders of their
    own: each run keeps its own steps, named by its folder; the same folder given twice is refused."""
    variants = [tmp_path / "runs" / name / "local/8x8x8_0.02MB/1" for name in ("stock", "variant")]
    for folder in variants:
        shutil.copytree(local_run, folder)
    steps, runs = tidy_pipeline(variants, tmp_path / "steps.parquet", tmp_path / "runs.parquet")
    assert sorted(runs["run_id"]) == ["stock/local/8x8x8_0.02MB/1", "variant/local/8x8x8_0.02MB/1"]
    assert steps.groupby("run_id").size().tolist() == [9, 9]
    assert len(steps.merge(runs[["run_id"]], on="run_id")) == len(steps) == 18
    with pytest.raises(TidyError, match="given twice"):
        tidy_pipeline([*variants, variants[0]], tmp_path / "steps.parquet", tmp_path / "runs.parquet")


def test_peak_memory_the_runner_counts_agrees_with_the_steps_own(local_run, tmp_path):
    """wait4()'s count on this machine; the step's own getrusage where no runner can wait for it
    (a pod). Both read the same ru_maxrss of the same process, so they must agree."""
    from mlopsbench.pipeline.timing import log_marks

    steps, _ = tidy_pipeline([local_run], tmp_path / "steps.parquet", tmp_path / "runs.parquet")
    for _, row in steps.iterrows():
        own = log_marks(local_run / "logs" / f"{row['step']}.log")["peak_rss_mib"]
        assert own is not None and 0 < own <= row["peak_rss_mib"] <= own * 1.05 + 1, row["step"]
    assert steps.set_index("step").loc["dnnfit", "peak_rss_mib"] > 200  # TensorFlow is loaded


def test_every_step_prints_its_cgroups_cfs_throttling(local_run, tmp_path):
    """A local process reads the runner's cgroup as it ends: a count for every step, never a guess."""
    steps, _ = tidy_pipeline([local_run], tmp_path / "steps.parquet", tmp_path / "runs.parquet")
    assert steps["cfs_periods"].notna().all() and (steps["cfs_throttled_seconds"] >= 0).all()
    assert (steps["cfs_throttled_periods"] <= steps["cfs_periods"]).all()


def test_every_step_prints_the_cpu_its_cells_used(local_run, tmp_path):
    """The CPU seconds of a step's cells, every thread's: never more than the machine's cores could
    give in the step's wall time (TensorFlow's own pools can pass a step's share), and training
    keeps a core busy."""
    steps, _ = tidy_pipeline([local_run], tmp_path / "steps.parquet", tmp_path / "runs.parquet")
    assert steps["cpu_seconds"].notna().all() and (steps["cpu_seconds"] >= 0).all()
    assert (steps["cpu_seconds"] <= os.cpu_count() * steps["duration_seconds"] + 0.05).all()
    fit = steps.set_index("step").loc["dnnfit"]
    assert fit["cpu_seconds"] >= 0.5 * fit["cell_seconds"]


def test_every_step_prints_the_machines_busy_cpu_over_its_cells(local_run, tmp_path):
    """The machine's busy CPU over a step's cells, every process's: its own cells' CPU among it (the
    machine counts in ticks of 10 ms), never more than all cores for the step's wall time; the
    seconds its threads waited for a CPU, the pages its cells read back from disk and the blocks
    they read and wrote."""
    steps, _ = tidy_pipeline([local_run], tmp_path / "steps.parquet", tmp_path / "runs.parquet")
    counts = ["run_queue_seconds", "major_faults", "disk_read_blocks", "disk_write_blocks"]
    assert steps[counts].notna().all().all() and (steps[counts] >= 0).all().all()
    assert steps["machine_busy_seconds"].notna().all() and (steps["machine_steal_seconds"] >= 0).all()
    assert (steps["machine_busy_seconds"] >= 0.9 * steps["cpu_seconds"] - 0.05).all()
    assert (steps["machine_busy_seconds"] <= os.cpu_count() * steps["duration_seconds"] + 0.05).all()


def test_monolithic_baseline_times_each_cell_in_one_process(repo, dataset, tmp_path):
    run_dir = tmp_path / "monolithic/8x8x8_0.02MB/1"
    run(compile_notebook(repo / "notebooks/intel54_pipeline.ipynb"), spec("monolithic", run_dir, dataset))
    rows, summary = read_run(run_dir)
    assert [r["step"] for r in rows][:3] == ["preprocessing", "plot", "createdict"] and len(rows) == 9
    assert all(r["status"] == "succeeded" and r["timestamp_source"] == "in-process" for r in rows)
    assert all(0 <= r["overhead_seconds"] < 0.05 for r in rows)  # markers only, no process per cell
    assert summary["imports_seconds"] > 0 and summary["status"] == "succeeded"
    assert {r["python"] for r in rows} == {summary["python"]} == {" ".join(sys.version.split())}


def broken_notebook(repo, tmp_path, step, code):
    notebook = json.loads((repo / "notebooks/intel54_pipeline.ipynb").read_text())
    for cell in notebook["cells"]:
        if f"block:{step}" in cell["metadata"].get("tags", []):
            source = "".join(cell["source"])
            cell["source"] = source.replace("start = time.time()\n", f"start = time.time()\n{code}\n", 1)
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def test_failing_cell_fails_the_run_keeps_logs_and_skips_descendants(repo, dataset, tmp_path):
    run_dir = tmp_path / "local/8x8x8_0.02MB/1"
    plan = compile_notebook(broken_notebook(repo, tmp_path, "dnncompile", "raise RuntimeError('cell broke')"))
    with pytest.raises(RunFailed, match=r"run failed: step dnncompile exited with status 1"):
        run(plan, spec("local", run_dir, dataset))
    assert "RuntimeError: cell broke" in (run_dir / "logs/dnncompile.log").read_text()
    assert not RunDir(run_dir).finished.exists()
    rows, summary = read_run(run_dir)
    status = {r["step"]: r["status"] for r in rows}
    assert status == {"preprocessing": "succeeded", "plot": "succeeded", "createdict": "succeeded",
                      "dnncompile": "failed", "dnnfit": "skipped", "dnneval": "skipped",
                      "modelerrorssummary": "skipped", "dnnpredict": "skipped", "dnnpredictsummary": "skipped"}
    assert summary["status"] == "failed" and summary["steps_failed"] == 1

    # The next attempt keeps the failed one, unedited, and the tidy table reports both.
    plan = compile_notebook(repo / "notebooks/intel54_pipeline.ipynb")
    run(plan, spec("local", run_dir, dataset))
    steps, runs = tidy_pipeline([run_dir], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert runs["status"].tolist() == ["failed", "succeeded"]
    assert runs["run_id"].iloc[0].startswith("local/8x8x8_0.02MB/1.attempt-")


def test_step_timeout_fails_the_run(repo, dataset, tmp_path):
    run_dir = tmp_path / "local/8x8x8_0.02MB/1"
    plan = compile_notebook(broken_notebook(repo, tmp_path, "createdict", "time.sleep(60)"))
    with pytest.raises(RunFailed, match=r"step createdict timed out after 5 s"):
        run(plan, spec("local", run_dir, dataset, step_timeout=5))
    assert read_run(run_dir)[1]["status"] == "failed"


def test_missing_jt_line_is_an_error_naming_run_and_step(local_run, tmp_path):
    import shutil

    copy = tmp_path / "local/8x8x8_0.02MB/1"
    shutil.copytree(local_run, copy)
    log = copy / "logs/plot.log"
    log.write_text("\n".join(l for l in log.read_text().splitlines() if not l.startswith("[JT] plot time")))
    with pytest.raises(TidyError, match=r"run local/8x8x8_0\.02MB/1, step plot: .*plot\.log has no"):
        read_run(copy)


def test_cli_run_and_tidy(repo, dataset, tmp_path, cli_env):
    run_dir = tmp_path / "runs/monolithic/8x8x8_0.02MB/2"
    cli = [sys.executable, "-m", "mlopsbench.cli"]
    result = subprocess.run(cli + ["pipeline-run", "--backend", "monolithic", "--notebook",
                                   str(repo / "notebooks/intel54_pipeline.ipynb"), "--dataset", str(dataset),
                                   "--dataset-mb", "0.02", "--width", "16", "--epochs", "1", "--series", "model",
                                   "--rep", "2", "--run-dir", str(run_dir), "--cores", "2"],
                            capture_output=True, text=True, env=cli_env)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(cli + ["pipeline-tidy", "--runs", str(run_dir), "--steps-output",
                                   str(tmp_path / "s.parquet"), "--runs-output", str(tmp_path / "r.parquet")],
                            capture_output=True, text=True, env=cli_env)
    assert result.returncode == 0, result.stderr
    steps = pd.read_parquet(tmp_path / "s.parquet")
    assert steps["model"].unique().tolist() == ["16x16x16"] and steps["trainable_params"].unique().tolist() == [625]
    assert steps["rep"].unique().tolist() == [2] and steps["series"].unique().tolist() == ["model"]


def test_notebook_runs_top_to_bottom_as_an_ordinary_notebook(repo, dataset, tmp_path, monkeypatch):
    """Every code cell in order in one namespace, as Jupyter's Run All does, with its own defaults."""
    notebook = json.loads((repo / "notebooks/intel54_pipeline.ipynb").read_text())
    default_dataset = tmp_path / "data/datasets/intel54_2MB.csv"  # the parameters cell's default path
    default_dataset.parent.mkdir(parents=True)
    default_dataset.write_bytes(dataset.read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {}
    printed = []
    monkeypatch.setattr("builtins.print", lambda *args, **kw: printed.append(" ".join(map(str, args))))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "<cell>", "exec"), namespace)
    jt = [line for line in printed if line.startswith("[JT]")]
    assert len(jt) == 2 * 9 and sum(line == "[JT] end cell" for line in jt) == 9
    assert namespace["EPOCHS"] == 20 and len(namespace["loss_history"]) == 20
    assert set(namespace["test_results"]) == {"dnn_model"}
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == ["loss.png", "pairplot.png", "predictions.png"]
