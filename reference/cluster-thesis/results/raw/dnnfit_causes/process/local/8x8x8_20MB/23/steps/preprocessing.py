# Step 'preprocessing' of up_to_dnnfit.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
import pandas as pd
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
DATASET = '/tmp/mlb-dnnfit-nk8j0w1n/data/dataset_20MB.csv'
TEST_FRACTION = 0.2
SEED = 1
_marshal = _Marshal('marshal')

import resource as _mlb_resource
from mlopsbench.pipeline.calibration import busy_since as _mlb_busy_since, cpu_times as _mlb_cpu_times, queued_since as _mlb_queued_since, thread_waits as _mlb_thread_waits
_mlb_usage = _mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF)
_mlb_machine, _mlb_queued, _mlb_cpu = _mlb_cpu_times(), _mlb_thread_waits(), _mlb_time.process_time()
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

_mlb_cpu, _mlb_machine = _mlb_time.process_time() - _mlb_cpu, _mlb_busy_since(_mlb_machine)
_mlb_queued, _mlb_used = _mlb_queued_since(_mlb_queued), _mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF)
print("[MLB] cpu-seconds {:.6f}".format(_mlb_cpu), flush=True)
print("[MLB] run-queue " + _mlb_queued, flush=True)
print("[MLB] machine-cpu " + _mlb_machine, flush=True)
print("[MLB] major-faults {}".format(_mlb_used.ru_majflt - _mlb_usage.ru_majflt), flush=True)
print("[MLB] disk-blocks {} {}".format(_mlb_used.ru_inblock - _mlb_usage.ru_inblock, _mlb_used.ru_oublock - _mlb_usage.ru_oublock), flush=True)
_marshal.save('preprocessing', 'train_features', train_features)
_marshal.save('preprocessing', 'train_labels', train_labels)
print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
from mlopsbench.pipeline.cpu_stat import mark as _mlb_throttling
print("[MLB] cpu-throttling " + _mlb_throttling(), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
