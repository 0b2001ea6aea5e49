# Step 'dnnpredictsummary' of intel54_pipeline.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
from pathlib import Path
import matplotlib.pyplot as plt
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
ARTIFACTS = 'artifacts'
_marshal = _Marshal('marshal')
test_labels = _marshal.load('preprocessing', 'test_labels')
test_predictions = _marshal.load('dnnpredict', 'test_predictions')

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

import resource as _mlb_resource; print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
