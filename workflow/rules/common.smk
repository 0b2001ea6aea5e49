# Targets derived from the validated config; paths come from mlopsbench.paths only.
MOTE = config["data"]["mote"]
HIDDEN_LAYERS = config["model"]["hidden_layers"]

DATASETS = [paths.dataset(MOTE, size) for size in config["data"]["dataset_sizes_mb"]]
REGRESSION_MODELS = [paths.regression_model(w, HIDDEN_LAYERS) for w in config["model"]["widths"]]
UPLOAD_MODELS = [paths.upload_model(size) for size in config["upload"]["model_sizes_mb"]]


wildcard_constraints:
    size=r"\d+(\.\d+)?",
    arch=r"\d+(x\d+)*",
