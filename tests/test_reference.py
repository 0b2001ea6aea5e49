"""The shipped reference run rebuilds from its raw exports alone into the very tables it ships."""

import gzip
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
    from mlopsbench.checksums import sha256_of

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
    # Pipeline runs and serving cells still to be measured (later sittings) are counted, not hidden.
    from mlopsbench.config import load_config
    from mlopsbench.reference import exports

    runs, _, serving = exports(load_config(copy / "config.yaml"))
    missing = {what: sum(not (copy / d / "run.json").exists() for d in design)
               for what, design in (("pipeline runs", runs), ("serving cells", serving))}
    summary = json.loads((copy / paths.STATS_DIR / "summary.json").read_text())
    assert summary["unmeasured"] == {what: n for what, n in missing.items() if n}
    # Every run printed its interpreter: the report names the one build all backends ran on.
    text = " ".join(subprocess.run(["pdftotext", str(copy / paths.REPORT), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    steps = pd.read_parquet(shipped / paths.PIPELINE_STEPS)
    (build,) = steps["python"].dropna().unique()
    assert "No run recorded the Python build" not in text
    assert all(f"{backend}: {build}" in text for backend in steps["backend"].unique())


def test_collect_copies_what_finished_with_its_kept_attempts_and_nothing_else(repo, tmp_path):
    from mlopsbench.config import load_config
    from mlopsbench.records import ServingRequest, read_jsonl
    from mlopsbench.reference import collect, exports

    folder, study = tmp_path / "reference", tmp_path / "study"
    folder.mkdir()
    shutil.copy(repo / REFERENCE / "config.yaml", folder / "config.yaml")
    runs, cells, serving = exports(load_config(folder / "config.yaml"))
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

    served = study / serving[0]
    served.mkdir(parents=True)
    request = {"v": 1, "study": "s", "update": 0, "due": 1.0, "sent": 1.0, "seconds": 0.01, "status": 200,
               "model_version": "v1", "error": None, "clock": "CLOCK_REALTIME",
               "parameters": {"setup": "host", "method": "in-place", "latency_ms": 0.0, "model_mb": 49.0,
                              "emulation": "proxy", "framework": "kserve", "poll_interval_s": 1.0, "rate_per_s": 20.0,
                              "max_surge": None, "max_unavailable": None, "drain_s": None}}
    (served / "requests.jsonl").write_text(json.dumps(request) + "\n")
    (served / "run.json").write_text("{}")
    (served / "logs").mkdir()
    (served / "logs/server.log").write_text("INFO kserve.trace: infer 200\n")

    copied = collect(study, folder)
    assert sorted(copied) == sorted([runs[0], f"{runs[0]}.attempt-20261202T000000Z", cells[0], serving[0]])
    # A serving cell's request records travel gzipped, and read back as they were written.
    assert not (folder / serving[0] / "requests.jsonl").exists()
    (packed,) = read_jsonl(folder / serving[0] / "requests.jsonl", ServingRequest.from_json)
    assert packed.to_json() == request
    assert gzip.decompress((folder / serving[0] / "logs/server.log.gz").read_bytes()) == b"INFO kserve.trace: infer 200\n"
    assert (folder / runs[0] / "run.json").exists() and not (folder / runs[0] / "artifacts").exists()
    assert not (folder / runs[1]).exists()  # the next sitting resumes it
    assert (folder / "inputs/data.checked.json").exists()
    assert collect(study, folder) == []  # what was collected stays as collected


def test_the_full_design_is_predicted_per_backend_and_setup_from_the_reference(repo, shipped):
    from mlopsbench.config import load_config
    from mlopsbench.reference import wall_time

    times = wall_time(shipped, load_config(repo / "config/cluster-thesis.yaml"))
    expected = {"pipeline kubernetes", "pipeline local", "pipeline monolithic",
                "upload host", "upload netns", "upload vm", "upload pod",
                "serving host", "serving netns", "serving vm", "serving pod"}
    assert set(times["measured"]) == set(times["design"]) == expected
    # The full design repeats everything more often than the reference did (5 updates per serving
    # cell against 3), and predicts its serving cells from the ones the reference measured.
    assert all(times["design"][key] > times["measured"][key] > 0 for key in expected)
    assert json.loads((shipped / MANIFEST).read_text())["measured_wall_s"] == pytest.approx(times["measured"])


def test_a_block_measured_again_is_compared_calibrated_with_the_references_range(shipped, tmp_path, cli_env):
    """What a person re-running one block elsewhere reads: one of the reference's own blocks, read as a
    block measured again, lies within the reference's range at every step and end to end; a block the
    study never finished is refused by its path."""
    block = "8x8x8_2MB/1"
    again = tmp_path / "study" / paths.PIPELINE_RAW / block
    shutil.copytree(shipped / paths.PIPELINE_RAW / block, again)
    done = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "reference", "compare-block", "--dir",
                           str(shipped), "--study", str(tmp_path / "study"), "--block", block],
                          capture_output=True, text=True, env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    compared = [line for line in lines if line.split()[:1] in (["kubernetes"], ["local"], ["monolithic"])]
    assert {line.split()[0] for line in compared} == {"kubernetes", "local", "monolithic"}
    assert not any(line.endswith("outside") for line in compared)
    assert lines[-1] == f"{len(compared)} of {len(compared)} within the reference's range"

    shutil.rmtree(again)
    refused = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "reference", "compare-block", "--dir",
                              str(shipped), "--study", str(tmp_path / "study"), "--block", block],
                             capture_output=True, text=True, env=cli_env)
    assert refused.returncode != 0 and str(again) in refused.stderr


