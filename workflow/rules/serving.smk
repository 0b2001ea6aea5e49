# Beyond the thesis: how long until the edge's model server answers with a new model. Each
# setup x method x latency x model size is one target; its client runs through all its updates.


rule serving_versions:
    output:
        [paths.SERVING_VERSION.format(size="{size}", version=n) for n in range(1, SERVING_UPDATE_COUNT + 2)],
    params:
        unit=config["upload"]["size_unit"],
        hidden_layers=HIDDEN_LAYERS,
        seed=config["upload"]["seed"],
    log:
        "logs/models/serving_{size}MB.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench serving-versions --size-mb {wildcards.size} --unit {params.unit}"
        " --hidden-layers {params.hidden_layers} --seed {params.seed} --output {output:q} 2> {log:q}"


rule serving_cell:
    input:
        lambda wildcards: paths.serving_versions(float(wildcards.size), SERVING_UPDATE_COUNT),
    output:
        paths.SERVING_CELL,
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
        study=config["study"],
        serving=SERVING_ARGS,
        part_size=config["upload"]["part_size_mib"],
        window=config["upload"]["proxy_window_kib"],
        bucket=config["upload"]["store"]["bucket"],
        store=STORE_ARGS,
        cluster=cluster_upload_args,
    # A serving cell owns the machine: its client's latencies are part of what it measures.
    threads: workflow.cores
    log:
        "logs/serving/{setup}_{method}_{latency}ms_{size}MB.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench serving-run --setup {wildcards.setup} --method {wildcards.method}"
        " --latency-ms {wildcards.latency} --model-mb {wildcards.size} --versions {input:q}"
        " --out-dir {params.out_dir:q} --study {params.study} {params.serving}"
        " --part-size-mib {params.part_size} --window-kib {params.window} --bucket {params.bucket}"
        " {params.cluster} {params.store} 2> {log:q}"


rule serving_tidy:
    input:
        SERVING_CELLS,
    output:
        updates=paths.SERVING_UPDATES,
        requests=paths.SERVING_REQUESTS,
    params:
        cell_dirs=lambda wildcards, input: [os.path.dirname(p) for p in input],
    log:
        "logs/serving/tidy.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench serving-tidy --cells {params.cell_dirs:q}"
        " --updates-output {output.updates:q} --requests-output {output.requests:q} 2> {log:q}"
