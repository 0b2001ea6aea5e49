"""Unit test: the pod's slower dnnfit taken apart (``results.dnnfit_causes``), which
benchmarks/bench_dnnfit.py prints and a reference's report shows, on runs whose cell times are
known: ratios are taken to the process of the same round, and a candidate is named the cause only
where the pod is slower and the pod without it is not."""

import pandas as pd
import pytest

from mlopsbench.pipeline.backends import BACKENDS
from mlopsbench.results.bundle import StatsBundle, Summary
from mlopsbench.results.dnnfit_causes import CAUSES, SAME, dnnfit_causes, dnnfit_seconds, ratio_read, sizes, verdicts
from mlopsbench.results.report import tables

ROUNDS = 5


def tables_of(factors: dict[str, float], speeds=(30.0, 36.0, 27.0, 33.0, 31.0), keras_steps=None, size_mb=10.0):
    """Each variant's runs: dnnfit takes the round's speed times its factor (the rounds differ, as a
    drifting machine's do; the ratios within a round do not), with a second clock that must be ignored;
    ``keras_steps``: each variant's calibrations (seconds per Keras step), none where not given."""
    steps, runs = [], []
    for variant, factor in factors.items():
        backend = "kubernetes" if variant.startswith("pod") else "local"
        for round_, speed in enumerate(speeds[:ROUNDS], 1):
            run_id = f"{variant}/{size_mb:g}/{round_}"
            runs.append({"run_id": run_id, "study": f"{CAUSES}{variant}", "rep": round_, "dataset_mb": size_mb,
                         "epochs": 5, "cpu_steal_pct": 0.01 * round_, "status": "succeeded"}
                        | ({"cal_before_keras_step_s": keras_steps[variant],
                            "cal_after_keras_step_s": keras_steps[variant]} if keras_steps else {}))
            steps += [{"run_id": run_id, "step": "dnnfit", "timestamp_source": BACKENDS[backend].clock,
                       "cell_seconds": speed * factor},
                      {"run_id": run_id, "step": "dnnfit", "timestamp_source": "some other clock", "cell_seconds": 1e6},
                      {"run_id": run_id, "step": "dnncompile", "timestamp_source": BACKENDS[backend].clock,
                       "cell_seconds": 0.1}]
    runs.append({"run_id": "elsewhere", "study": "another study", "rep": 1, "dataset_mb": 10.0, "epochs": 5,
                 "cpu_steal_pct": 0.0, "status": "succeeded"})
    return pd.DataFrame(steps), pd.DataFrame(runs)


def test_ratios_are_to_the_process_of_the_same_round():
    table = dnnfit_causes(dnnfit_seconds(*tables_of({"process": 1.0, "pod": 1.2, "pod-unconfined": 1.0})))
    by = table.set_index("variant")
    assert list(by.index) == ["process", "pod", "pod-unconfined"]
    assert by.loc["pod", "ratio"] == pytest.approx(1.2) and by.loc["pod", "ratio_n"] == ROUNDS
    assert by.loc["pod", "median"] == pytest.approx(31.0 * 1.2)   # the cell's own time on the backend's clock
    assert by.loc["pod", "steal_max_pct"] == pytest.approx(0.05) and by.loc["pod", "slower"]
    assert not by.loc["pod-unconfined", "slower"] and by.loc["process", "ratio_median"] == pytest.approx(1.0)


@pytest.mark.parametrize("factors, said", [
    ({"process": 1.0, "pod": 1.2, "pod-no-limit": 1.2, "process-quota": 1.0, "pod-unconfined": 1.0},
     ["the CPU limit's CFS quota is not the cause alone", "the seccomp profile is the cause"]),
    ({"process": 1.0, "pod": 1.2, "pod-no-limit": 1.0, "process-quota": 1.2, "pod-unconfined": 1.2},
     ["the CPU limit's CFS quota is the cause", "the seccomp profile is not the cause alone"]),
    ({"process": 1.0, "pod": 1.2, "pod-no-limit": 1.0, "process-quota": 1.0},
     ["the CPU limit's CFS quota is not shown to be the cause", "the seccomp profile was not taken away"]),
    ({"process": 1.0, "pod": 1.03, "pod-no-limit": 1.0, "pod-unconfined": 1.0}, ["the pod is no more than 1.05 times as slow"]),
])
def test_a_candidate_is_the_cause_only_where_taking_it_away_makes_the_pod_as_fast(factors, said):
    found = verdicts(dnnfit_causes(dnnfit_seconds(*tables_of(factors))))
    assert len(found) == len(said) and all(v.startswith(s) for v, s in zip(found, said))


