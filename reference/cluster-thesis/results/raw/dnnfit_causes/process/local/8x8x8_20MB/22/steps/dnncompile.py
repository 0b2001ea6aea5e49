# Step 'dnncompile' of up_to_dnnfit.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
from mlopsbench.data.models import build_regression_model
import keras
import numpy as np
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
WIDTH = 8
HIDDEN_LAYERS = 3
LEARNING_RATE = 0.001
LOSS = 'mean_absolute_error'
SEED = 1
_marshal = _Marshal('marshal')
train_features = _marshal.load('preprocessing', 'train_features')

import resource as _mlb_resource
from mlopsbench.pipeline.calibration import busy_since as _mlb_busy_since, cpu_times as _mlb_cpu_times, queued_since as _mlb_queued_since, thread_waits as _mlb_thread_waits
_mlb_usage = _mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF)
_mlb_machine, _mlb_queued, _mlb_cpu = _mlb_cpu_times(), _mlb_thread_waits(), _mlb_time.process_time()
start = time.time()
keras.utils.set_random_seed(SEED)
dnn_model = build_regression_model(WIDTH, HIDDEN_LAYERS, LEARNING_RATE, LOSS, features=np.array(train_features))
dnn_model.summary()
end = time.time()
print("[JT] dnncompile time(s) {}".format(end - start))
print("[JT] end cell")

_mlb_cpu, _mlb_machine = _mlb_time.process_time() - _mlb_cpu, _mlb_busy_since(_mlb_machine)
_mlb_queued, _mlb_used = _mlb_queued_since(_mlb_queued), _mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF)
print("[MLB] cpu-seconds {:.6f}".format(_mlb_cpu), flush=True)
print("[MLB] run-queue " + _mlb_queued, flush=True)
print("[MLB] machine-cpu " + _mlb_machine, flush=True)
print("[MLB] major-faults {}".format(_mlb_used.ru_majflt - _mlb_usage.ru_majflt), flush=True)
print("[MLB] disk-blocks {} {}".format(_mlb_used.ru_inblock - _mlb_usage.ru_inblock, _mlb_used.ru_oublock - _mlb_usage.ru_oublock), flush=True)
_marshal.save('dnncompile', 'dnn_model', dnn_model)
print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
from mlopsbench.pipeline.cpu_stat import mark as _mlb_throttling
print("[MLB] cpu-throttling " + _mlb_throttling(), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
