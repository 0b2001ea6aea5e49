# Step 'modelerrorssummary' of intel54_pipeline.ipynb, compiled by mlopsbench. Do not edit.
import sys as _mlb_sys, time as _mlb_time
print("[MLB] started {:.6f}".format(_mlb_time.time()), flush=True)
print("[MLB] python " + " ".join(_mlb_sys.version.split()), flush=True)
from mlopsbench.pipeline.marshal import Marshal as _Marshal
import pandas as pd
import time
print("[MLB] imported {:.6f}".format(_mlb_time.time()), flush=True)
_marshal = _Marshal('marshal')
test_results = _marshal.load('dnneval', 'test_results')

start = time.time()
print(pd.DataFrame(test_results, index=["Mean absolute error [temperature]"]).T)
end = time.time()
print("[JT] modelerrorssummary time(s) {}".format(end - start))
print("[JT] end cell")

import resource as _mlb_resource; print("[MLB] peak-rss {}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), flush=True)
print("[MLB] finished {:.6f}".format(_mlb_time.time()), flush=True)
import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)
