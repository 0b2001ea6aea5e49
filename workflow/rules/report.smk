# Statistics, figures and the PDF report (thesis Section 6 side by side with ours).


rule stats:
    input:
        steps=paths.PIPELINE_STEPS,
        runs=paths.PIPELINE_RUNS,
        uploads=paths.UPLOADS,
        cells=paths.UPLOAD_CELLS,
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
        "mlopsbench stats --steps {input.steps} --runs {input.runs} --uploads {input.uploads}"
        " --upload-cells {input.cells} --equivalence-margin {params.margin}"
        " --little-change-points {params.little} --out-dir {output} 2> {log}"


rule figures:
    input:
        paths.STATS_DIR,
    output:
        **{
            name: report(
                f"{paths.FIGURES_DIR}/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
            )
            for name in paths.FIGURE_NAMES
        },
        vectors=[f"{paths.FIGURES_DIR}/{name}.pdf" for name in paths.FIGURE_NAMES],
        index=f"{paths.FIGURES_DIR}/index.json",
    params:
        out_dir=lambda wildcards, output: os.path.dirname(output.index),
    log:
        "logs/report/figures.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench figures --stats-dir {input} --out-dir {params.out_dir} 2> {log}"


rule report:
    input:
        stats=paths.STATS_DIR,
        figures=f"{paths.FIGURES_DIR}/index.json",
        config=CONFIG_FILE,
        template=REPORT_TEMPLATE,
        data=[paths.RAW_INTEL_LAB, paths.node_csv(MOTE)],
        counts=paths.node_counts(MOTE),
    output:
        report(paths.REPORT, caption="../report/report.rst", category="Report"),
    params:
        figures_dir=lambda wildcards, input: os.path.dirname(input.figures),
    log:
        "logs/report/report.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench report --stats-dir {input.stats} --figures-dir {params.figures_dir}"
        " --config {input.config} --template {input.template} --data {input.data}"
        " --counts {input.counts} --output {output} 2> {log}"
