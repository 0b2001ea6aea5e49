"""Nothing counted twice, nothing stale, nothing orphaned: re-runs, signals and bad arguments.

Each test is named after what it protects. They run the real CLI, real processes and a real
SeaweedFS; where a test needs root (a read-only or full file system, a network namespace) and
the machine does not give it, it says so.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from mlopsbench.pipeline.tidy import TidyError, tidy_pipeline
from mlopsbench.rawdirs import CellDir
from mlopsbench.store.objectstore import SeaweedFS
from mlopsbench.upload.plan import read_records

pytestmark = pytest.mark.integration
MIB = 1 << 20
ROOT = os.geteuid() == 0


def mlopsbench(*args, env, cwd=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "mlopsbench.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, **kwargs)


def start(*args, env):
    return subprocess.Popen([sys.executable, "-m", "mlopsbench.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def pipeline_args(repo, dataset, run_dir, backend="monolithic", epochs=1):
    # Uncalibrated: these tests are about the run's records (tests/test_blocks.py checks the calibration).
    return ["pipeline-run", "--backend", backend, "--notebook", repo / "notebooks/intel54_pipeline.ipynb",
            "--dataset", dataset, "--dataset-mb", "0.02", "--width", "8", "--epochs", epochs, "--series", "dataset",
            "--rep", run_dir.name, "--run-dir", run_dir, "--cores", "2", "--no-calibration"]


@pytest.fixture
def models(tmp_path):
    paths = []
    for size in (1, 12):
        path = tmp_path / f"model_{size}MB.keras"
        path.write_bytes(os.urandom(size * MIB))
        path.with_suffix(".json").write_text(json.dumps({"size": size, "unit": "MiB"}))
        paths.append(path)
    return paths


def upload_args(models, out_dir, latency=0, part_size=5, reps=1, setup="host", window_kib=4096):
    return ["upload-run", "--setup", setup, "--latency-ms", latency, "--models", *models, "--reps", reps,
            "--out-dir", out_dir, "--part-size-mib", part_size, "--window-kib", window_kib]


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def weed_processes(directory: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"-dir={directory}" in (proc / "cmdline").read_text().replace("\0", " "):
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            pass
    return found


# 1 ------------------------------------------------------------------------------------------------

def test_a_rerun_replaces_a_finished_run_without_counting_it_twice(repo, dataset, tmp_path, cli_env):
    run_dir = tmp_path / "runs/monolithic/8x8x8_0.02MB/1"
    assert mlopsbench(*pipeline_args(repo, dataset, run_dir), env=cli_env).returncode == 0
    (run_dir / "run.json").unlink()  # how a finished run is asked to be measured again
    result = mlopsbench(*pipeline_args(repo, dataset, run_dir), env=cli_env)
    assert result.returncode == 0 and "no longer counted" in result.stderr
    steps, runs = tidy_pipeline([run_dir], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert sorted(runs["status"]) == ["succeeded", "superseded"]
    assert runs.loc[runs["status"] == "superseded", "run_id"].item().startswith("monolithic/8x8x8_0.02MB/1.superseded-")
    assert set(steps.loc[steps["run_id"] == runs.loc[runs["status"] == "superseded", "run_id"].item(), "status"]) \
        == {"superseded"}
    from mlopsbench.results.analysis import analyse

    bundle = analyse(steps, runs, None, None, margin=0.1, little=5)
    assert bundle.summary.pipeline_runs == 1 and bundle.summary.pipeline_runs_superseded == 1
    assert set(bundle.pipeline_overall_summary["n"]) == {1}


# 2 ------------------------------------------------------------------------------------------------

def test_a_changed_part_size_is_measured_again_not_answered_with_old_records(models, tmp_path, cli_env):
    out = tmp_path / "host/0ms"
    assert mlopsbench(*upload_args(models, out, part_size=5), env=cli_env).returncode == 0
    (out / "run.json").unlink()
    result = mlopsbench(*upload_args(models, out, part_size=8), env=cli_env)
    assert result.returncode == 0 and "measured with other parameters" in result.stderr
    records = read_records(out)
    assert len(records) == 2 and {r.parameters.part_size for r in records} == {8 * MIB}
    assert [p.name for p in out.glob("uploads.superseded-*.jsonl")]


def test_tidy_refuses_to_mix_runs_of_different_parameters(repo, dataset, tmp_path, cli_env):
    root = tmp_path / "runs/monolithic/8x8x8_0.02MB"
    for rep, epochs in ((1, 1), (2, 2)):
        assert mlopsbench(*pipeline_args(repo, dataset, root / str(rep), epochs=epochs), env=cli_env).returncode == 0
    with pytest.raises(TidyError, match=r"different parameters \(EPOCHS 1 vs 2\)"):
        tidy_pipeline([root / "1", root / "2"], tmp_path / "s.parquet", tmp_path / "r.parquet")


# 3 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("setup", ["host", pytest.param("netns", marks=pytest.mark.skipif(not ROOT, reason="needs root"))])
def test_sigterm_stops_the_store_and_leaves_no_credentials_or_namespace(models, tmp_path, cli_env, setup):
    out = tmp_path / f"{setup}/400ms"
    process = start(*upload_args(models, out, latency=400, reps=3, setup=setup, window_kib=256), env=cli_env)
    wait_for(lambda: CellDir(out).records.exists() and CellDir(out).records.read_text().count("\n") >= 1)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 130 and "interrupted (signal SIGTERM)" in output, output
    assert weed_processes(out / "store") == []
    assert not (out / "s3-identities.json").exists() and not (out / "security.toml").exists()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{process.pid}" not in namespaces
    assert read_records(out)  # what finished is kept


def test_a_second_sigterm_does_not_cut_the_stores_shutdown_short(models, tmp_path, cli_env):
    out = tmp_path / "host/400ms"
    process = start(*upload_args(models, out, latency=400, reps=3, window_kib=256), env=cli_env)
    wait_for(lambda: CellDir(out).records.exists() and CellDir(out).records.read_text().count("\n") >= 1)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 130, output
    assert weed_processes(out / "store") == []
    assert [name for name in ("s3-identities.json", "security.toml", "weed.pid", "store") if (out / name).exists()] == []
    assert read_records(out)


def test_sigterm_ends_the_running_step_and_records_the_run_as_interrupted(repo, dataset, tmp_path, cli_env):
    run_dir = tmp_path / "runs/local/8x8x8_0.02MB/1"
    process = start(*pipeline_args(repo, dataset, run_dir, backend="local", epochs=200), env=cli_env)
    wait_for(lambda: dispatched(run_dir, "dnnfit"))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "run-finished" and events[-1]["status"] == "interrupted"
    pids = [e["detail"]["pid"] for e in events if e["event"] == "dispatched"]
    time.sleep(0.5)
    assert not [pid for pid in pids if _alive(pid)], "a step process outlived the run"

    # Re-done with other epochs: the attempt is listed, never compared or counted. Its four steps
    # that finished before dnnfit count once, in the re-run only.
    assert mlopsbench(*pipeline_args(repo, dataset, run_dir, backend="local", epochs=1), env=cli_env).returncode == 0
    steps, runs = tidy_pipeline([run_dir], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert sorted(runs["status"]) == ["interrupted", "succeeded"]
    attempt = steps[steps["run_status"] == "interrupted"]
    assert {"preprocessing", "dnncompile"} <= set(attempt.loc[attempt["status"] == "succeeded", "step"])
    from mlopsbench.results.analysis import analyse

    summary = analyse(steps, runs, None, None, margin=0.1, little=5).pipeline_steps_summary
    assert len(summary) and set(summary["n"]) == {1}  # and no metric of an uncalibrated run as rows of n = 0
    assert "cell_seconds_cal" not in set(summary["metric"])


def _text(path):
    return path.read_text() if path.exists() else ""


def dispatched(run_dir, step) -> bool:
    """Whether the run's event log has dispatched ``step`` (a line still being written is skipped)."""
    for line in _text(run_dir / "events.jsonl").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "dispatched" and event.get("step") == step:
            return True
    return False


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_store_orphaned_by_sigkill_is_found_and_stopped_on_the_next_run(models, tmp_path, cli_env):
    out = tmp_path / "host/250ms"
    process = start(*upload_args(models, out, latency=250, reps=3, window_kib=256), env=cli_env)
    wait_for(lambda: CellDir(out).records.exists() and CellDir(out).records.read_text().count("\n") >= 1)
    process.kill()
    process.wait()
    assert weed_processes(out / "store"), "the killed command's store should still run"
    result = mlopsbench(*upload_args(models, out, latency=250, reps=3, window_kib=256), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "left running by an earlier, killed command" in result.stderr
    assert weed_processes(out / "store") == [] and len(read_records(out)) == 6


def test_steps_orphaned_by_sigkill_are_stopped_by_the_next_run(repo, dataset, tmp_path, cli_env):
    run_dir = tmp_path / "runs/local/8x8x8_0.02MB/1"
    process = start(*pipeline_args(repo, dataset, run_dir, backend="local", epochs=500), env=cli_env)
    wait_for(lambda: dispatched(run_dir, "dnnfit"))
    process.kill()
    process.wait()
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    fit = next(e["detail"]["pid"] for e in events if e["event"] == "dispatched" and e["step"] == "dnnfit")
    assert _alive(fit), "the killed runner's step should still run"
    result = mlopsbench(*pipeline_args(repo, dataset, run_dir, backend="local"), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "step dnnfit" in result.stderr and "was still running; stopped it" in result.stderr
    assert "took over a stale lock" in result.stderr
    time.sleep(0.5)
    assert not _alive(fit)


# 4 ------------------------------------------------------------------------------------------------

def test_one_writer_per_run_directory(repo, dataset, tmp_path, cli_env):
    run_dir = tmp_path / "runs/local/8x8x8_0.02MB/1"
    first = start(*pipeline_args(repo, dataset, run_dir, backend="local"), env=cli_env)
    wait_for(lambda: (run_dir / "events.jsonl").exists())
    second = mlopsbench(*pipeline_args(repo, dataset, run_dir, backend="local"), env=cli_env)
    assert second.returncode == 1
    assert re.search(rf"in use by another mlopsbench command \(pid {first.pid}: ", second.stderr), second.stderr
    assert first.wait(timeout=300) == 0 and (run_dir / "run.json").exists()
    assert not list(run_dir.parent.glob("1.attempt-*"))  # the refused command touched nothing


def test_one_writer_per_upload_cell(models, tmp_path, cli_env):
    out = tmp_path / "host/400ms"
    first = start(*upload_args(models, out, latency=400, reps=2, window_kib=256), env=cli_env)
    wait_for(lambda: (out / "weed.log").exists())
    second = mlopsbench(*upload_args(models, out, latency=400, reps=2, window_kib=256), env=cli_env)
    assert second.returncode == 1 and f"in use by another mlopsbench command (pid {first.pid}" in second.stderr
    assert first.wait(timeout=300) == 0 and len(read_records(out)) == 4


BUILD_A_LAYER = """
import sys, time
from mlopsbench.cluster import images
def build(rootfs):
    print("built", flush=True)
    time.sleep(1)
    (rootfs / "file").write_text("x")
print(images._layer("test", "key", build).digest)
"""


def test_one_builder_per_cached_layer(tmp_path, cli_env):
    """Two processes that need one image layer at once: the second waits for the first's build and uses it."""
    env = cli_env | {"MLOPSBENCH_CACHE": str(tmp_path)}
    both = [subprocess.Popen([sys.executable, "-c", BUILD_A_LAYER], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [process.communicate(timeout=60)[0].split() for process in both]
    assert [process.returncode for process in both] == [0, 0]
    assert sum(output.count("built") for output in outputs) == 1
    assert outputs[0][-1] == outputs[1][-1]  # one digest


# 5 ------------------------------------------------------------------------------------------------

def test_a_truncated_last_upload_record_is_set_aside_and_the_cell_resumes(models, tmp_path, cli_env):
    out = tmp_path / "host/0ms"
    assert mlopsbench(*upload_args(models, out, reps=2), env=cli_env).returncode == 0
    lines = CellDir(out).records.read_text().splitlines(keepends=True)
    CellDir(out).records.write_text("".join(lines[:3]) + lines[3][:40])  # a crash mid-write
    (out / "run.json").unlink()
    result = mlopsbench(*upload_args(models, out, reps=2), env=cli_env)
    assert result.returncode == 0 and re.search(r"uploads\.jsonl:4: a truncated last line", result.stderr), result.stderr
    assert len(read_records(out)) == 4 and list(out.glob("uploads.jsonl.truncated-*"))


def test_a_truncated_last_event_is_named_and_the_run_resumes(repo, dataset, tmp_path, cli_env, caplog):
    run_dir = tmp_path / "runs/monolithic/8x8x8_0.02MB/1"
    assert mlopsbench(*pipeline_args(repo, dataset, run_dir), env=cli_env).returncode == 0
    text = (run_dir / "events.jsonl").read_text()
    (run_dir / "events.jsonl").write_text(text[:-30])  # the last line cut short
    (run_dir / "run.json").unlink()
    _, runs = tidy_pipeline([run_dir], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert runs["status"].tolist() == ["interrupted"]
    assert re.search(r"events\.jsonl:\d+: truncated last line", caplog.text)
    assert mlopsbench(*pipeline_args(repo, dataset, run_dir), env=cli_env).returncode == 0
    _, runs = tidy_pipeline([run_dir], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert runs["status"].tolist() == ["interrupted", "succeeded"]

    # An attempt killed while writing its first record measured nothing: set aside, named.
    cut = run_dir.parent / f"{run_dir.name}.attempt-00000000T000000Z"
    cut.mkdir()
    (cut / "events.jsonl").write_text(text.splitlines()[0][:40])
    _, runs = tidy_pipeline([run_dir], tmp_path / "s.parquet", tmp_path / "r.parquet")
    assert runs["status"].tolist() == ["interrupted", "succeeded"]
    assert f"{cut}/events.jsonl:1: expected a run-started record" in caplog.text


# 6 ------------------------------------------------------------------------------------------------

def test_paths_with_spaces_work_in_every_rule(repo, tmp_path, cli_env):
    """The repository (so the notebook and the report template) and the study both under paths
    with spaces: the dry run quotes every path, and real jobs run."""
    copy = tmp_path / "a checkout"
    files = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, copy / name)
    work = tmp_path / "my study"
    from mlopsbench.data.synthetic import write_published_file

    write_published_file(work / "data/raw/intel_lab/data.txt.gz", 3000, seed=2)
    base = [sys.executable, "-m", "snakemake", "-s", str(copy / "Snakefile"), "--directory", str(work), "--cores", "2",
            "--configfile", str(copy / "config/quick.yaml"), "--"]
    dry = subprocess.run(base[:-1] + ["-n", "-p", "--forceall"], capture_output=True, text=True, env=cli_env)
    assert dry.returncode == 0, dry.stderr
    commands = [line.removeprefix("Shell command: ") for line in dry.stdout.splitlines() if "mlopsbench " in line]
    assert commands and all(str(copy) not in c or f"'{copy}" in c for c in commands)
    for command in commands:
        import shlex

        for word in shlex.split(command.split(" 2>")[0]):
            assert not word.startswith(("a checkout", "study/")), command  # no path was split at its space
    run = subprocess.run(base + ["datasets", "data/models/regression/dnn_8x8x8.keras"], capture_output=True, text=True,
                         env=cli_env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (work / "data/datasets/intel54_0.1MB.csv").exists()


def test_snakemake_from_another_directory_says_where_the_study_goes(repo, tmp_path, cli_env):
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-n", "--cores", "1",
                             "--configfile", str(repo / "config/quick.yaml")], cwd=tmp_path, capture_output=True,
                            text=True, env=cli_env)
    assert result.returncode == 0
    assert f"data/, results/ and logs/ go to {tmp_path} (the working directory)" in result.stderr


# 7 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["dataset", "--input", "{csv}", "--size-mb", "0", "--output", "{tmp}/d.csv"], "--size-mb: 0 is not greater than 0"),
    (["dataset", "--input", "{tmp}", "--size-mb", "1", "--output", "{tmp}/d.csv"], "--input: {tmp} is a directory"),
    (["upload-run", "--setup", "host", "--latency-ms", "-1", "--models", "{csv}", "--reps", "1", "--out-dir", "{tmp}"],
     "--latency-ms: -1 is not 0 or more"),
    (["upload-run", "--setup", "host", "--latency-ms", "0", "--models", "{csv}", "--reps", "0", "--out-dir", "{tmp}"],
     "--reps: 0 is not 1 or more"),
    (["dataset", "--input", "{csv}", "--size-mb", "nan", "--output", "{tmp}/d.csv"], "--size-mb: nan is not a finite"),
    (["dataset", "--input", "{csv}", "--size-mb", "inf", "--output", "{tmp}/d.csv"], "--size-mb: inf is not a finite"),
])
def test_bad_command_line_values_are_refused_naming_the_option(args, message, tmp_path, cli_env):
    csv = tmp_path / "node.csv"
    csv.write_text("humidity,light,voltage,temperature\n1,2,3,4\n")
    result = mlopsbench(*[a.format(csv=csv, tmp=tmp_path) for a in args], env=cli_env)
    assert result.returncode == 2 and message.format(tmp=tmp_path) in result.stderr, result.stderr


def test_a_dataset_csv_without_the_four_columns_is_refused(tmp_path, cli_env):
    csv = tmp_path / "other.csv"
    csv.write_text("a,b\n1,2\n")
    result = mlopsbench("dataset", "--input", csv, "--size-mb", "1", "--output", tmp_path / "d.csv", env=cli_env)
    assert result.returncode == 1
    assert f"{csv}:1: expected the columns humidity,light,voltage,temperature" in result.stderr


@pytest.mark.parametrize("change, message", [
    (lambda c: c["pipeline"].update(notebook="notebooks/missing.ipynb"), "pipeline.notebook: notebooks/missing.ipynb is not a file"),
    (lambda c: c["data"].update(sha256="abc"), "data.sha256: 'abc' is not null or the file's SHA-256 as 64 lower-case"),
    (lambda c: c["upload"]["store"].update(endpoint="http://store:9000"),
     "upload.store.endpoint: 'http://store:9000' is not null or host:port"),
    (lambda c: c["upload"]["latencies_ms"].append(float("nan")), "upload.latencies_ms[4]: nan is not a finite number"),
    (lambda c: c["data"]["dataset_sizes_mb"].append(float("inf")), "data.dataset_sizes_mb[4]: inf is not a finite"),
    (lambda c: c["pipeline"].update(step_timeout_s=float("inf")), "pipeline.step_timeout_s: inf is not a finite"),
    (lambda c: c["upload"]["model_sizes_mb"].append(float("nan")), "upload.model_sizes_mb[4]: nan is not a finite"),
    (lambda c: c["serving"].update(methods=["rollout"]),
     "serving.setups: ['host', 'netns'] is not a list with vm or pod (the rollout method needs the edge as a pod)"),
    (lambda c: c["serving"].update(poll_interval_s=float("nan")), "serving.poll_interval_s: nan is not a finite"),
])
def test_check_config_explains_in_plain_words(repo, tmp_path, cli_env, change, message):
    config = yaml.safe_load((repo / "config/quick.yaml").read_text())
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = mlopsbench("check-config", path, env=cli_env, cwd=repo)
    assert result.returncode == 1 and message in result.stderr and "valid under any" not in result.stderr


# 8 ------------------------------------------------------------------------------------------------

def test_a_pinned_checksum_is_checked_on_a_file_already_there(tmp_path, cli_env):
    existing = tmp_path / "data.txt.gz"
    existing.write_bytes(b"not the published file")
    pin = "0" * 64
    result = mlopsbench("download", "--url", "http://127.0.0.1:9/none", "--sha256", pin, "--output", existing,
                        "--record", tmp_path / "checked.json", env=cli_env)
    actual = __import__("hashlib").sha256(b"not the published file").hexdigest()
    assert result.returncode == 1 and actual in result.stderr and pin in result.stderr


@pytest.mark.parametrize("how", ["wrong pin", "forced re-run offline", "pin added later"])
def test_the_study_never_deletes_the_published_file_and_always_checks_its_pin(repo, tmp_path, cli_env, how):
    """The user's own data.txt.gz is never a job output: a forced re-run without network, or a
    pin added later (a changed parameter), re-check it and keep it; a wrong pin fails the study."""
    import hashlib

    from mlopsbench.data.synthetic import write_published_file

    raw = write_published_file(tmp_path / "data/raw/intel_lab/data.txt.gz", 2000, seed=4)
    original = raw.read_bytes()
    config = yaml.safe_load((repo / "config/quick.yaml").read_text())
    config["data"]["url"] = "http://127.0.0.1:9/intel-lab-unreachable"

    def study(*args, sha256=None):
        config["data"]["sha256"] = sha256
        (tmp_path / "study.yaml").write_text(yaml.safe_dump(config))
        return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory",
                               str(tmp_path), "--cores", "1", "--configfile", str(tmp_path / "study.yaml"), *args,
                               "--", "data/interim/node54.csv"], capture_output=True, text=True, env=cli_env)

    node = tmp_path / "data/interim/node54.csv"
    if how == "wrong pin":
        result = study(sha256="0" * 64)
        assert result.returncode != 0 and not node.exists()
        assert "does not match the pinned data.sha256" in (tmp_path / "logs/data/download.log").read_text()
    else:
        assert study().returncode == 0 and node.exists()
        if how == "forced re-run offline":
            result = study("--forceall")
        else:
            result = study(sha256=hashlib.sha256(original).hexdigest())
            checked = json.loads((tmp_path / "data/raw/intel_lab/data.checked.json").read_text())
            assert checked["pinned_sha256"] == checked["sha256"] == hashlib.sha256(original).hexdigest()
        assert result.returncode == 0, result.stderr[-2000:]
        assert "data.checked.json" in result.stderr  # the check ran again
    assert raw.read_bytes() == original


