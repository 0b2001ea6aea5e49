"""The shipped reference run rebuilds from its raw exports alone into the very tables it ships."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from mlopsbench import paths
from mlopsbench.reference import MANIFEST

pytestmark = pytest.mark.integration
REFERENCE = "reference/cluster-thesis"


@pytest.fixture(scope="module")
def shipped(repo):
    folder = repo / REFERENCE
    if not (folder / MANIFEST).exists():
        pytest.skip(f"{REFERENCE} has no {MANIFEST} yet: the reference run is still being measured")
    return folder


def test_every_shipped_file_matches_its_manifest(shipped):
    from mlopsbench.data.download import sha256_of

    manifest = json.loads((shipped / MANIFEST).read_text())
    assert manifest["bytes"] < 30e6 and manifest["measured_with_commit"]
    for name, digest in manifest["files"].items():
        assert sha256_of(shipped / name) == digest, name


def test_the_reference_rebuilds_from_its_raw_exports_alone(repo, shipped, tmp_path, cli_env):
    copy = tmp_path / "reference"
    shutil.copytree(shipped, copy, ignore=shutil.ignore_patterns("tidy", "stats", "figures", "report"))
    done = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "reference", "rebuild", "--dir", str(copy),
                           "--template", str(repo / "report/report.md.j2")], capture_output=True, text=True,
                          env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    for table in (paths.PIPELINE_STEPS, paths.PIPELINE_RUNS, paths.UPLOADS, paths.UPLOAD_CELLS):
        rebuilt = pd.read_parquet(copy / table).drop(columns=["raw_dir", "cell"], errors="ignore")
        ours = pd.read_parquet(shipped / table).drop(columns=["raw_dir", "cell"], errors="ignore")
        pd.testing.assert_frame_equal(rebuilt, ours, check_exact=True)
    assert (copy / paths.REPORT).stat().st_size > 100_000


def test_collect_copies_what_finished_with_its_kept_attempts_and_nothing_else(repo, tmp_path):
    from mlopsbench.config import load_config
    from mlopsbench.reference import collect, exports

    folder, study = tmp_path / "reference", tmp_path / "study"
    folder.mkdir()
    shutil.copy(repo / REFERENCE / "config.yaml", folder / "config.yaml")
    runs, cells = exports(load_config(folder / "config.yaml"))
    finished, unfinished, cell = study / runs[0], study / runs[1], study / cells[0]
    for directory in (finished, unfinished, cell, finished.with_name(f"{finished.name}.attempt-20261202T000000Z")):
        (directory / "artifacts").mkdir(parents=True)
        (directory / "artifacts/figure.png").write_bytes(b"png")
        (directory / "events.jsonl").write_text("{}\n")
    for directory in (finished, cell):
        (directory / "run.json").write_text("{}")
    checked = study / paths.RAW_INTEL_LAB_CHECKED
    checked.parent.mkdir(parents=True)
    checked.write_text(json.dumps({"sha256": "0" * 64}))

    copied = collect(study, folder)
    assert sorted(copied) == sorted([runs[0], f"{runs[0]}.attempt-20261202T000000Z", cells[0]])
    assert (folder / runs[0] / "run.json").exists() and not (folder / runs[0] / "artifacts").exists()
    assert not (folder / runs[1]).exists()  # the next sitting resumes it
    assert (folder / "inputs/data.checked.json").exists()
    assert collect(study, folder) == []  # what was collected stays as collected


def test_the_full_design_is_predicted_per_backend_and_setup_from_the_reference(repo, shipped):
    from mlopsbench.config import load_config
    from mlopsbench.reference import wall_time

    times = wall_time(shipped, load_config(repo / "config/cluster-thesis.yaml"))
    expected = {"pipeline kubernetes", "pipeline local", "pipeline monolithic",
                "upload host", "upload netns", "upload vm", "upload pod"}
    assert set(times["measured"]) == {key for key in times["design"] if not key.startswith("serving ")} == expected
    # The full design repeats everything more often than the reference did.
    assert all(times["design"][key] > times["measured"][key] > 0 for key in expected)
    # The reference ran no serving cell, so nothing predicts the design's: no estimate, never a guess.
    assert all(seconds is None for key, seconds in times["design"].items() if key.startswith("serving "))
    assert json.loads((shipped / MANIFEST).read_text())["measured_wall_s"] == pytest.approx(times["measured"])


def test_an_attempt_cut_short_before_its_logs_were_fetched_is_kept_and_never_counted(repo):
    """Sitting 1's machine was reclaimed while kubernetes 8x8x8_40MB rep 2 trained: its first steps had
    finished, but the runner never fetched their logs. Its rows stay, without cell times, uncounted."""
    from mlopsbench.pipeline.tidy import read_run

    attempt = next((repo / REFERENCE / "results/raw/pipeline/kubernetes/8x8x8_40MB").glob("2.attempt-*"))
    rows, run = read_run(attempt, kept_as="attempt")
    finished = [r for r in rows if r["status"] == "succeeded"]
    assert finished and all(r["cell_seconds"] is None for r in finished)
    assert run["status"] == "interrupted" and {r["run_status"] for r in rows} == {"interrupted"}
