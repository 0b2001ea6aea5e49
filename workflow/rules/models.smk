rule regression_model:
    input:
        paths.node_csv(MOTE),
    output:
        model=paths.REGRESSION_MODEL,
        info=paths.sidecar(paths.REGRESSION_MODEL),
    params:
        width=width_of,
        hidden_layers=HIDDEN_LAYERS,
        learning_rate=config["training"]["learning_rate"],
        loss=config["training"]["loss"],
        seed=config["training"]["seed"],
    log:
        "logs/models/regression_{arch}.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench regression-model --data {input:q} --width {params.width}"
        " --hidden-layers {params.hidden_layers} --learning-rate {params.learning_rate}"
        " --loss {params.loss} --seed {params.seed} --output {output.model:q} 2> {log:q}"


rule upload_model:
    output:
        model=paths.UPLOAD_MODEL,
        info=paths.sidecar(paths.UPLOAD_MODEL),
    params:
        unit=config["upload"]["size_unit"],
        hidden_layers=HIDDEN_LAYERS,
        seed=config["upload"]["seed"],
    log:
        "logs/models/upload_{size}MB.log",
    conda:
        "../../environment.yml"
    shell:
        "mlopsbench upload-model --size {wildcards.size} --unit {params.unit}"
        " --hidden-layers {params.hidden_layers} --seed {params.seed} --output {output.model:q} 2> {log:q}"


rule models:
    input:
        REGRESSION_MODELS,
        UPLOAD_MODELS,
