# The whole study: `snakemake --cores N` (thesis design) or
# `snakemake --cores N --configfile config/quick.yaml` (minutes-long smoke study).
# Rules only call the `mlopsbench` CLI; the logic lives in src/mlopsbench.
from mlopsbench import paths
from mlopsbench.cluster.nodes import cluster_up_args
from mlopsbench.config import (
    block_args,
    choices,
    cpu_request_args,
    pipeline_blocks,
    pipeline_runs,
    series_of,
    store_args,
    upload_cells,
    validate_config,
)
from mlopsbench.results.figure_registry import figures_of
from mlopsbench.pipeline.backends import BACKENDS
from mlopsbench.serving.plan import serving_cell_files, update_count
from mlopsbench.serving.plan import run_args as serving_run_args
from mlopsbench.upload.setups import SETUPS


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


validate_config(config, source=" + ".join(map(str, workflow.configfiles)))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/pipeline.smk"
include: "workflow/rules/upload.smk"
include: "workflow/rules/serving.smk"
include: "workflow/rules/report.smk"


onstart:
    # Where the study stands and about how long the rest takes (Snakemake counts the steps).
    shell(f"mlopsbench progress --config {shlex.quote(CONFIG_FILE)}")
    if USES_LOCAL_CLUSTER:
        # The study brings the local cluster up if it is down, and leaves it as the user had it.
        shell(f"mlopsbench cluster up --repo {shlex.quote(workflow.basedir)} --hold {paths.CLUSTER_HOLD} "
              f"{cluster_up_args(config)}")
    if USES_CLUSTER:
        # What a runner killed outright left in the cluster goes before anything is measured.
        shell(f"mlopsbench cleanup --cluster-config {shlex.quote(CONFIG_FILE)}")


if USES_LOCAL_CLUSTER:

    onsuccess:
        shell(f"mlopsbench cluster down --release {paths.CLUSTER_HOLD}")

    onerror:
        shell(f"mlopsbench cluster down --release {paths.CLUSTER_HOLD}")


rule all:
    default_target: True
    input:
        DATASETS,
        REGRESSION_MODELS,
        UPLOAD_MODELS,
        paths.REPORT,
