# Step 'dnneval' of intel54_pipeline.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
_marshal = _Marshal('marshal')
dnn_model = _marshal.load('dnnfit', 'dnn_model')
test_features = _marshal.load('preprocessing', 'test_features')
test_labels = _marshal.load('preprocessing', 'test_labels')
test_results = _marshal.load('createdict', 'test_results')

start = time.time()
test_results["dnn_model"] = dnn_model.evaluate(test_features, test_labels, verbose=0)
end = time.time()
print("[JT] dnneval time(s) {}".format(end - start))
print("[JT] end cell")

_marshal.save('dnneval', 'test_results', test_results)
import resource as _mlb_resource; print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