# 9 ------------------------------------------------------------------------------------------------

@pytest.fixture
def mounted(tmp_path):
    """A directory with a file system of its own (root only): read-only, or 64 KiB small."""
    made = []

    def mount(options: str) -> Path:
        if not ROOT:
            pytest.skip("needs root to mount a file system")
        target = tmp_path / f"fs{len(made)}"
        target.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], check=True)
        made.append(target)
        return target

    yield mount
    for target in made:
        subprocess.run(["umount", str(target)], check=False)


@pytest.mark.parametrize("options, cause", [("ro", "Read-only file system"), ("size=64k", "No space left on device")])
def test_os_errors_name_the_path_in_one_line(mounted, tmp_path, cli_env, options, cause):
    folder = mounted(options)
    csv = tmp_path / "node.csv"
    csv.write_text("humidity,light,voltage,temperature\n" + "1.0,2.0,3.0,4.0\n" * 1000)
    result = mlopsbench("dataset", "--input", csv, "--size-mb", "1", "--output", folder / "d.csv", env=cli_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = [l for l in result.stderr.splitlines() if "error:" in l]
    assert str(folder) in line and cause in line
    assert list(folder.iterdir()) == []  # nothing half-written


def test_a_full_disk_under_the_store_is_named_not_hidden_behind_s3_errors(mounted, models, cli_env):
    out = mounted("size=6m") / "host/0ms"   # room for the store's files, not for the 12 MiB model
    result = mlopsbench(*upload_args(models, out), env=cli_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no space left on device" in result.stderr.lower(), result.stderr[-2000:]


# 10 -----------------------------------------------------------------------------------------------

def test_only_the_s3_port_of_the_embedded_store_serves_data(tmp_path):
    """The filer and volume servers want a JWT signed with the store's own keys: an unauthenticated
    GET or PUT there is refused, so the S3 credentials cannot be bypassed on loopback."""
    import io

    from mlopsbench.store.objectstore import client

    store = SeaweedFS(tmp_path, isolate=False)
    with store as endpoint:
        s3 = client(endpoint)
        s3.make_bucket("private")
        s3.put_object("private", "secret", io.BytesIO(b"secret"), 6)
        filer, volume = store.ports["filer"][0], store.ports["volume"][0]
        for method, url in (("GET", f"http://127.0.0.1:{filer}/buckets/private/secret"),
                            ("POST", f"http://127.0.0.1:{filer}/buckets/private/evil"),
                            ("GET", f"http://127.0.0.1:{volume}/1,01"),
                            ("POST", f"http://127.0.0.1:{volume}/1,01")):
            response = requests.request(method, url, files={"f": ("x", b"evil")} if method == "POST" else None,
                                        timeout=10)
            assert response.status_code == 401, (method, url, response.status_code, response.text[:200])
        assert s3.get_object("private", "secret").read() == b"secret"
        assert (tmp_path / "security.toml").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "security.toml").exists()


@pytest.mark.skipif(not ROOT, reason="a namespace of the store's own needs root")
def test_the_store_in_its_own_namespace_serves_only_s3(tmp_path):
    """The master hands a write token to anyone who asks (/dir/assign) and the gRPC ports take no
    credentials: in a namespace of its own, the store binds them to that namespace's loopback,
    so from this machine only the S3 port answers, and it wants the credentials."""
    import io
    import socket

    from mlopsbench.store.objectstore import client

    store = SeaweedFS(tmp_path / "store", isolate=True)
    with store as endpoint:
        s3 = client(endpoint)
        s3.make_bucket("private")
        s3.put_object("private", "secret", io.BytesIO(b"secret"), 6)
        assert endpoint.host != "127.0.0.1" and store.namespace is not None
        internal = [port for name, pair in store.ports.items() for port in pair if (name, port) != ("s3", pair[0])]
        for host in ("127.0.0.1", endpoint.host):
            for port in internal:
                with pytest.raises(OSError), socket.create_connection((host, port), timeout=3):
                    pass
        assert s3.get_object("private", "secret").read() == b"secret"
        namespace = store.namespace.name
    assert namespace not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
