"""Unit test: the kubelet ablation's decomposition (``results.ablation``), which the benchmark prints
and a reference's report shows, on pods whose every part is known: each pod's own cost is the sum
of its parts but the step's work, and a saving is measured against the same step on stock
Kubernetes with its volume."""

import numpy as np
import pandas as pd
import pytest

from mlopsbench.results.ablation import ABLATION, PREDICTED_SAVING_S, ablation, pod_costs
from mlopsbench.results.analysis import OWN_WORK, POD_PARTS
from mlopsbench.results.bundle import StatsBundle, Summary
from mlopsbench.results.report import tables

# Seconds of each part of a pod's life, but the step's work (2 s everywhere), per kubelet and case.
PARTS = {("stock", "trivial, its volume"): [0.03, 0.6, 0.3, 0.05, 0.1, 0.02, 1.2],
         ("stock", "trivial, no volume"): [0.03, 0.3, 0.3, 0.05, 0.1, 0.02, 1.2],
         ("relist-100ms", "trivial, its volume"): [0.03, 0.6, 0.3, 0.05, 0.1, 0.02, 0.1],
         ("relist-100ms", "trivial, no volume"): [0.03, 0.3, 0.3, 0.05, 0.1, 0.02, 0.1]}
PODS = 20


def tables_of(parts=PARTS, pods=PODS, jitter=0.01, seed=0):
    rng = np.random.default_rng(seed)
    steps, runs = [], []
    for (kubelet, case), seconds in parts.items():
        for i in range(pods):
            run_id = f"{kubelet}/{case}/{i}"
            runs.append({"run_id": run_id, "study": f"{ABLATION}{case}",
                         "kubelet_build": None if kubelet == "stock" else kubelet})
            stamps, t = {POD_PARTS[0][1]: 1.8e9}, 1.8e9
            work = iter([*seconds[:5], 2.0, *seconds[5:]])   # the step's own work is the sixth part
            for _, _, end in POD_PARTS:
                t += next(work) + rng.normal(0, jitter)
                stamps[end] = t
            steps.append({"run_id": run_id, "timestamp_source": "watch", **stamps})
    return pd.DataFrame(steps), pd.DataFrame(runs)


def test_a_pods_own_cost_is_its_parts_but_the_steps_work():
    steps, runs = tables_of(jitter=0.0)
    pods = pod_costs(steps, runs)
    assert len(pods) == len(PARTS) * PODS and set(pods["kubelet"]) == {"stock", "relist-100ms"}
    for (kubelet, case), seconds in PARTS.items():
        mine = pods[(pods["kubelet"] == kubelet) & (pods["case"] == case)]
        assert mine["own_cost"].to_numpy() == pytest.approx(sum(seconds))
        assert mine[OWN_WORK].to_numpy() == pytest.approx(2.0)


def test_savings_are_against_the_same_step_on_stock_with_its_volume():
    costs, parts = ablation(*tables_of())
    by = costs.set_index(["kubelet", "case"])
    base = sum(PARTS[("stock", "trivial, its volume")])
    for key, seconds in PARTS.items():
        assert by.loc[key, "median"] == pytest.approx(sum(seconds), abs=0.03)
        assert by.loc[key, "saving"] == pytest.approx(base - sum(seconds), abs=0.03)
        assert by.loc[key, "saving_low"] < by.loc[key, "saving"] < by.loc[key, "saving_high"] or key == (
            "stock", "trivial, its volume")
    assert by.loc[("relist-100ms", "trivial, no volume"), "predicted"] == pytest.approx(
        PREDICTED_SAVING_S["relist-100ms"] + PREDICTED_SAVING_S["no volume"])
    assert by.loc[("stock", "trivial, its volume"), "predicted"] == 0.0
    assert set(parts["part"]) == {name for name, _, _ in POD_PARTS} and (parts["n"] == PODS).all()


def test_the_reports_table_shows_every_kubelet_and_case():
    bundle = StatsBundle(Summary(equivalence_margin=0.1, little_change_points=5.0))
    bundle.pipeline_ablation, bundle.pipeline_ablation_parts = ablation(*tables_of())
    table = tables.ablation(bundle)
    assert [(row[0], row[1]) for row in table.rows] == list(PARTS) and all(row[2] == str(PODS) for row in table.rows)
