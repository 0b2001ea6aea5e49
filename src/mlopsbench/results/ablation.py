"""Where a pod's seconds go, proven by taking each cause away: the ablation of the kubelet's constants.

The runs of ``benchmarks/bench_cluster.py --ablation`` (a reference keeps them in
``results/raw/ablation/``): per kubelet build (stock, or a variant built from a patched source)
and case (a trivial step with its run's volume, the same step without a volume, a real short
step), each pod's parts on the runtime's clock and its own cost, everything but the step's work;
and what each change saved against the same step on stock Kubernetes with its volume, beside what
the kubelet's source predicts it saves.
"""

from __future__ import annotations

import pandas as pd

from .analysis import OWN_WORK, POD_PARTS
from .stats import difference, summarize

ABLATION = "ablation: "           # how the ablation's runs name their study: "ablation: <case>"
STOCK, WITH_VOLUME = "stock", "its volume"
# What each change is predicted to save of a pod's own cost, from Kubernetes 1.34.4's kubelet: the
# PLEG's 1 s relist (an exit seen 0-1 s late, and the pod worker's wait for the next relist), and
# the volume manager's 300 ms poll before a sandbox starts.
PREDICTED_SAVING_S = {"relist-100ms": 1.5, "no volume": 0.3}


def pod_costs(steps: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per pod of an ablation run: its kubelet, its case, each part and its own cost."""
    pods = steps[steps["timestamp_source"] == "watch"].merge(
        runs[["run_id", "study", "kubelet_build"]], on="run_id")
    pods = pods[pods["study"].str.startswith(ABLATION) & pods["container_started"].notna()]
    parts = {name: pods[end] - pods[start] for name, start, end in POD_PARTS}
    frame = pd.DataFrame(parts).assign(kubelet=pods["kubelet_build"].fillna(STOCK),
                                       case=pods["study"].str.removeprefix(ABLATION))
    return frame.assign(own_cost=frame[[n for n, _, _ in POD_PARTS if n != OWN_WORK]].sum(axis=1))


def _predicted(kubelet: str, case: str) -> float:
    saved = PREDICTED_SAVING_S.get(kubelet, 0.0)
    return saved + (PREDICTED_SAVING_S["no volume"] if not case.endswith(WITH_VOLUME) else 0.0)


def ablation(steps: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per kubelet and case: the pods' own cost and its saving against the same step on stock
    with its volume, measured and predicted; per kubelet, case and part: its median and interval)."""
    pods = pod_costs(steps, runs)
    costs, parts = [], []
    for (kubelet, case), group in pods.groupby(["kubelet", "case"], sort=False):
        step = case.split(",")[0]
        base = pods[(pods["kubelet"] == STOCK) & (pods["case"] == f"{step}, {WITH_VOLUME}")]["own_cost"]
        saved = difference(base, group["own_cost"])
        costs.append({"kubelet": kubelet, "case": case, **summarize(group["own_cost"]),
                      "saving": saved["diff"], "saving_low": saved["diff_low"], "saving_high": saved["diff_high"],
                      "predicted": _predicted(kubelet, case)})
        parts += [{"kubelet": kubelet, "case": case, "part": name, **summarize(group[name])}
                  for name, _, _ in POD_PARTS]
    return _stock_first(pd.DataFrame(costs)), _stock_first(pd.DataFrame(parts))


def _stock_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Stock Kubernetes first, then each variant; by case within each (the parts keep their order)."""
    variant = frame["kubelet"] != STOCK
    return frame.assign(variant=variant).sort_values(["variant", "kubelet", "case"], kind="stable") \
        .drop(columns="variant").reset_index(drop=True)
