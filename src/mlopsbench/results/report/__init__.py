"""Write the PDF report: every thesis table and figure beside ours, claims judged.

The text lives in a Jinja2 template (``report/report.md.j2``) with a small markup. The
tables are pure functions of the statistics (``tables``), where the numbers came from is
``provenance``, and ``pdf`` lays it all out. This module puts them together: which
backends and setups ran (from the statistics), the methods text (from the registries),
the limitations.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import yaml

from ..bundle import StatsBundle
from ..dnnfit_causes import BASELINE, ratio_read, sizes, verdicts
from ..figure_registry import FIGURES
from ...pipeline.backends import BACKENDS
from ..analysis import TRIVIAL_STEPS, cri_sum
from ..stats import center, in_series, reference
from ...upload.setups import SETUPS
from . import provenance, tables
from .pdf import build_pdf
from .tables import TABLE2_JOBS, TABLE4_JOBS, pct

# The steps whose start imports TensorFlow (to build, train, or load a model): the rest start light.
TENSORFLOW_STEPS = ("dnncompile", "dnnfit", "dnneval", "dnnpredict")


# What each latency emulation a record names did (the records' ``emulation``).
EMULATIONS = {
    "netem": "netem: the kernel's qdisc on the client's link, as in the thesis.",
    "netem-daemonset": "netem: the kernel's qdisc on the edge node's interface, set by a DaemonSet, as in the thesis.",
    "nfqueue": "nfqueue: the kernel's own path, every packet across the delayed link held by netdelay through a "
               "netfilter queue, so TCP's handshake, slow start and window growth cross the delay; each cell "
               "checked the added round trip and the queue's throughput first (the table of its upload cells).",
    "proxy": "proxy: a user-space delay proxy that terminates TCP and forwards a fixed window per round trip.",
    "none": "none: no latency added.",
}


def emulations_said(emulations: list[str]) -> str:
    """What the emulations a measure's records name did, a sentence each."""
    return " ".join(EMULATIONS.get(e, f"{e}.") for e in emulations)


