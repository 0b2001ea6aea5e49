# Step 'dnnpredict' of intel54_pipeline.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
_marshal = _Marshal('marshal')
dnn_model = _marshal.load('dnnfit', 'dnn_model')
test_features = _marshal.load('preprocessing', 'test_features')

start = time.time()
test_predictions = dnn_model.predict(test_features, verbose=0).flatten()
end = time.time()
print("[JT] dnnpredict time(s) {}".format(end - start))
print("[JT] end cell")

_marshal.save('dnnpredict', 'test_predictions', test_predictions)
import resource as _mlb_resource; print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
