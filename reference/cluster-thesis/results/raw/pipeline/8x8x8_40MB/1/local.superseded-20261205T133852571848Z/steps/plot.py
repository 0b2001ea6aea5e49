# Step 'plot' of intel54_pipeline.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
from pathlib import Path
import pandas as pd
import matplotlib.pyplot as plt
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
ARTIFACTS = 'artifacts'
_marshal = _Marshal('marshal')
train_dataset = _marshal.load('preprocessing', 'train_dataset')

start = time.time()
# Every training point, as the thesis did (Section 6.1 suggests sampling instead).
Path(ARTIFACTS).mkdir(parents=True, exist_ok=True)
pd.plotting.scatter_matrix(train_dataset, figsize=(8, 8), diagonal="hist", s=1, alpha=0.2)
plt.savefig(f"{ARTIFACTS}/pairplot.png", dpi=72)
plt.close("all")
end = time.time()
print("[JT] plot time(s) {}".format(end - start))
print("[JT] end cell")

import resource as _mlb_resource; print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
