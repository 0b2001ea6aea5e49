# Targets derived from the validated config; paths come from mlopsbench.paths only.
import os

MOTE = config["data"]["mote"]
HIDDEN_LAYERS = config["model"]["hidden_layers"]

DATASETS = [paths.dataset(MOTE, size) for size in config["data"]["dataset_sizes_mb"]]
REGRESSION_MODELS = [paths.regression_model(w, HIDDEN_LAYERS) for w in config["model"]["widths"]]
UPLOAD_MODELS = [paths.upload_model(size) for size in config["upload"]["model_sizes_mb"]]
NOTEBOOK = os.path.join(workflow.basedir, config["pipeline"]["notebook"])
REPORT_TEMPLATE = os.path.join(workflow.basedir, "report", "report.md.j2")
# The file given with --configfile wins over the Snakefile's default.
CONFIG_FILE = str((workflow.overwrite_configfiles or workflow.configfiles)[-1])
PIPELINE_RUNS = [
    paths.pipeline_run(backend, c.width, HIDDEN_LAYERS, c.dataset_mb, rep)
    for backend in config["pipeline"]["backends"]
    for c in pipeline_configurations(config)
    for rep in range(1, config["pipeline"]["repetitions"] + 1)
]
UPLOAD_CELLS = [
    paths.upload_cell(setup, latency)
    for setup in config["upload"]["setups"]
    for latency in config["upload"]["latencies_ms"]
]
STORE = config["upload"]["store"]
STORE_ARGS = (
    f"--endpoint {STORE['endpoint']}" + (" --secure" if STORE["secure"] else "")
    if STORE["endpoint"]
    else ""
)


def width_of(wildcards):
    return wildcards.arch.split("x")[0]


def cluster_args(wildcards):
    return f"--cluster-config {CONFIG_FILE}" if wildcards.backend == "kubernetes" else ""


def cluster_upload_args(wildcards):
    return f"--cluster-config {CONFIG_FILE}" if wildcards.setup in ("vm", "pod") else ""


def series_of_run(wildcards):
    return series_of(config, float(wildcards.size), int(width_of(wildcards)))


wildcard_constraints:
    size=r"\d+(\.\d+)?",
    arch=r"\d+(x\d+)*",
    backend=r"local|monolithic|kubernetes",
    setup=r"host|netns|vm|pod",
    latency=r"\d+(\.\d+)?",
    rep=r"\d+",