def test_with_every_run_calibrated_the_ratios_divide_cell_times_at_the_median_speed():
    """A pod whose dnnfit is slower only as far as its runs' calibrations are (the machine was slower
    then) is as fast as the process; the same runs uncalibrated read as measured, and say so."""
    factors = {"process": 1.0, "pod": 1.2, "pod-unconfined": 1.1}
    calibrated = dnnfit_causes(dnnfit_seconds(*tables_of(
        factors, keras_steps={"process": 1e-3, "pod": 1.2e-3, "pod-unconfined": 1e-3})))
    by = calibrated.set_index("variant")
    assert by.loc["pod", "ratio"] == pytest.approx(1.0) and not by.loc["pod", "slower"]
    assert by.loc["pod", "ratio_as_measured"] == pytest.approx(1.2)   # shown beside the calibrated ratio
    assert by.loc["pod-unconfined", "ratio"] == pytest.approx(1.1) and by.loc["pod-unconfined", "slower"]
    assert by.loc["pod", "median"] == pytest.approx(31.0 * 1.2)   # the cell's time itself stays as measured
    assert ratio_read(calibrated) == "over the process of the same round, calibrated"
    measured = dnnfit_causes(dnnfit_seconds(*tables_of(factors))).set_index("variant")
    assert measured.loc["pod", "ratio"] == pytest.approx(1.2) and measured.loc["pod", "slower"]
    assert ratio_read(measured.reset_index()) == "over the process of the same round, as measured"


def test_a_run_that_did_not_succeed_is_left_out_and_said(caplog):
    steps, runs = tables_of({"process": 1.0, "pod": 1.2})
    runs.loc[runs["run_id"] == "pod/10/2", "status"] = "failed"
    by = dnnfit_causes(dnnfit_seconds(steps, runs)).set_index("variant")
    assert by.loc["pod", "n"] == ROUNDS - 1 and by.loc["process", "n"] == ROUNDS
    assert "1 of 10 runs did not succeed and are left out: pod/10/2" in caplog.text


def test_the_reports_table_shows_every_variant_with_its_rounds():
    bundle = StatsBundle(Summary(equivalence_margin=0.1, little_change_points=5.0))
    factors = {"process": 1.0, "pod": 1.2, "pod-no-limit": 1.3}
    bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(*tables_of(factors)))
    table = tables.dnnfit_causes(bundle)
    assert [row[1] for row in table.rows] == ["process", "pod", "pod-no-limit"]
    assert all(row[2] == str(ROUNDS) for row in table.rows) and "1.200" in table.rows[1][4]
    assert all(row[0] == "10" and row[4].endswith("(as measured)") for row in table.rows)


def test_the_quotas_throttling_of_the_pods_dnnfit_is_said_where_the_steps_printed_it():
    """Steps print their cgroup's CFS throttling as they end: where they did, the verdicts and the
    table say how long the quota held the pod's dnnfit back; runs from before say nothing of it."""
    steps, runs = tables_of({"process": 1.0, "pod": 1.2, "pod-no-limit": 1.0})
    bundle = StatsBundle(Summary(equivalence_margin=0.1, little_change_points=5.0))
    bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(steps, runs))
    assert not any("throttled" in said for said in verdicts(bundle.pipeline_dnnfit_causes))
    assert {row[6] for row in tables.dnnfit_causes(bundle).rows} == {"-"}

    steps["cfs_throttled_seconds"] = steps["run_id"].map(lambda run: 0.8 if run == "pod/10/3" else 0.0)
    bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(steps, runs))
    assert verdicts(bundle.pipeline_dnnfit_causes)[-1] == (
        "the CPU limit's CFS quota throttled the pod's dnnfit for at most 0.80 s in a run (its cell 37.2 s, median)")
    assert [row[6] for row in tables.dnnfit_causes(bundle).rows] == ["0.00 s", "0.80 s", "0.00 s"]


