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
    experiment: str    # "pipeline", "upload" or "serving": drawn only when that experiment has data


FIGURES: dict[str, Figure] = {
    "durations": Figure(
        "fig14_durations",
        "Figure 14 analogue. Mean job durations of one run, model 8x8x8, against dataset size; one panel per "
        "backend that runs a job per cell, and the thesis's Table 2 with the midpoints of Table 3's ranges.",
        "pipeline"),
    "overhead_dataset": Figure(
        "fig15_overhead_dataset",
        "Figure 15 analogue. Overall overhead of a run against dataset size, model 8x8x8, per backend; the "
        "thesis's definition, waiting for cores included. Open markers: the percentages quoted in Section 6.1.",
        "pipeline"),
    "overhead_model": Figure(
        "fig16_overhead_model",
        "Figure 16 analogue. Overall overhead of a run against the model's trainable parameters on the model "
        "series' dataset, per backend. Open markers: Section 6.1.",
        "pipeline"),
    "job_overhead_dataset": Figure(
        "fig17_job_overhead_dataset",
        "Figure 17 analogue. Overhead share of selected jobs against dataset size, one panel per backend; the "
        "overhead counts waiting for cores, start-up, marshalling and the rest. Open markers: the end points "
        "quoted in Section 6.1.",
        "pipeline"),
    "job_overhead_model": Figure(
        "fig18_job_overhead_model",
        "Figure 18 analogue. Overhead share of selected jobs against model size, one panel per backend. Bands: "
        "the ranges quoted in Section 6.1.",
        "pipeline"),
    "overhead_parts": Figure(
        "fig_overhead_parts",
        "Beyond the thesis. What each step's overhead is made of (mean seconds), one panel per backend that runs "
        "a job per cell: waiting for cores or Pending, start-up, marshalling, and the rest.",
        "pipeline"),
    "uploads": Figure(
        "fig19_uploads",
        "Figure 19 analogue. Model upload time against model size, one panel per added latency, every setup. "
        "Open markers: the times quoted in Section 6.2 for the thesis's VM and pod setups.",
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
}


def figures_of(experiments) -> list[Figure]:
    """The figures a study with these experiments draws."""
    return [figure for figure in FIGURES.values() if figure.experiment in experiments]
