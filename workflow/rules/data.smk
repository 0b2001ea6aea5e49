rule download_intel_lab:
    output:
        paths.RAW_INTEL_LAB,
    params:
        url=config["data"]["url"],
        sha256=config["data"]["sha256"] or "",
    log:
        "logs/data/download.log",
    conda:
        "../../environment.yml"
    retries: 0
    shell:
        "mlopsbench download --url {params.url} --sha256={params.sha256} --output {output:q} 2> {log:q}"


rule filter_node:
    input:
        paths.RAW_INTEL_LAB,
    output:
        csv=paths.node_csv(MOTE),
        counts=paths.node_counts(MOTE),
    params:
        mote=MOTE,
    log:
        f"logs/data/filter_node{MOTE}.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench filter --input {input:q} --mote {params.mote}"
        " --output {output.csv:q} --counts {output.counts:q} 2> {log:q}"


rule dataset:
    input:
        paths.node_csv(MOTE),
    output:
        paths.DATASET.replace("{mote}", str(MOTE)),
    log:
        "logs/data/dataset_{size}MB.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench dataset --input {input:q} --size-mb {wildcards.size} --output {output:q} 2> {log:q}"


rule datasets:
    input:
        DATASETS,