class Context:
    """Everything the template shows, computed from the stats directory and the run's inputs."""

    def __init__(self, stats_dir: Path, figures_dir: Path, config_path: Path, data_files: list[Path],
                 counts_path: Path | None, repo: Path, manifest: dict | None = None):
        self.stats = StatsBundle.read(stats_dir)
        self.summary = self.stats.summary
        self.figures = {f["name"]: f | {"png": figures_dir / f"{f['name']}.png"}
                        for f in json.loads((figures_dir / "index.json").read_text())["figures"]}
        self.config_text = config_path.read_text()
        self.config = yaml.safe_load(self.config_text)
        self.counts = json.loads(counts_path.read_text()) if counts_path and counts_path.exists() else None
        self.data_files = data_files
        self.repo = repo
        self.ref = reference()
        self.missing = self.summary.missing
        self.backends = [] if "pipeline" in self.missing else tables.backends_of(self.stats)
        self.setups = self.summary.setups
        # A study rebuilt from its raw exports (the reference run) was measured elsewhere: its
        # manifest, not this machine, says where and with what.
        self.manifest = manifest

    def tables(self) -> dict[str, tables.Table]:
        machine, versions = ((self._per_experiment("machine"), self._per_experiment("versions")) if self.manifest
                             else (provenance.machine(), provenance.versions()))
        made = {"setup": tables.setup(machine, self.backends, self.setups, versions,
                                      provenance.checksums(self.data_files), self.counts),
                "parameters": tables.parameters(self.summary.models, self.ref["trainable_params"]["printed"]),
                "claims": tables.claims(self.stats)}
        if "pipeline" not in self.missing:
            made |= {"durations": tables.per_size(self.stats, "duration_seconds", TABLE2_JOBS, self.ref["job_duration_s"],
                                                  "Table 2 analogue: job durations [s], model 8x8x8"),
                     "cell_times": tables.per_size(self.stats, "cell_seconds", TABLE4_JOBS, self.ref["cell_time_s"],
                                                   "Table 4 analogue: the jobs' own execution times [s]"),
                     "other_durations": tables.other_durations(self.stats, self.ref["job_duration_range_s"]),
                     "overall": tables.overall(self.stats, self.ref["overall_overhead_pct"]),
                     "end_to_end": tables.end_to_end(self.stats), "block_pairs": tables.block_pairs(self.stats),
                     "dnnfit_effects": tables.dnnfit_effects(self.stats),
                     "overhead_parts": tables.overhead_parts(self.stats), "machine": tables.machine(self.stats),
                     "calibrated_cells": tables.calibrated_cells(self.stats),
                     "pod_cost": tables.pod_cost(self.stats), "pod_seconds": tables.pod_seconds(self.stats),
                     "clocks": tables.clocks(self.stats),
                     "clock_lags": tables.clock_lags(self.stats), "ablation": tables.ablation(self.stats),
                     "dnnfit_causes": tables.dnnfit_causes(self.stats),
                     "memory": tables.memory(self.stats)}
        if "upload" not in self.missing:
            made |= {"uploads": tables.uploads(self.stats, self.ref["upload_s"]),
                     "equivalence": tables.equivalence(self.stats),
                     "upload_cells": tables.upload_cells(self.stats.upload_cells)}
        if "serving" not in self.missing:
            made |= {"serving_time": tables.serving_time(self.stats), "serving_parts": tables.serving_parts(self.stats),
                     "serving_requests": tables.serving_requests(self.stats),
                     "serving_latency": tables.serving_latency(self.stats),
                     "serving_comparisons": tables.serving_comparisons(self.stats)}
        if not self.stats.emulation_cells.empty:
            made |= {"emulation_cells": tables.emulation_cells(self.stats),
                     "emulation_claims": tables.emulation_claims(self.stats),
                     "emulation_upload_cells": tables.upload_cells(self.stats.emulation_upload_cells,
                                                                   "Upload cells on the thesis's topology")}
        return made

    def answer(self) -> list[str]:
        """The study's answer in a few sentences, each number with the interval the tables read."""
        said = self._pod_answer() + self._overall_answer() + self._pairs_answer()
        verdicts = {c["id"]: c for c in self.stats.claims.to_dict("records")}
        for kind, what in (("C7", "latency"), ("C8", "model size")):
            judged = [c for cid, c in verdicts.items() if cid.startswith(f"{kind}-")]
            if judged:
                agree = [c["id"].split("-", 1)[1] for c in judged if c["verdict"] == "agrees"]
                said.append(f"Upload time grows with {what} in {len(agree)} of {len(judged)} setups"
                            f"{' (' + ', '.join(agree) + ')' if agree else ''}, as the thesis found (Figure 19).")
        for cid, claim in verdicts.items():
            if cid.startswith("C9-"):
                first, second = cid.split("-")[1:3]
                said.append(f"{first} against {second}: {claim['evidence']} (the thesis: no significant difference; "
                            f"verdict: {claim['verdict']}).")
        return said + self._serving_answer()

    def _pod_answer(self) -> list[str]:
        """What a step costs as a pod, from pairs within blocks, reconciled with the pod's own parts."""
        cost = self.stats.pipeline_pod_cost
        said = []
        for (cluster, local), group in (cost.groupby(["cluster", "local"]) if not cost.empty else []):
            every = group[(group["step"] == "all steps") & (group["value"] == "overhead_nowait_seconds")].iloc[0]
            steps = group[(group["step"] != "all steps") & (group["value"] == "overhead_nowait_seconds")]
            light = steps[~steps["step"].isin(TENSORFLOW_STEPS)]
            median = "" if every["read"] == "median" else f"; median {tables.num(every['median'])} s"  # not twice
            sentence = (f"A notebook step run as a Kubernetes pod ({cluster}) costs {tables.with_ci(every, unit='s')} more than "
                        f"the same step run as a local process ({local}), paired within blocks by step and without "
                        f"waiting for cores ({int(every['n'])} pairs{median})")
            if not light.empty:
                sentence += (f"; {tables.num(light['mean'].min())}-{tables.num(light['mean'].max())} s on each step that "
                             "imports no TensorFlow")
            said.append(sentence + ". " + self._reconciled(every))
        return said

    def _reconciled(self, paired) -> str:
        """Whether the pod's own parts on the runtime's clock (the CRI table) match the paired cost."""
        parts = cri_sum(self.stats)
        if parts is None:
            return "The runtime's own clock was not kept, so the pod's parts are not shown beside it."
        low, high = paired["low"], paired["high"]
        start = self._process_start()
        said = f"The pod's own parts on the runtime's clock sum to {tables.num(parts)} s (medians, CRI table)"
        if low <= parts <= high:
            return said + ", inside that interval."
        net = parts
        if start is not None:
            net -= start
            said += (f"; less the interpreter's start, which a process pays too ({tables.num(start)} s, median of the "
                     f"local steps), {tables.num(net)} s")
        if low <= net <= high:
            return said + ", inside that interval."
        side, edge = ("above", high) if net > high else ("below", low)
        return said + f": {tables.num(abs(net - edge))} s {side} that interval, which no part we measure explains."

    def _process_start(self) -> float | None:
        """A local step's start: from its dispatch to its first statement (median over every step)."""
        summary = self.stats.pipeline_startup_summary
        local = [b for b in self.backends if b in BACKENDS and BACKENDS[b].split and not BACKENDS[b].on_cluster]
        rows = summary[summary["backend"].isin(local) & (summary["metric"] == "start_seconds")] \
            if not summary.empty else summary
        return float(rows.iloc[0]["median"]) if not rows.empty else None

    def _overall_answer(self) -> list[str]:
        """The overhead's share of a run at the smallest and largest dataset, with and without waiting."""
        overall = self.stats.pipeline_overall_summary
        backend = self.summary.split_backend
        if not backend or overall.empty:
            return []
        mine = in_series(overall[overall["backend"] == backend], "dataset")
        by = {metric: group.sort_values("dataset_mb") for metric, group in mine.groupby("metric")}
        if len(by.get("overhead_pct", [])) < 2:
            return []
        quoted = [p for p in self.ref["overall_overhead_pct"] if p["series"] == "dataset"]
        thesis = " to ".join(f"{p['value']} % at {p['dataset_mb']:g} MB" for p in quoted)
        ends = by["overhead_pct"].iloc[[0, -1]]
        said = (f"The overhead's share of a run on {backend} goes from {tables.with_ci(ends.iloc[0], 1, '%')} at "
                f"{ends.iloc[0]['dataset_mb']:g} MB to {tables.with_ci(ends.iloc[1], 1, '%')} at "
                f"{ends.iloc[1]['dataset_mb']:g} MB (model {ends.iloc[0]['model']}), waiting for cores included")
        if "overhead_nowait_pct" in by:
            free = by["overhead_nowait_pct"].iloc[[0, -1]]
            said += (f", and from {tables.with_ci(free.iloc[0], 1, '%')} to {tables.with_ci(free.iloc[1], 1, '%')} without "
                     "it, the thesis's conditions")
        return [said + f" (the thesis: {thesis}, Figure 15)."]

    def _pairs_answer(self) -> list[str]:
        """End to end and dnnfit's cell, one backend over another within blocks, from 20 MB on, calibrated."""
        frame = self.stats.pipeline_pair_summary
        rows = frame[(frame["scope"] == "20 MB and larger") & (frame["times"] == "calibrated")] \
            if not frame.empty else frame
        said = []
        for _, r in rows.iterrows():
            if r["metric"] == "end to end" and BACKENDS[r["b"]].split:
                continue   # the answer compares each backend with the notebook in one process
            near = "within" if abs(center(r) - 1) <= 0.05 else "not within"
            said.append(f"{r['a']} / {r['b']}, {r['metric']}, from 20 MB on: {tables.with_ci(r, 3)} "
                        f"({int(r['n'])} blocks, calibrated; {near} 5 % of 1).")
        return said + self._dnnfit_answer()

    def _dnnfit_answer(self) -> list[str]:
        """dnnfit per backend from one fit over the blocks, as measured and with the stolen CPU held equal."""
        fits = self.stats.pipeline_dnnfit_effects
        if fits.empty:
            return []
        by = {(r["model"], r["term"]): r for _, r in fits.iterrows()}
        steal = by[("stolen CPU held equal", "a point of stolen CPU")]
        said = []
        for (model, term), r in by.items():
            if model == "as measured":
                held = by[("stolen CPU held equal", term)]
                said.append(f"dnnfit's cell, {term} / {r['against']}, one fit over {int(r['blocks'])} blocks from "
                            f"20 MB on, as measured: {tables.interval(r['ratio'], r['low'], r['high'])}; with the CPU "
                            f"the host stole held equal: {tables.interval(held['ratio'], held['low'], held['high'])}.")
        return said + [f"Each point of CPU stolen over a run multiplied its dnnfit time by "
                       f"{tables.interval(steal['ratio'], steal['low'], steal['high'])}."] + self._causes_answer()

    def _causes_answer(self) -> list[str]:
        """The pod's slower dnnfit taken apart, per dataset size: each candidate cause taken away, and
        what that shows."""
        said = []
        for causes in sizes(self.stats.pipeline_dnnfit_causes):
            by = causes.set_index("variant")
            ratios = "; ".join(f"{variant} {tables.cause_ratio(r)}" for variant, r in by.iterrows()
                               if variant != BASELINE)
            said.append(f"The pod's dnnfit taken apart on this machine ({int(by['n'].max())} rounds at "
                        f"{by['dataset_mb'].iloc[0]:g} MB, {int(by['epochs'].max())} epochs; each "
                        f"{ratio_read(causes)}): {ratios}. So {'; '.join(verdicts(causes))}.")
        return said

    def _serving_answer(self) -> list[str]:
        """Beyond the thesis: the fastest and slowest time to serve per update method."""
        served, said = self.stats.serving_summary, []
        for method, group in (served.groupby("method") if not served.empty else []):
            ends = [group.loc[group["mean"].idxmin()], group.loc[group["mean"].idxmax()]]
            where = [f"{r['setup']}, {r['latency_ms']:g} ms, {r['model_mb']:g} MB" for r in ends]
            said.append(f"Beyond the thesis, a new model answered at the edge ({method}) from "
                        f"{tables.with_ci(ends[0], unit='s')} after its upload began ({where[0]}) to "
                        f"{tables.with_ci(ends[1], unit='s')} ({where[1]}).")
        if not served.empty:
            said.append(f"{self.summary.serving_failed_requests} requests failed or got no answer through "
                        f"{self.summary.serving_updates} updates ({self.summary.serving_updates_failed} of them failed).")
        return said

    def differences(self) -> list[str]:
        """By how much our jobs' durations and own execution times differ from the thesis's at the same
        configurations (Tables 2 and 4), on the backend that stands for its Kubernetes runs."""
        backend = self.summary.split_backend
        summary = self.stats.pipeline_steps_summary
        said = []
        for metric, ref in (("duration_seconds", self.ref["job_duration_s"]), ("cell_seconds", self.ref["cell_time_s"])):
            ours = in_series(summary[(summary["metric"] == metric) & (summary["backend"] == backend)], "dataset") \
                if backend and not summary.empty else summary
            ratios = []
            for job, values in ref["jobs"].items():
                for size, thesis in zip(ref["dataset_mb"], values):
                    row = tables.first_row(ours, step=job, dataset_mb=float(size)) if not ours.empty else None
                    if row is not None and thesis:
                        ratios.append((row["mean"] / thesis, job, size))
            if ratios:
                ratios.sort()
                middle = ratios[len(ratios) // 2][0]
                (low, low_job, low_size), (high, high_job, high_size) = ratios[0], ratios[-1]
                what = "durations" if metric == "duration_seconds" else "own execution times"
                said.append(f"The jobs' {what} ({ref['cite']}, {len(ratios)} job and size pairs): ours are "
                            f"{middle:.2f} times the thesis's in the middle, from {low:.2f} ({low_job}, {low_size:g} MB) "
                            f"to {high:.2f} ({high_job}, {high_size:g} MB).")
        return said + self._causes()

    def _causes(self) -> list[str]:
        """The trivial jobs' gap to the thesis's, and what each cause it names accounts for."""
        backend, summary = self.summary.split_backend, self.stats.pipeline_steps_summary
        ranges = self.ref["job_duration_range_s"]["jobs"]
        if not backend or summary.empty:
            return []
        ours = in_series(summary[(summary["metric"] == "duration_seconds") & (summary["backend"] == backend)
                                 & summary["step"].isin(TRIVIAL_STEPS)], "dataset")["mean"]
        if ours.empty:
            return []
        theirs = sum(sum(ranges[job]) / 2 for job in TRIVIAL_STEPS) / len(TRIVIAL_STEPS)
        gap = theirs - ours.mean()
        startup = self.stats.pipeline_startup_summary
        mine = startup[startup["backend"] == backend].set_index("metric")["median"] if not startup.empty else {}
        ours_start = sum(float(mine[m]) for m in ("pending_seconds", "start_seconds") if m in mine)
        clocks = self.stats.pipeline_clocks
        shift = clocks[(clocks["backend"] == backend) & clocks["step"].isin(TRIVIAL_STEPS)
                       & (clocks["clock"] == "prometheus")]["shift_mean"].mean() if not clocks.empty else float("nan")
        sized, words = 0.0, []
        for cause in self.ref["overhead_causes"]:
            if cause["low"] is None:
                words.append(f"{cause['cause']}, which it does not size and our runner does not do")
            elif cause["per"] == "run":
                words.append(f"{cause['cause']}, {cause['low']:g}-{cause['high']:g} s once per run, outside the jobs")
            elif cause["cause"].startswith("creation"):
                extra = max(0.0, cause["high"] - ours_start)
                sized += extra
                words.append(f"{cause['cause']}, under {cause['high'] / 2:g} s each ({cause['cite'].split(' (')[0]}),"
                             f" here {tables.num(ours_start)} s together: at most {tables.num(extra)} s more there")
            elif cause["high"]:
                sized += (cause["low"] + cause["high"]) / 2
                words.append(f"{cause['cause']}, {cause['low']:g}-{cause['high']:g} s per job, which our jobs do not run")
            else:
                words.append(f"{cause['cause']}, {cause['cite'].split('(')[-1].rstrip(')')}")
        if shift == shift:   # the thesis's clock: kube-state-metrics' whole seconds
            sized += abs(shift)
            words.append(f"reading the times from kube-state-metrics' whole seconds, as the thesis did, which moves a "
                         f"trivial job's overhead by {tables.num(shift)} s here")
        rest = gap - sized
        return [f"The trivial jobs ({', '.join(TRIVIAL_STEPS)}) take {tables.num(ours.mean())} s here against "
                f"{tables.num(theirs)} s in the thesis (Table 3 midpoints): {tables.num(gap)} s more there. The causes "
                f"the thesis names (Section 6.1.1), sized: {'; '.join(words)}. Together the sized ones account for "
                f"{tables.num(sized)} s; {tables.num(rest)} s of the gap no cause we can size explains (the thesis "
                f"leaves Kubeflow's archiving unsized)."]

    def limitations(self) -> list[str]:
        items = []
        if self.counts and self.counts["kept"] < 0.5 * self.ref["dataset_points"]["value"]:
            items.append(f"The node filter kept {self.counts['kept']:,} readings of mote {self.counts['mote']}, not "
                         f"the ~{self.ref['dataset_points']['value']:,} the thesis reports ("
                         f"{self.ref['dataset_points']['cite']}): this input is not the full published file.")
        runs, uploads = self.summary.pipeline_repetitions, self.summary.upload_repetitions
        if runs and min(runs) < 6:
            items.append(f"{_count(runs)} repetitions per pipeline configuration (the thesis ran 6): intervals are wide.")
        if uploads and min(uploads) < 10:
            items.append(f"{_count(uploads)} repetitions per upload configuration (the thesis ran 10).")
        if "proxy" in self.summary.emulations:
            items.append("Latency came from the user-space delay proxy, not netem: TCP's own slow start and "
                         "loss recovery are not emulated, only delay, a handshake round trip and a window.")
        if self.backends and not any(BACKENDS[b].on_cluster for b in self.backends if b in BACKENDS):
            items.append("Jobs ran as local processes, not Kubernetes pods: the scheduling, image and volume costs "
                         "of a cluster are absent, so overheads are a lower bound of the thesis's.")
        elif self.backends:
            items.append(f"The Kubernetes cluster differs from the thesis's: {self._cluster_shape()}; no Kubeflow "
                         "Pipelines or Kale controller: our runner creates each step's pod and watches it, and a "
                         "stage-in pod copies the dataset into the run's volume before the first step (not counted "
                         "as a step, where Kale's marshal-volume job is one).")
        if self.summary.unmeasured:
            still = ", ".join(f"{n} {what}" for what, n in self.summary.unmeasured.items())
            items.append(f"Not yet measured: {still} of this design (a later sitting measures them); what is "
                         "shown of that experiment is what has finished.")
        if mixed := self._mixed_interpreters():
            items.append(mixed)
        items += [f"The {name} experiment is missing from this report." for name in self.missing if name != "serving"]
        if "serving" in self.missing:
            items.append("The serving experiment (beyond the thesis) was not part of this study: its configuration "
                         "has no serving section, or no serving cell finished.")
        items.append("The thesis's Figure 13 (the pipeline's DAG) is an image not described in its text; our DAG "
                     "follows the data each cell reads.")
        return items

    def _cluster_shape(self) -> str:
        # Only where the runner's machine was the node did the runs keep the runtime's own clock.
        if not self.stats.pipeline_pod_seconds.empty:
            return (f"one node on the runner's machine ({_count(self.summary.cores)} cores) plays both the core and "
                    "the edge role, built and started by this package, with images imported rather than pulled")
        return "the cluster named by the configuration's kubeconfig"

    def waiting(self) -> list[str]:
        """Steps whose overhead is mostly waiting for cores, which the thesis's definition counts."""
        frame = self.stats.pipeline_overhead_parts
        found = frame[frame["wait_seconds"] > 0.5 * frame["overhead_seconds"]] if not frame.empty else frame
        return [f"{r['step']} on {r['backend']}: {r['wait_seconds']:.1f} of its {r['overhead_seconds']:.1f} s of "
                f"overhead was spent waiting for cores" for _, r in found.iterrows()]

    def _kubernetes(self) -> str:
        """The Kubernetes version the runs' API server reported, else the manifest's build, else unknown."""
        if self.summary.kubernetes_versions:
            return " and ".join(self.summary.kubernetes_versions)
        built = ((self.manifest or {}).get("tools") or {}).get("kube-apiserver")
        return built.split()[-1] if built and built != "unknown" else "(version not recorded)"

    def _cores(self) -> str:
        """The cores each step asked for, as the runs recorded them."""
        asked = self.summary.cpu_per_step
        if not asked:
            return "no run recorded the cores its steps asked for"
        uniform = {n for mapping in asked for n in mapping.values()}
        if len(uniform) == 1:
            return f"every step asked for {uniform.pop()} core(s), whatever its notebook tag"
        wanted = "; ".join(", ".join(f"{step} {n}" for step, n in sorted(mapping.items()) if n > 1) for mapping in asked)
        return (f"each step asked for the cores of its notebook tag (limit:cpu), capped at the runner's "
                f"{_count(self.summary.cores)} ({wanted}; the others 1), so a step waited until they were free, and "
                f"that wait counts as overhead, as a pod's Pending time does in the thesis")

    def _experiments_by(self, key: str) -> dict[str, list[str]]:
        """The manifest's experiments grouped by what each recorded under ``key`` (its commit, machine
        or versions): one group, unless some were measured apart (a later sitting, another interpreter)."""
        groups: dict[str, list[str]] = {}
        for experiment, recorded in (self.manifest.get("measured") or {}).items():
            groups.setdefault(recorded[key], []).append(experiment)
        return groups

    def _per_experiment(self, key: str) -> str:
        """What the manifest records of the measuring machine: one value, or one per group of experiments."""
        groups = self._experiments_by(key)
        if len(groups) < 2:
            return self.manifest[key]
        return "; ".join(f"{', '.join(names)}: {value}" for value, names in groups.items())

    def _measured_with(self) -> str | None:
        """The measuring commit a manifest records: one, or one per group of experiments."""
        groups = self._experiments_by("commit") if self.manifest else {}
        if groups:
            return " and ".join(f"{commit[:12]} ({', '.join(names)})" for commit, names in groups.items())
        return (self.manifest or {}).get("measured_with_commit")

    def _interpreters(self) -> str:
        """Which Python build ran each backend's steps, as the runs recorded it."""
        recorded = {backend: builds for backend, builds in self.summary.pythons.items() if builds}
        if not recorded:
            runner = self._runner_python()
            return ("No run recorded the Python build its steps ran on (runs measured before steps printed it)."
                    + (f" The measuring machine's own, which ran the steps of the backends that run processes "
                       f"there: {runner}; a pod's is its image's." if runner else ""))
        text = "; ".join(f"{backend}: {' and '.join(builds)}" for backend, builds in sorted(recorded.items()))
        return f"The Python build each backend's steps ran on (sys.version, as each step printed it): {text}."

    def _runner_python(self) -> str | None:
        """The measuring machine's Python, as the manifest records it for the pipeline ("Python 3.11.7")."""
        found = re.search(r"Python [0-9.]+", (self.manifest or {}).get("versions", ""))
        return found.group(0) if found else None

    def _mixed_interpreters(self) -> str | None:
        """A limitation where backends compared ran on different Python builds, or did not say."""
        builds = {build for backends in self.summary.pythons.values() for build in backends}
        unrecorded = [b for b in self.backends if not self.summary.pythons.get(b)]
        if len(self.backends) < 2 or (len(builds) == 1 and not unrecorded):
            return None
        if len(builds) > 1:
            return ("The backends' steps ran on different Python builds (see Methods): a cell's time depends on "
                    "the interpreter's speed (Keras's per-batch loop is Python), so every comparison between these "
                    "backends includes that difference besides what the orchestration adds.")
        return (f"The runs of {', '.join(unrecorded)} did not record their Python build: that the backends ran on "
                "the same interpreter, which their comparison assumes, is not shown.")

    def methods(self) -> dict:
        timestamps = " ".join(BACKENDS[b].timestamps for b in self.backends if b in BACKENDS)
        cores = self._cores()
        latency = "Not measured (the upload experiment is missing)."
        if "upload" not in self.missing:
            paths = " ".join(SETUPS[s].path for s in self.setups if s in SETUPS)
            warmups = " or ".join(map(str, self.summary.warmup_uploads))
            latency = (f"Setups: {paths} Emulation in force: {emulations_said(self.summary.emulations)} "
                       f"The configured latency is "
                       f"added to every round trip, half in each direction, as the thesis's netem delay on the edge "
                       f"interface. Unmeasured uploads before each cell's first measured one: {warmups or 'none'} "
                       f"(a fresh store allocates its volumes on its first write).")
        return {"timestamps": timestamps or "No pipeline runs.", "latency": latency, "cores": cores,
                "interpreters": self._interpreters(), "blocks": self._blocks()}

    def _blocks(self) -> str:
        """How the backends were compared and the machine's speed kept beside them."""
        summary = self.summary
        said = ("A block runs one configuration and repetition on every backend back to back, in an order drawn "
                "from the study's seed and recorded with every run; every comparison between backends (pod minus "
                "process, split over notebook, end to end) pairs two runs of one block, so the machine's drift over "
                "hours, which moved the same training step by a factor of two in an earlier run of this package, "
                "falls on both sides. Just before and after every run a fixed calibration runs on the run's own "
                "interpreter (a pure-Python loop and a fixed Keras training loop), and the CPU's idle and stolen "
                "shares are read over the run. Times are given as measured and calibrated: times the study's median "
                "calibration over the run's own, that is at the study's median speed; the verdicts on ratios read "
                "the calibrated ones, and a share (overhead %) is the same either way.")
        if summary.calibrated_runs:
            said += (f" {summary.calibrated_runs} runs were calibrated; {summary.drifted_runs} of them moved more than "
                     "10 % between their two calibrations (flagged in the machine table).")
        else:
            said += " No run of this study was calibrated: only the measured times are shown."
        if summary.blocks_left_out:
            said += (" Left out of the paired comparisons: "
                     + "; ".join(f"block {b} ({why})" for b, why in summary.blocks_left_out.items()) + ".")
        return said

    def render(self, template: Path) -> str:
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent), autoescape=True,
                                 undefined=jinja2.StrictUndefined, lstrip_blocks=True)
        verdicts = {kind: {"agrees": 0, "disagrees": 0, "cannot tell": 0, "total": 0} for kind in ("thesis", "package")}
        for claim in self.stats.claims.to_dict("records"):
            if claim.get("counted", True):
                kind = claim.get("kind", "thesis")
                verdicts[kind][claim["verdict"]] += 1
                verdicts[kind]["total"] += 1
        return env.get_template(template.name).render(
            study=self.config["study"], generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            git=provenance.git(self.repo), measured_with=self._measured_with(),
            summary=self.summary, missing=self.missing, verdicts=verdicts,
            backends=self.backends, margin=self.summary.equivalence_margin, methods=self.methods(),
            waiting=self.waiting(), on_cluster=any(BACKENDS[b].on_cluster for b in self.backends if b in BACKENDS),
            runtime_clock=not self.stats.pipeline_pod_seconds.empty,
            limitations=self.limitations(), answer=self.answer(), differences=self.differences(), pct=pct,
            variants=[build for build in self.summary.kubelet_builds if build != "stock"],
            ablation=not self.stats.pipeline_ablation.empty, measured_twice=not self.stats.emulation_cells.empty,
            second_emulation=emulations_said(self.summary.compared_emulations[-1]) if self.summary.compared_emulations
            else "",
            dnnfit_effects=not self.stats.pipeline_dnnfit_effects.empty,
            dnnfit_causes=not self.stats.pipeline_dnnfit_causes.empty,
            runner_cores=_count(self.summary.cores) if self.summary.cores else "unrecorded",
            kubernetes=self._kubernetes(),
            fig=SimpleNamespace(**{key: figure.name for key, figure in FIGURES.items()}))


def _count(values: list[int]) -> str:
    """2, or 2-3 where the runs differ."""
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def write_report(stats_dir, figures_dir, config_path, template, dest, data_files=(), counts_path=None,
                 manifest_path=None) -> Path:
    template = Path(template)
    manifest = json.loads(Path(manifest_path).read_text()) if manifest_path and Path(manifest_path).exists() else None
    context = Context(Path(stats_dir), Path(figures_dir), Path(config_path), [Path(p) for p in data_files],
                      Path(counts_path) if counts_path else None, repo=template.resolve().parent, manifest=manifest)
    build_pdf(context.render(template), context.tables(), context.figures, {"config": context.config_text},
              Path(dest))
    return Path(dest)
