"""Where the local cluster keeps things, all outside the work tree.

* the cache (``$MLOPSBENCH_CACHE``, default ``~/.cache/mlopsbench``): binaries, image
  layers and containerd's image store, kept across ``down`` and ``up``;
* the state (``$MLOPSBENCH_CLUSTER_STATE``, default ``~/.local/state/mlopsbench/cluster``):
  certificates, kubeconfigs, configuration, etcd's data, logs and process ids of one
  running cluster, removed by ``down`` (its logs are kept).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlopsbench"
    path = Path(os.environ.get("MLOPSBENCH_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "mlopsbench" / "cluster"
    return Path(os.environ.get("MLOPSBENCH_CLUSTER_STATE", default))