def test_an_attempt_cut_short_before_its_logs_were_fetched_is_kept_and_never_counted(repo):
    """Sitting 1 of the first reference run (its raw exports are in the history at 362a4a4): the machine
    was reclaimed while kubernetes 8x8x8_40MB rep 2 trained, its first steps finished, but the runner
    never fetched their logs. Its rows stay, without cell times, uncounted."""
    from mlopsbench.pipeline.tidy import read_run

    attempt = next((repo / "tests/data/attempt-cut-short").glob("kubernetes-8x8x8_40MB-2.attempt-*"))
    rows, run = read_run(attempt, kept_as="attempt")
    finished = [r for r in rows if r["status"] == "succeeded"]
    assert finished and all(r["cell_seconds"] is None for r in finished)
    assert run["status"] == "interrupted" and {r["run_status"] for r in rows} == {"interrupted"}


def test_each_experiment_keeps_the_commit_and_machine_that_measured_it(repo, tmp_path):
    """The serving experiment was measured sittings after the pipeline and uploads, at another
    commit, and its roll-outs at a third: the manifest names each, and writing it again keeps what
    the earlier one recorded."""
    from mlopsbench.errors import InputError
    from mlopsbench.reference import MANIFEST, experiment_commits, write_manifest

    folder = tmp_path / "reference"
    folder.mkdir()
    shutil.copy(repo / REFERENCE / "config.yaml", folder / "config.yaml")
    first = {"pipeline": "a" * 40, "upload": "a" * 40, "serving-in-place": "b" * 40, "serving-rollout": "b" * 40}
    assert experiment_commits(folder, ["a" * 40, f"serving={'b' * 40}"]) == first
    assert experiment_commits(folder, ["a" * 40, f"serving={'b' * 40}", "serving-rollout=c"]) == first | {
        "serving-rollout": "c"}
    assert experiment_commits(folder, ["serving-rollout=c", f"serving={'b' * 40}", "a" * 40]) == first | {
        "serving-rollout": "c"}   # the part named on its own wins, whatever the order
    with pytest.raises(InputError, match="designs only"):
        experiment_commits(folder, ["a" * 40, "training=c"])
    (folder / MANIFEST).write_text(json.dumps({"measured_with_commit": "a" * 40, "machine": "then",
                                               "versions": "Python 3.11.7", "tools": {}}))
    manifest = write_manifest(folder, first, ["sitting 1"])
    assert manifest["measured_with_commit"] == first
    assert manifest["measured"]["pipeline"]["versions"] == "Python 3.11.7"   # kept: measured then
    assert manifest["measured"]["serving-rollout"]["versions"] != "Python 3.11.7"    # this machine, now
    assert manifest["machine"] == "then" and "config.yaml" in manifest["files"]
    # A topology part is an experiment of its own, with its own commit.
    (folder / "topology").mkdir()
    shutil.copy(repo / REFERENCE / "topology/config.yaml", folder / "topology/config.yaml")
    with pytest.raises(InputError, match="no commit for topology"):
        experiment_commits(folder, [f"{name}={commit}" for name, commit in first.items()])
    assert experiment_commits(folder, ["a" * 40, f"serving={'b' * 40}", "topology=d"]) == first | {"topology": "d"}
