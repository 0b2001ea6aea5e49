"""The statistics, figures and PDF report built from tidy tables shaped like a finished study."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from mlopsbench.config import load_config
from mlopsbench.results.sample_tables import tidy_tables
from mlopsbench.results.analysis import analyse
from mlopsbench.results.figures import make_figures
from mlopsbench.results.report import write_report

SECTIONS = ["Summary", "Setup", "Methods", "Results: pipeline overhead", "Results: model upload", "Model sizes",
            "Thesis against reproduction", "Limitations"]
FIGURES = ["fig14_durations", "fig15_overhead_dataset", "fig16_overhead_model", "fig17_job_overhead_dataset",
           "fig18_job_overhead_model", "fig19_uploads"]


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def build(repo, tmp_path, tables, config_path, **serving):
    analysis = load_config(config_path)["analysis"]
    analyse(*tables, margin=analysis["equivalence_margin"], little=analysis["little_change_points"],
            **serving).write(tmp_path / "stats")
    make_figures(tmp_path / "stats", tmp_path / "figures")
    return write_report(tmp_path / "stats", tmp_path / "figures", config_path, repo / "report/report.md.j2",
                        tmp_path / "report.pdf")


@pytest.fixture
def quick(repo):
    return yaml.safe_load((repo / "config/quick.yaml").read_text())


pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")


def test_report_has_every_section_figure_and_claim(repo, tmp_path, quick):
    pdf = build(repo, tmp_path, tidy_tables(quick, seed=3), repo / "config/quick.yaml")
    text = pdf_text(pdf)
    for heading in SECTIONS:
        assert heading in text
    for name in FIGURES:
        assert f"{name}." in text and (tmp_path / "figures" / f"{name}.pdf").exists()
    for claim in ("C1", "C2", "C3", "C4", "C5", "C6", "C7-", "C8-", "C9"):
        assert claim in text
    assert "Table 2 analogue" in text and "Table 3 analogue" in text and "Table 4 analogue" in text
    assert "880.60" in text  # Table 2's dnnfit at 40 MB, beside ours
    assert "thesis counts Normalization's 7 non-trainable weights" in text


def test_the_serving_section_sets_time_to_serve_beside_its_parts_and_claims(repo, tmp_path, quick):
    from test_serving_stats import requests_table, updates_table

    updates = updates_table({("host", "in-place", 0, 1.0): [3.0, 3.2, 3.1],
                             ("host", "in-place", 250, 1.0): [6.0, 6.5, 6.2],
                             ("netns", "in-place", 0, 1.0): [3.1, 3.3, 3.0]})
    pdf = build(repo, tmp_path, tidy_tables(quick, seed=3), repo / "config/quick.yaml", serving_updates=updates,
                serving_requests=requests_table(updates))
    text = " ".join(pdf_text(pdf).split())
    assert "Beyond the thesis: time to serve a new model" in text and "Not part of this study" not in text
    assert "Time to serve a new model [s]" in text and "Where the time to serve goes" in text
    assert "Requests through every update" in text and "steady serving and during an update" in text
    for name in ("fig_serving_time", "fig_serving_parts", "fig_serving_latency"):
        assert f"{name}." in text and (tmp_path / "figures" / f"{name}.png").exists()
    for claim in ("S1", "S2", "S3", "S4"):
        assert claim in text
    assert "0 requests failed or got no answer through 9 updates" in text


def test_missing_experiment_is_reported_not_dropped(repo, tmp_path, quick):
    steps, runs, _, _ = tidy_tables(quick)
    pdf = build(repo, tmp_path, (steps, runs, None, None), repo / "config/quick.yaml")
    text = pdf_text(pdf)
    assert "model-upload experiment is missing" in text and "Missing: no upload results were given." in text
    assert "Not part of this study: its configuration has no serving section." in " ".join(text.split())
    assert not (tmp_path / "figures/fig19_uploads.png").exists()
    claims = json.loads((tmp_path / "stats/summary.json").read_text())["claims"]
    assert claims["C9"] == "cannot tell" and claims["C7-host"] == "cannot tell"


def test_single_observation_groups_print_na(repo, tmp_path, quick):
    quick["pipeline"]["repetitions"] = quick["upload"]["repetitions"] = 1
    config = tmp_path / "one.yaml"
    config.write_text(yaml.safe_dump(quick))
    text = pdf_text(build(repo, tmp_path, tidy_tables(quick), config))
    assert "n/a" in text and "1 repetitions per pipeline configuration" in text


def test_stats_cli_reports_missing_files(tmp_path, cli_env):
    result = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "stats", "--steps", str(tmp_path / "none.parquet"),
                             "--out-dir", str(tmp_path / "stats")], capture_output=True, text=True, env=cli_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "stats/summary.json").read_text())
    assert summary["missing"] == ["pipeline", "upload", "serving"]


def test_every_backend_and_setup_in_the_data_is_reported(repo, tmp_path, quick):
    """Setups and backends come from the data: all four setups and all three backends show up in
    the tables, the claims (C7-C9 per setup, the thesis's VM-against-pod pairs), Figure 19 and
    the methods text."""
    from mlopsbench.pipeline.backends import BACKENDS
    from mlopsbench.upload.setups import SETUPS

    quick["pipeline"]["backends"] = list(BACKENDS)
    quick["upload"]["setups"] = list(SETUPS)
    quick["kubernetes"] = yaml.safe_load((repo / "config/cluster.yaml").read_text())["kubernetes"]
    config = tmp_path / "all.yaml"
    config.write_text(yaml.safe_dump(quick))
    text = " ".join(pdf_text(build(repo, tmp_path, tidy_tables(quick, seed=4), config)).split())
    claims = json.loads((tmp_path / "stats/summary.json").read_text())["claims"]
    for setup in SETUPS:
        assert f"C7-{setup}" in claims and f"C8-{setup}" in claims and claims[f"C7-{setup}"] != "cannot tell"
        assert SETUPS[setup].path in text  # the methods text names each setup's path
    assert "Unmeasured uploads before each cell's first measured one: 1 " in text  # from the records
    assert {"C9-host-netns", "C9-vm-pod"} <= set(claims)
    assert "vm vs pod" in text and "host vs netns" in text  # the equivalence table
    figure = pdf_text(tmp_path / "figures/fig19_uploads.pdf")
    assert all(setup in figure for setup in SETUPS)
    for backend in BACKENDS.values():
        assert backend.timestamps.split(":")[0] in text
    durations = text[text.index("Table 2 analogue"):text.index("Table 3 analogue")]
    assert all(f" {name} " in durations for name in BACKENDS)
    assert "kubernetes backend:" in text  # the pipeline's claims are judged on the cluster's runs
    assert "Jobs ran as local processes" not in text
    assert "Kubernetes pods" in text


def test_clock_lags_separate_resolution_from_what_a_clock_marks(repo, tmp_path, quick):
    """A whole-second clock whose 'finished' marks 1.6 s earlier than the watch: the lag table finds
    the 1.6 s (plus about half a second of truncation) on 'finished' and only the truncation on
    'created', and the overhead moves by their difference."""
    import math

    import numpy as np
    import pandas as pd

    from mlopsbench.pipeline.timing import with_overhead

    quick["pipeline"]["backends"] = ["kubernetes"]
    quick["kubernetes"] = yaml.safe_load((repo / "config/cluster.yaml").read_text())["kubernetes"]
    steps, runs, uploads, cells = tidy_tables(quick, seed=5)
    rng = np.random.default_rng(5)
    watch = steps.assign(created=steps["created"] + rng.uniform(0, 1, len(steps)))
    watch = pd.DataFrame([with_overhead(row) for row in watch.to_dict("records")])
    seconds = watch.assign(timestamp_source="api", finished=watch["finished"] - 1.6)
    for stamp in ("created", "scheduled", "started", "finished"):
        seconds[stamp] = seconds[stamp].map(math.floor).astype(float)
    seconds = pd.DataFrame([with_overhead(row) for row in seconds.to_dict("records")])
    config = tmp_path / "clocks.yaml"
    config.write_text(yaml.safe_dump(quick))
    text = " ".join(pdf_text(build(repo, tmp_path, (pd.concat([watch, seconds]), runs, uploads, cells), config)).split())

    lags = pd.read_csv(tmp_path / "stats/pipeline_clock_lags.csv").set_index("event")
    assert lags.loc["created", "lag_low"] < 0.5 < lags.loc["created", "lag_high"]
    assert abs(lags.loc["finished", "lag_mean"] - 2.1) < 0.15
    shift = pd.read_csv(tmp_path / "stats/pipeline_clocks.csv")["shift_mean"]
    assert (abs(shift + (lags.loc["finished", "lag_mean"] - lags.loc["created", "lag_mean"])) < 0.3).all()
    assert "Where the clocks part" in text


def test_backends_are_compared_within_blocks_as_measured_and_calibrated(quick):
    """Every ratio pairs two runs of one block; calibrated, each time is at the study's median speed."""
    from mlopsbench.pipeline.backends import primary_clocks

    steps, runs, uploads, cells = tidy_tables(quick)
    bundle = analyse(steps, runs, uploads, cells, margin=0.1, little=5.0)
    pairs, machine = bundle.pipeline_block_pairs, bundle.pipeline_machine.set_index("run_id")
    fits = steps[(steps["step"] == "dnnfit") & steps["timestamp_source"].isin(primary_clocks())].set_index("run_id")
    walls = runs.set_index("run_id")["wall_seconds"]
    assert set(pairs["block"]) == set(runs["block"]) and set(zip(pairs["a"], pairs["b"])) == {("local", "monolithic")}
    for _, row in pairs.iterrows():
        a, b = f"local/{row['block']}", f"monolithic/{row['block']}"
        measured = (fits.loc[a, "cell_seconds"] / fits.loc[b, "cell_seconds"] if row["metric"].startswith("dnnfit")
                    else walls[a] / walls[b])
        assert row["ratio"] == pytest.approx(measured)
        assert row["ratio_cal"] == pytest.approx(measured * machine.loc[a, "factor"] / machine.loc[b, "factor"])
    speed = machine[["cal_before_keras_step_s", "cal_after_keras_step_s"]].mean(axis=1)
    assert machine["factor"].tolist() == pytest.approx((speed.median() / speed).tolist())
    pooled = bundle.pipeline_pair_summary
    assert set(pooled["times"]) == {"measured", "calibrated"} and "20 MB and larger" not in set(pooled["scope"])


def test_dnnfit_effects_hold_the_stolen_cpu_equal_and_recover_what_made_the_times():
    """Times made from a block's own speed, a pod's 6 % and 3 % per point of stolen CPU: the fit with
    the stolen CPU held equal finds both; the one without mixes them; a small dataset stays out."""
    import numpy as np
    import pandas as pd

    from mlopsbench.results.blocks import dnnfit_effects

    steal = np.random.default_rng(7).uniform(0, 6, size=(5, 3))
    steps, machine = [], []
    for i, (block, mb) in enumerate([("8x8x8_20MB/1", 20), ("8x8x8_20MB/2", 20), ("16x16x16_20MB/1", 20),
                                     ("8x8x8_40MB/1", 40), ("8x8x8_2MB/1", 2)]):
        for k, (backend, factor) in enumerate((("kubernetes", 1.06), ("local", 1.0), ("monolithic", 1.0))):
            run, created = f"{backend}/{block}", 10_000.0 * i + 1_000 * k
            seconds = (400 + 100 * i) * factor * 1.03 ** steal[i, k] * (3.0 if mb == 2 else 1.0)
            steps.append({"run_id": run, "block": block, "backend": backend, "step": "dnnfit", "dataset_mb": mb,
                          "cell_seconds": seconds})
            machine.append({"run_id": run, "block": block, "backend": backend, "created": created,
                            "finished": created + 900, "builds": "3.11.2", "cpu_steal_pct": steal[i, k]})
    fits = dnnfit_effects(pd.DataFrame(steps), pd.DataFrame(machine)).set_index(["model", "term"])
    held = fits.loc["stolen CPU held equal"]
    assert held.loc["kubernetes", "ratio"] == pytest.approx(1.06) and held.loc["local", "ratio"] == pytest.approx(1.0)
    assert held.loc["a point of stolen CPU", "ratio"] == pytest.approx(1.03)
    assert fits.loc[("as measured", "kubernetes"), "ratio"] != pytest.approx(1.06, abs=1e-3)
    assert set(fits["blocks"]) == {4} and set(fits["runs"]) == {12} and set(fits["against"]) == {"monolithic"}


def test_a_block_on_two_interpreters_is_left_out_and_named(repo, tmp_path, quick):
    steps, runs, uploads, cells = tidy_tables(quick, seed=2)
    block = runs["block"].iloc[0]
    runs.loc[(runs["block"] == block) & (runs["backend"] == "local"), "python"] = "3.11.7 (main) [GCC 12.2.0]"
    bundle = analyse(steps, runs, uploads, cells, margin=0.1, little=5.0)
    assert block not in set(bundle.pipeline_block_pairs["block"]) and list(bundle.summary.blocks_left_out) == [block]
    text = " ".join(pdf_text(build(repo, tmp_path, (steps, runs, uploads, cells), repo / "config/quick.yaml")).split())
    assert f"Left out of the paired comparisons: block {block} (its runs did not record one interpreter build" in text


def test_a_block_resumed_in_a_later_sitting_is_left_out_and_named(quick):
    steps, runs, uploads, cells = tidy_tables(quick, seed=2)
    block = runs["block"].iloc[0]
    last = runs[runs["block"] == block].sort_values("created").index[-1]
    runs.loc[last, ["created", "finished"]] += 3600   # its last run an hour after the others
    bundle = analyse(steps, runs, uploads, cells, margin=0.1, little=5.0)
    assert block not in set(bundle.pipeline_block_pairs["block"])
    assert bundle.summary.blocks_left_out[block].startswith("its runs were not back to back: 60 min between")
    assert set(bundle.pipeline_block_pairs["block"]) == set(runs["block"]) - {block}


def test_a_pod_costs_its_paired_difference_and_claims_are_judged_with_and_without_waiting(repo, tmp_path, quick):
    """On a cluster backend: what a pod adds over a process, paired by block and step; C1, C2, C4 and C5
    twice, the no-wait judgement counted; C6 as shares of pods within a second."""
    quick["pipeline"]["backends"] = ["kubernetes", "local", "monolithic"]
    steps, runs, uploads, cells = tidy_tables(quick, seed=4)
    bundle = analyse(steps, runs, uploads, cells, margin=0.1, little=5.0)
    pod = steps[steps["backend"] == "kubernetes"].set_index(["run_id", "step"])
    paired = bundle.pipeline_pod_pairs
    row = paired.iloc[0]
    expected = (pod.loc[(f"kubernetes/{row['block']}", row["step"]), "overhead_nowait_seconds"]
                - steps[(steps["run_id"] == f"local/{row['block']}") & (steps["step"] == row["step"])][
                    "overhead_nowait_seconds"].item())
    assert row["overhead_nowait_seconds"] == pytest.approx(expected)
    assert len(paired) == len(runs[runs["backend"] == "kubernetes"]) * 9
    claims = bundle.claims.set_index("id")
    for cid in ("C1", "C2", "C4", "C5"):
        assert not claims.loc[cid, "counted"] and claims.loc[f"{cid}-nowait", "counted"]
        assert "without waiting for cores" in claims.loc[f"{cid}-nowait", "conditions"]
    shares = bundle.pipeline_startup_shares.set_index(["interval", "scope"])
    assert shares.loc[("created to scheduled", "every pod"), "n"] == len(pod)
    assert "of" in claims.loc["C6", "evidence"] and "pods (95 % CI" in claims.loc["C6", "evidence"]
    text = " ".join(pdf_text(build(repo, tmp_path, (steps, runs, uploads, cells), repo / "config/quick.yaml")).split())
    assert "more than the same step run as a local process (local), paired within blocks" in text
    assert "(shown," in text and "of this package's own" not in text


def test_backends_on_different_python_builds_are_named_a_limitation(repo, tmp_path, quick):
    """A cell's time depends on the interpreter (Keras's per-batch loop is Python): the methods name
    each backend's build, and a study whose backends ran on different builds says so."""
    from mlopsbench.results.sample_tables import PYTHON_BUILD

    steps, runs, uploads, cells = tidy_tables(quick, seed=5)
    same = " ".join(pdf_text(build(repo, tmp_path / "same", (steps, runs, uploads, cells),
                                   repo / "config/quick.yaml")).split())
    assert f"local: {PYTHON_BUILD}" in same and "different Python builds" not in same
    other = "3.11.7 (main, May 9 2026, 07:35:25) [GCC 12.2.0]"
    runs.loc[runs["backend"] == "local", "python"] = other
    mixed = " ".join(pdf_text(build(repo, tmp_path / "mixed", (steps, runs, uploads, cells),
                                    repo / "config/quick.yaml")).split())
    assert f"local: {other}" in mixed and f"monolithic: {PYTHON_BUILD}" in mixed
    assert "The backends' steps ran on different Python builds" in mixed
    runs["python"] = None
    unrecorded = " ".join(pdf_text(build(repo, tmp_path / "unrecorded", (steps, runs, uploads, cells),
                                         repo / "config/quick.yaml")).split())
    assert "No run recorded the Python build" in unrecorded and "is not shown" in unrecorded


def test_a_reference_measured_twice_sets_each_cell_and_claim_beside_the_other(repo, tmp_path, quick):
    """The topology part of a reference: every upload cell's summary beside its second measure, the
    ratio of their medians, and each upload and serving claim's two verdicts, printed in the report."""
    from dataclasses import replace

    import pandas as pd

    from mlopsbench.results.emulation import compare, shared_cells

    margin, little = quick["analysis"]["equivalence_margin"], quick["analysis"]["little_change_points"]
    steps, runs, uploads, cells = tidy_tables(quick, seed=3)
    first = analyse(steps, runs, uploads, cells, margin=margin, little=little)
    twice = uploads.assign(seconds=uploads["seconds"] * 2, emulation="nfqueue")
    second = analyse(None, None, twice, cells, margin=margin, little=little)
    compared, _ = compare(first, second)
    assert len(compared) == len(first.upload_summary) and set(compared["experiment"]) == {"upload"}
    assert compared["ratio"].round(9).eq(2.0).all()

    # The first measure is judged again on the cells the second measured, and on no other.
    cell = (twice["setup"] == "netns") & (twice["latency_ms"] == 250)
    alike = shared_cells({"uploads": uploads, "cells": cells, "serving_updates": None},
                         {"uploads": twice[cell], "cells": cells[cells["setup"] == "netns"]})
    assert alike["uploads"]["seconds"].tolist() == uploads.loc[cell, "seconds"].tolist()
    assert set(alike["cells"]["setup"]) == {"netns"} and alike["serving_updates"] is None

    # Only the claims both measures can judge, each verdict beside the other.
    def claims(*verdicts):
        return pd.DataFrame([{"id": i, "claim": f"claim {i}", "verdict": v, "evidence": f"{i} {v}"}
                             for i, v in verdicts])

    _, judged = compare(
        replace(first, claims=claims(("C1", "agrees"), ("C7-vm", "agrees"), ("C9-vm-pod", "agrees"),
                                     ("S4-vm-pod", "agrees"))),
        replace(second, claims=claims(("C7-vm", "agrees"), ("C9-vm-pod", "disagrees"), ("S4-vm-pod", "agrees"))))
    assert judged.set_index("id")["held"].to_dict() == {"C7-vm": True, "C9-vm-pod": False, "S4-vm-pod": True}
    assert judged.set_index("id").loc["C9-vm-pod", "evidence_second"] == "C9-vm-pod disagrees"

    first.emulation_cells, first.emulation_claims = compared, judged
    first.emulation_upload_cells = cells.assign(setup="vm")
    first.summary.compared_emulations = [first.summary.emulations, second.summary.emulations]
    first.write(tmp_path / "stats")
    make_figures(tmp_path / "stats", tmp_path / "figures")
    text = pdf_text(write_report(tmp_path / "stats", tmp_path / "figures", repo / "config/quick.yaml",
                                 repo / "report/report.md.j2", tmp_path / "report.pdf"))
    assert "The edge on a node of its own" in text and "verdict held" in text and "nodes, nfqueue" in text
    assert "Upload cells on the thesis's topology" in text
    assert (tmp_path / "figures/fig_emulation.png").exists() \
        and "Each upload and serving cell measured twice" in " ".join(text.split())
    assert "The second measure's emulation: nfqueue: the kernel's own path" in " ".join(text.split())


def test_the_machine_table_counts_the_drifted_runs_and_names_those_that_moved_most():
    """Most runs of a long study drift more than 10 %: the note counts them and names the five that
    moved most (by Keras or Python), not every one."""
    from types import SimpleNamespace

    import pandas as pd

    from mlopsbench.results.report.tables import machine

    drift = [2.0, 11.0, -30.0, 12.0, 25.0, 14.0, -15.0, 40.0]
    frame = pd.DataFrame({"run_id": [f"run{i}" for i in range(8)], "keras_step_s": 1e-3,
                          "cal_before_keras_step_s": 1e-3, "cal_after_keras_step_s": 1e-3,
                          "cal_before_python_s": 0.5, "cal_after_python_s": 0.5, "keras_drift_pct": drift,
                          "python_drift_pct": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -50.0],
                          "cpu_steal_pct": 0.0, "cpu_idle_pct": 1.0, "drifted": [abs(d) > 10 for d in drift]})
    note = machine(SimpleNamespace(pipeline_machine=frame)).note
    assert "7 of 8, the 5 that moved most: run7 (+40 % Keras, -50 % Python); run2 (-30 % Keras" in note
    assert all(f"{name} (" in note for name in ("run4", "run6", "run5"))
    assert "run3 (" not in note and "run1 (" not in note and "run0 (" not in note
    one = machine(SimpleNamespace(pipeline_machine=frame.assign(drifted=frame["run_id"] == "run1"))).note
    assert one.endswith("between its ends: run1 (+11 % Keras, +0 % Python).")
