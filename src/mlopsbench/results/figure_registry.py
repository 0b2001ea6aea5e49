"""Every figure of the report, one entry each: its file name, its caption and the experiment it
needs. The Snakemake rules take their outputs and captions from here, ``figures`` draws each
one under its entry, and the report template names them by key (``{{ fig.uploads }}``), so a
misspelt figure fails the report instead of leaving a hole. Adding a figure is its drawing
function and one entry here. (No heavy imports: the Snakefile reads this module.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str          # file name without suffix: <name>.png, .pdf and .json in the figures directory
    caption: str
    experiment: str    # "pipeline", "upload", "serving" or "measured twice" (a reference's topology part):
                       # drawn only when that experiment has data


# What a caption says of its bars: the interval the tables read, or the range of a few values.
BARS = ("Bars: the 95 % interval (the mean's t-interval, or the median's) from 3 values on, the range of the "
        "values below 3; n is printed beside each point.")

FIGURES: dict[str, Figure] = {
    "durations": Figure(
        "fig14_durations",
        "Figure 14 analogue. Mean job durations of one run, model 8x8x8, against dataset size; one panel per "
        "backend that runs a job per cell, and the thesis's Table 2 with the midpoints of Table 3's ranges; the "
        "panels share their y-scale; n above a bar: the runs it averages.",
        "pipeline"),
    "overhead_dataset": Figure(
        "fig15_overhead_dataset",
        "Figure 15 analogue. Overall overhead of a run against dataset size, model 8x8x8, per backend; solid: the "
        "thesis's definition, waiting for cores included; dashed: the same without waiting for cores. Open markers: "
        "the percentages quoted in Section 6.1. " + BARS,
        "pipeline"),
    "overhead_model": Figure(
        "fig16_overhead_model",
        "Figure 16 analogue. Overall overhead of a run against the model's trainable parameters on the model "
        "series' dataset, per backend; dashed: without waiting for cores. Open markers: Section 6.1. " + BARS,
        "pipeline"),
    "job_overhead_dataset": Figure(
        "fig17_job_overhead_dataset",
        "Figure 17 analogue. Overhead share of selected jobs against dataset size, one panel per backend; the "
        "overhead counts waiting for cores, start-up, marshalling and the rest; dashed: without waiting for cores. "
        "Open markers: the end points quoted in Section 6.1; the panels share their y-scale. " + BARS,
        "pipeline"),
    "job_overhead_model": Figure(
        "fig18_job_overhead_model",
        "Figure 18 analogue. Overhead share of selected jobs against model size, one panel per backend; dashed: "
        "without waiting for cores. Bands: the ranges quoted in Section 6.1. " + BARS,
        "pipeline"),
    "overhead_parts": Figure(
        "fig_overhead_parts",
        "Beyond the thesis. What each step's overhead is made of (mean seconds), one panel per backend that runs "
        "a job per cell: waiting for cores or Pending, start-up, marshalling, and the rest.",
        "pipeline"),
    "pod_cost": Figure(
        "fig_pod_cost",
        "Beyond the thesis. What a step costs as a pod over the same step as a local process, paired within "
        "blocks (the pod's overhead minus the process's, seconds), per step: filled, without waiting for cores; "
        "open, waiting included. The grey line: the pod's own parts on the runtime's clock (sum of their "
        "medians). " + BARS,
        "pipeline"),
    "calibration": Figure(
        "fig_calibration",
        "Beyond the thesis. The machine's speed beside every run: the calibration just before (dot) and after "
        "(cross) each run, a fixed Keras training loop (top) and a pure-Python loop (bottom), against the time, "
        "one panel per sitting (a pause of over an hour starts the next). A red ring marks a run whose calibration moved more than 10 % between its ends.",
        "pipeline"),
    "uploads": Figure(
        "fig19_uploads",
        "Figure 19 analogue. Model upload time against model size, one panel per added latency, every setup. "
        "Open markers: the times quoted in Section 6.2 for the thesis's VM and pod setups. " + BARS,
        "upload"),
    "serving_time": Figure(
        "fig_serving_time",
        "Beyond the thesis. Time to serve a new model (its upload's start to the first answer from it) against "
        "model size, one panel per added latency, a line per setup and update method.",
        "serving"),
    "serving_parts": Figure(
        "fig_serving_parts",
        "Beyond the thesis. What time to serve is made of (mean seconds per update), one bar per cell: the "
        "upload, the edge noticing it (or the roll-out starting), the download, the load, and the first answer.",
        "serving"),
    "serving_latency": Figure(
        "fig_serving_latency",
        "Beyond the thesis. The latency of answered requests in steady serving and during an update (median "
        "and 95th percentile), per cell.",
        "serving"),
    "emulation": Figure(
        "fig_emulation",
        "Beyond the thesis. Each upload and serving cell measured twice: its median on the thesis's topology "
        "(core and edge nodes, the edge's latency as its records name it) over its median as the reference first "
        "ran it (one node, the user-space delay proxy), against the added latency; one panel per experiment and "
        "update method, a colour per model size, a line style per setup. Above 1: slower on the topology.",
        "measured twice"),
}


def figures_of(experiments) -> list[Figure]:
    """The figures a study with these experiments draws."""
    return [figure for figure in FIGURES.values() if figure.experiment in experiments]
