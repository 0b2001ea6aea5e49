# Statistics, figures and the PDF report (thesis Section 6 side by side with ours).


rule stats:
    input:
        steps=paths.PIPELINE_STEPS,
        runs=paths.PIPELINE_RUNS,
        uploads=paths.UPLOADS,
        cells=paths.UPLOAD_CELLS,
        serving_updates=paths.SERVING_UPDATES,
        serving_requests=paths.SERVING_REQUESTS,
    output:
        directory(paths.STATS_DIR),
    params:
        margin=config["analysis"]["equivalence_margin"],
        little=config["analysis"]["little_change_points"],
    log:
        "logs/report/stats.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench stats --steps {input.steps:q} --runs {input.runs:q} --uploads {input.uploads:q}"
        " --upload-cells {input.cells:q} --serving-updates {input.serving_updates:q}"
        " --serving-requests {input.serving_requests:q} --equivalence-margin {params.margin}"
        " --little-change-points {params.little} --out-dir {output:q} 2> {log:q}"


rule figures:
    input:
        paths.STATS_DIR,
    output:
        **{
            figure.name: report(
                f"{paths.FIGURES_DIR}/{figure.name}.png",
                category="Figures",
                labels={"figure": figure.name, "caption": figure.caption},
            )
            for figure in STUDY_FIGURES
        },
        vectors=[f"{paths.FIGURES_DIR}/{figure.name}.pdf" for figure in STUDY_FIGURES],
        index=f"{paths.FIGURES_DIR}/index.json",
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.index),
    log:
        "logs/report/figures.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench figures --stats-dir {input:q} --out-dir {params.out_dir:q} 2> {log:q}"


rule report:
    input:
        stats=paths.STATS_DIR,
        figures=f"{paths.FIGURES_DIR}/index.json",
        config=CONFIG_FILE,
        template=REPORT_TEMPLATE,
        checked=paths.RAW_INTEL_LAB_CHECKED,
        data=paths.node_csv(MOTE),
        counts=paths.node_counts(MOTE),
    output:
        report(paths.REPORT, caption="../report/report.rst", category="Report"),
    params:
        figures_dir=lambda wildcards, input: os.path.dirname(input.figures),
        raw=paths.RAW_INTEL_LAB,
    log:
        "logs/report/report.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench report --stats-dir {input.stats:q} --figures-dir {params.figures_dir:q}"
        " --config {input.config:q} --template {input.template:q} --data {params.raw:q} {input.data:q}"
        " --counts {input.counts:q} --output {output:q} 2> {log:q}"
