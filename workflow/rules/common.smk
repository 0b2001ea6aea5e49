# Targets derived from the validated config; paths come from mlopsbench.paths only.
import os
import shlex
import sys

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
    for backend, c, rep in pipeline_runs(config)
]
BLOCK_BACKENDS = {
    paths.pipeline_block(c.width, HIDDEN_LAYERS, c.dataset_mb, rep): backends
    for c, rep, backends in pipeline_blocks(config)
}
PIPELINE_BLOCKS = list(BLOCK_BACKENDS)
UPLOAD_CELLS = [paths.upload_cell(setup, latency) for setup, latency in upload_cells(config)]
STORE_ARGS = store_args(config)
SERVING_CELLS = serving_cell_files(config)
SERVING_UPDATE_COUNT = update_count(config)
SERVING_ARGS = serving_run_args(config)
STUDY_FIGURES = figures_of(["pipeline", "upload", *(["serving"] if SERVING_CELLS else [])])
USES_CLUSTER = (
    any(BACKENDS[b].on_cluster for b in config["pipeline"]["backends"])
    or any(SETUPS[s].on_cluster for s in config["upload"]["setups"])
    or any(SETUPS[s].on_cluster for s in config.get("serving", {}).get("setups", []))
)
USES_LOCAL_CLUSTER = USES_CLUSTER and config.get("kubernetes", {}).get("local", False)


def width_of(wildcards):
    return wildcards.arch.split("x")[0]


def backends_of_block(wildcards, output):
    return " ".join(BLOCK_BACKENDS[output[0]])


def block_cluster_args(wildcards, output):
    on_cluster = any(BACKENDS[b].on_cluster for b in BLOCK_BACKENDS[output[0]])
    return f"--cluster-config {shlex.quote(CONFIG_FILE)}" if on_cluster else ""


def cluster_upload_args(wildcards):
    return f"--cluster-config {shlex.quote(CONFIG_FILE)}" if SETUPS[wildcards.setup].on_cluster else ""


def series_of_run(wildcards):
    return series_of(config, float(wildcards.size), int(width_of(wildcards)))


wildcard_constraints:
    size=r"\d+(\.\d+)?",
    arch=r"\d+(x\d+)*",
    setup="|".join(SETUPS),
    latency=r"\d+(\.\d+)?",
    rep=r"\d+",
    method="|".join(choices("serving.methods")),


if os.path.realpath(os.getcwd()) != os.path.realpath(workflow.basedir):
    # Never plan a study into some directory by surprise: say where its files go.
    print(f"mlopsbench: this study's data/, results/ and logs/ go to {os.getcwd()} (the working "
          f"directory); the workflow is {workflow.basedir}", file=sys.stderr)