def test_each_size_is_its_own_comparison():
    """Runs kept at two sizes (rounds numbered alike in each) are never divided across sizes: each
    size has its own baseline, its own calibration's median speed, its own verdicts; uncalibrated
    runs at one size leave the other's ratios calibrated."""
    small = tables_of({"process": 1.0, "pod": 1.2, "pod-no-limit": 1.0})
    large = tables_of({"process": 1.0, "pod": 1.1, "pod-no-limit": 1.1}, speeds=(300.0, 360.0, 270.0, 330.0, 310.0),
                      keras_steps={"process": 1e-3, "pod": 1.1e-3, "pod-no-limit": 1e-3}, size_mb=20.0)
    table = dnnfit_causes(dnnfit_seconds(*(pd.concat([a, b], ignore_index=True) for a, b in zip(small, large))))
    assert list(table["dataset_mb"]) == [10.0] * 3 + [20.0] * 3
    by = table.set_index(["dataset_mb", "variant"])
    assert by.loc[(10.0, "pod"), "ratio"] == pytest.approx(1.2) and not by.loc[(10.0, "pod"), "calibrated"]
    assert by.loc[(20.0, "pod"), "ratio"] == pytest.approx(1.0) and by.loc[(20.0, "pod"), "calibrated"]
    assert by.loc[(20.0, "pod-no-limit"), "ratio"] == pytest.approx(1.1)
    assert by.loc[(20.0, "process"), "median"] == pytest.approx(310.0) and by.loc[(10.0, "pod"), "n"] == ROUNDS
    small_said, large_said = (verdicts(one) for one in sizes(table))
    assert small_said[0].startswith("the CPU limit's CFS quota is the cause (")
    assert large_said[0].startswith("the pod is no more than 1.05 times as slow")
    with pytest.raises(ValueError, match="one dataset size at a time"):
        verdicts(table)


def test_the_cores_a_cell_kept_busy_tell_more_work_from_waiting_for_a_cpu():
    """Steps print the CPU seconds of their cells: a pod 1.2 times as slow whose cell kept its two
    cores as busy as the process's did more work; the verdicts and the table say how busy."""
    steps, runs = tables_of({"process": 1.0, "pod": 1.2})
    bundle = StatsBundle(Summary(equivalence_margin=0.1, little_change_points=5.0))
    bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(steps, runs))
    assert {row[7] for row in tables.dnnfit_causes(bundle).rows} == {"- / - / -"}
    assert not any("cores busy" in said for said in verdicts(bundle.pipeline_dnnfit_causes))

    steps["cpu_seconds"] = 1.9 * steps["cell_seconds"]
    bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(steps, runs))
    assert verdicts(bundle.pipeline_dnnfit_causes)[-2:] == [
        "the pod's dnnfit kept 1.90 cores busy over its cell, the process's 1.90 (CPU seconds over cell seconds, median)",
        "dnnfit's cell kept fewer than 0.95 cores busy (off its CPU a twentieth of its time or more) in runs of: "
        "process 0 of 5, pod 0 of 5"]
    assert [row[7] for row in tables.dnnfit_causes(bundle).rows] == ["1.90 / - / -", "1.90 / - / -"]


def test_the_rest_of_the_machine_says_what_took_the_cpu_a_pod_waited_for():
    """Steps print the machine's busy CPU over their cells too: what the runner, the cluster and the
    runtime took beside the cell; rounds whose steps printed nothing (an earlier set) are counted."""
    steps, runs = tables_of({"process": 1.0, "pod": 1.2})
    pod = steps["run_id"].str.startswith("pod")
    steps["cpu_seconds"] = steps["cell_seconds"] * pod.map({True: 1.25, False: 1.5})
    steps["machine_busy_seconds"] = steps["cpu_seconds"] + steps["cell_seconds"] * pod.map({True: 0.5, False: 0.1})
    steps.loc[steps["run_id"].str.endswith("/1"), ["cpu_seconds", "machine_busy_seconds"]] = None
    bundle = StatsBundle(Summary(equivalence_margin=0.1, little_change_points=5.0))
    bundle.pipeline_dnnfit_causes = dnnfit_causes(dnnfit_seconds(steps, runs))
    said = verdicts(bundle.pipeline_dnnfit_causes)
    assert said[-2] == ("the rest of the machine kept 0.50 cores busy beside the pod's cell, 0.10 beside the "
                        "process's (CPU seconds over cell seconds, median of the 4 rounds that printed it)")
    assert said[-3].startswith("the pod's dnnfit kept 1.25 cores busy over its cell, the process's 1.50 ")
    assert said[-1].endswith("in runs of: process 0 of 4, pod 0 of 4")
    assert [row[7] for row in tables.dnnfit_causes(bundle).rows] == ["1.50 (4) / - / 0.10 (4)",
                                                                     "1.25 (4) / - / 0.50 (4)"]


