# Pipeline-overhead experiment (Section 4.1) in blocks: a configuration and repetition with every
# backend run back to back (in an order drawn from pipeline.order_seed), each block its own target,
# so an interrupted study resumes where it stopped and a block resumes its unfinished runs.
rule pipeline_block:
    input:
        notebook=NOTEBOOK,
        dataset=paths.DATASET.replace("{mote}", str(MOTE)),
    output:
        paths.PIPELINE_BLOCK,
    params:
        backends=backends_of_block,
        width=width_of,
        series=series_of_run,
        hidden_layers=HIDDEN_LAYERS,
        training=" ".join(
            [
                f"--epochs {config['training']['epochs']}",
                f"--learning-rate {config['training']['learning_rate']}",
                f"--loss {config['training']['loss']}",
                f"--validation-split {config['training']['validation_split']}",
                f"--test-fraction {config['training']['test_fraction']}",
                f"--seed {config['training']['seed']}",
            ]
        ),
        study=config["study"],
        timeout=config["pipeline"]["step_timeout_s"],
        cpu_request=cpu_request_args(config),
        block=block_args(config),
        cluster=block_cluster_args,
    # A block owns the machine: concurrent runs would inflate each other's overhead.
    threads: workflow.cores
    log:
        "logs/pipeline/{arch}_{size}MB/{rep}.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench pipeline-block --backends {params.backends} --notebook {input.notebook:q}"
        " --dataset {input.dataset:q} --dataset-mb {wildcards.size} --width {params.width}"
        " --hidden-layers {params.hidden_layers} {params.training} --series {params.series}"
        " --study {params.study} --rep {wildcards.rep} --block {output:q}"
        " --cores {threads} --step-timeout {params.timeout} {params.cpu_request} {params.block}"
        " {params.cluster} 2> {log:q}"


rule pipeline_tidy:
    input:
        PIPELINE_BLOCKS,
    output:
        steps=paths.PIPELINE_STEPS,
        runs=paths.PIPELINE_RUNS,
    params:
        run_dirs=[os.path.dirname(p) for p in PIPELINE_RUNS],
    log:
        "logs/pipeline/tidy.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench pipeline-tidy --runs {params.run_dirs:q}"
        " --steps-output {output.steps:q} --runs-output {output.runs:q} 2> {log:q}"


rule pipeline:
    input:
        paths.PIPELINE_STEPS,
        paths.PIPELINE_RUNS,
