# The published file is never a job output, so no re-run (forced, or after a new pin) can
# delete it: the job's output is the record that the copy in place was checked against the pin.
# A copy put in place later is checked again (it is this job's input once it exists).
rule download_intel_lab:
    input:
        lambda wildcards: [paths.RAW_INTEL_LAB] if os.path.exists(paths.RAW_INTEL_LAB) else [],
    output:
        paths.RAW_INTEL_LAB_CHECKED,
    params:
        raw=paths.RAW_INTEL_LAB,
        url=config["data"]["url"],
        sha256=config["data"]["sha256"] or "",
    log:
        "logs/data/download.log",
    conda:
        "../../environment.yml"
    retries: 0
    shell:
        "mlopsbench download --url {params.url} --sha256={params.sha256} --output {params.raw:q}"
        " --record {output:q} 2> {log:q}"


rule filter_node:
    input:
        paths.RAW_INTEL_LAB_CHECKED,
    output:
        csv=paths.node_csv(MOTE),
        counts=paths.node_counts(MOTE),
    params:
        raw=paths.RAW_INTEL_LAB,
        mote=MOTE,
    log:
        f"logs/data/filter_node{MOTE}.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench filter --input {params.raw:q} --mote {params.mote}"
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