def test_a_ratio_whose_interval_holds_both_as_fast_and_slower_names_no_verdict():
    """Noisy rounds: a pod 1.1 times the process in the middle but with an interval from below 1 to
    past 1.05 is neither slower nor as fast, and no cause is named; a pod that is slower, whose
    variant without a candidate is that noisy, leaves that candidate undecided."""
    steps, runs = tables_of({"process": 1.0, "pod": 1.0, "pod-no-limit": 1.0, "pod-unconfined": 1.0})
    noise = steps["run_id"].str.split("/").str[-1].astype(int).map({1: 0.85, 2: 1.35, 3: 1.0, 4: 1.3, 5: 0.95})

    def with_pod(pod_factor, noisy):
        scaled = steps.copy()
        scaled.loc[scaled["run_id"].str.startswith("pod/"), "cell_seconds"] *= pod_factor
        where = scaled["run_id"].str.startswith(noisy + "/")
        scaled.loc[where, "cell_seconds"] *= noise[where]
        return dnnfit_causes(dnnfit_seconds(scaled, runs))

    table = with_pod(1.0, "pod")
    pod = table.set_index("variant").loc["pod"]
    assert pod["ratio_low"] < 1 < SAME < pod["ratio_high"] and not pod["slower"] and not pod["as_fast"]
    assert verdicts(table) == [f"whether the pod is more than 1.05 times as slow as the process cannot be told here "
                               f"({pod['ratio']:.3f} [{pod['ratio_low']:.3f}, {pod['ratio_high']:.3f}]): "
                               f"no cause can be told apart"]
    said = verdicts(with_pod(1.2, "pod-no-limit"))
    assert said[0].startswith("whether the CPU limit's CFS quota is the cause cannot be told (the pod without it: ")
    assert said[1] == "the seccomp profile is the cause (the pod without it is as fast as the process)"


def test_the_pages_a_cell_waited_to_read_from_disk_are_said_where_the_steps_printed_them():
    steps, runs = tables_of({"process": 1.0, "pod": 1.2})
    assert not any("major faults" in said for said in verdicts(dnnfit_causes(dnnfit_seconds(steps, runs))))
    steps["major_faults"] = steps["run_id"].str.startswith("pod").map({True: 4000, False: 12})
    assert verdicts(dnnfit_causes(dnnfit_seconds(steps, runs)))[-1] == (
        "the pod's dnnfit waited for at most 4000 pages from disk in a run (major faults), the process's 12")


def test_a_cell_off_its_cpu_is_counted_with_what_it_waited_on():
    """A cell that kept fewer than 0.95 cores busy was off its CPU: counted per variant over the runs
    that printed their CPU, with the most its threads waited on a run queue and the most pages it
    read from disk, each over the off-CPU runs that printed it; the waiting threads are a column of
    cores beside the busy ones."""
    steps, runs = tables_of({"process": 1.0, "process-quota": 1.0, "pod": 1.2})
    off = steps["run_id"].isin(["pod/10/2", "process-quota/10/2", "process-quota/10/4"])
    steps["cpu_seconds"] = steps["cell_seconds"] * off.map({True: 0.8, False: 1.05})
    steps["major_faults"] = off.map({True: 30, False: 2})
    steps["run_queue_seconds"] = steps["cell_seconds"] * 0.02
    steps.loc[steps["run_id"] == "process-quota/10/4", "run_queue_seconds"] = 9.5
    steps.loc[steps["run_id"].str.endswith("/4"), "major_faults"] = None
    table = dnnfit_causes(dnnfit_seconds(steps, runs))
    by = table.set_index("variant")
    assert list(by["off_cpu_runs"]) == [0, 1, 2] and by.loc["process", "cores_queued"] == pytest.approx(0.02)
    assert verdicts(table)[-3:] == [
        "dnnfit's cell kept fewer than 0.95 cores busy (off its CPU a twentieth of its time or more) in runs of: "
        "process 0 of 5, pod 1 of 5, process-quota 2 of 5",
        "in the 3 of those runs that printed it, its threads waited at most 9.5 s for a CPU (run queue; the runs on "
        "their CPU at most 0.8 s)",
        "in the 2 of those runs that printed it, it read at most 30 pages from disk (major faults; the runs on their "
        "CPU at most 2)"]
    assert ("the pod's dnnfit had 0.02 cores' worth of threads waiting for a CPU, the process's 0.02 (seconds on a "
            "run queue over cell seconds, median)") in verdicts(table)
