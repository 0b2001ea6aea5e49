# Model-update experiment (Section 4.2): each setup x latency is one target; inside it,
# every upload is recorded as it ends, so an interrupted cell resumes with what it lacks.


rule upload_cell:
    input:
        UPLOAD_MODELS,
    output:
        paths.UPLOAD_CELL,
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
        reps=config["upload"]["repetitions"],
        study=config["study"],
        part_size=config["upload"]["part_size_mib"],
        window=config["upload"]["proxy_window_kib"],
        bucket=config["upload"]["store"]["bucket"],
        store=STORE_ARGS,
        unit=config["upload"]["size_unit"],
        cluster=cluster_upload_args,
    # An upload cell owns the machine: concurrent cells would share its network and disk.
    threads: workflow.cores
    log:
        "logs/upload/{setup}_{latency}ms.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench upload-run --setup {wildcards.setup} --latency-ms {wildcards.latency}"
        " --models {input:q} --reps {params.reps} --out-dir {params.out_dir:q} --study {params.study}"
        " --part-size-mib {params.part_size} --window-kib {params.window}"
        " --bucket {params.bucket} --unit {params.unit} {params.cluster} {params.store} 2> {log:q}"


rule upload_tidy:
    input:
        UPLOAD_CELLS,
    output:
        uploads=paths.UPLOADS,
        cells=paths.UPLOAD_CELLS,
    params:
        cell_dirs=lambda wildcards, input: [os.path.dirname(p) for p in input],
    log:
        "logs/upload/tidy.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench upload-tidy --cells {params.cell_dirs:q}"
        " --output {output.uploads:q} --cells-output {output.cells:q} 2> {log:q}"


rule upload:
    input:
        paths.UPLOADS,
