# intel54_pipeline.ipynb as one process (Run All), compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
import time
from pathlib import Path
import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mlopsbench.data.models import build_regression_model
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
DATASET = '/root/sit-pipeline/study/data/datasets/intel54_40MB.csv'
ARTIFACTS = 'artifacts'
WIDTH = 8
HIDDEN_LAYERS = 3
EPOCHS = 20
LEARNING_RATE = 0.001
LOSS = 'mean_absolute_error'
VALIDATION_SPLIT = 0.2
TEST_FRACTION = 0.2
SEED = 2020
print("[MLB] cell-start preprocessing {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
dataset = pd.read_csv(DATASET)
train_dataset = dataset.sample(frac=1 - TEST_FRACTION, random_state=SEED)
test_dataset = dataset.drop(train_dataset.index)
train_features = train_dataset.copy()
test_features = test_dataset.copy()
train_labels = train_features.pop("temperature")
test_labels = test_features.pop("temperature")
print(train_dataset.describe().transpose())
end = time.time()
print("[JT] preprocessing time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end preprocessing {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start plot {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
# Every training point, as the thesis did (Section 6.1 suggests sampling instead).
Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
pd.plotting.scatter_matrix(train_dataset, figsize=(8, 8), diagonal="hist", s=1, alpha=0.2)
plt.savefig(f"{ARTIFACTS}/pairplot.png", dpi=72)
plt.close("all")
end = time.time()
print("[JT] plot time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end plot {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start createdict {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
test_results = {}
end = time.time()
print("[JT] createdict time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end createdict {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start dnncompile {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
keras.utils.set_random_seed(SEED)
dnn_model = build_regression_model(WIDTH, HIDDEN_LAYERS, LEARNING_RATE, LOSS, features=np.array(train_features))
dnn_model.summary()
end = time.time()
print("[JT] dnncompile time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end dnncompile {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start dnnfit {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
keras.utils.set_random_seed(SEED)
history = dnn_model.fit(
    train_features, train_labels,
    validation_split=VALIDATION_SPLIT,
    verbose=2, epochs=EPOCHS)
loss_history = pd.DataFrame(history.history)
Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
loss_history.plot(xlabel="Epoch", ylabel="Error [temperature]", grid=True)
plt.savefig(f"{ARTIFACTS}/loss.png", dpi=72)
plt.close("all")
end = time.time()
print("[JT] dnnfit time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end dnnfit {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start dnneval {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
test_results["dnn_model"] = dnn_model.evaluate(test_features, test_labels, verbose=0)
end = time.time()
print("[JT] dnneval time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end dnneval {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start modelerrorssummary {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
print(pd.DataFrame(test_results, index=["Mean absolute error [temperature]"]).T)
end = time.time()
print("[JT] modelerrorssummary time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end modelerrorssummary {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start dnnpredict {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
test_predictions = dnn_model.predict(test_features, verbose=0).flatten()
end = time.time()
print("[JT] dnnpredict time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end dnnpredict {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] cell-start dnnpredictsummary {:.6f}".format(_mlb_time.time()), flush=True)
start = time.time()
Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.scatter(test_labels, test_predictions, s=1, alpha=0.3)
left.set(xlabel="True values [temperature]", ylabel="Predictions [temperature]")
right.hist(test_predictions - test_labels, bins=25)
right.set(xlabel="Prediction error [temperature]", ylabel="Count")
fig.savefig(f"{ARTIFACTS}/predictions.png", dpi=72)
plt.close("all")
end = time.time()
print("[JT] dnnpredictsummary time(s) {}".format(end - start))
print("[JT] end cell")
print("[MLB] cell-end dnnpredictsummary {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
