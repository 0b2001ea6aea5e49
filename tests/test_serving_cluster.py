"""Integration test of the serving experiment on the real local cluster: the edge's KServe server
as a pod on the edge node, rolled out to each new version through the serving image the package
builds. A truncated version never takes over: its pod fails, the update is recorded as failed
with the container's own reason, the old pod keeps answering every request, and the next good
version rolls out, and answers at once: the old pod's drain closes the client's kept-alive
connections, which would otherwise stay with it until it stops. Nothing the cell made is left
in the cluster."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from mlopsbench.data.models import build_upload_model
from mlopsbench.rawdirs import ServingCellDir
from mlopsbench.serving.pods import DRAIN_S

pytestmark = pytest.mark.integration


def test_a_truncated_version_never_rolls_out_and_the_old_pod_answers(repo, local_cluster, admin, tmp_path, cli_env):
    versions = [tmp_path / f"v{n}.keras" for n in (1, 2, 3)]
    for seed, path in enumerate(versions, start=1):
        build_upload_model(1, "MiB", 3, path, seed=seed)
    whole = versions[1].read_bytes()
    versions[1].write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "cell"
    done = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "serving-run", "--setup", "pod", "--method",
                           "rollout", "--latency-ms", "0", "--model-mb", "1", "--versions", *map(str, versions),
                           "--out-dir", str(out), "--settle-s", "2", "--update-timeout-s", "180",
                           "--cluster-config", str(repo / "config/cluster-local.yaml"), "--repo", str(repo)],
                          capture_output=True, text=True, env=cli_env)
    assert done.returncode == 0, done.stderr[-3000:]
    raw = ServingCellDir(out)
    updates = [json.loads(line) for line in raw.updates.read_text().splitlines()]
    assert [u["status"] for u in updates] == ["failed", "ok"]
    assert "server" in updates[0]["error"] and "exit" in updates[0]["error"]   # the container's own account
    requests = pd.DataFrame([json.loads(line) for line in raw.requests.read_text().splitlines()])
    assert requests["error"].isna().all() and (requests["status"] == 200).all()
    assert set(requests.loc[requests["update"] == 1, "model_version"]) == {"v1"}   # the old pod through it
    assert "v3" in set(requests.loc[requests["update"] == 2, "model_version"])
    answered_by_v3 = requests[requests["model_version"] == "v3"]
    first_v3 = (answered_by_v3["sent"] + answered_by_v3["seconds"]).min()
    assert first_v3 - updates[1]["ready"] < DRAIN_S / 2   # not when the old pod stops, DRAIN_S after Ready
    assert updates[1]["parameters"] | {"drain_s": DRAIN_S, "max_surge": 1, "max_unavailable": 0} \
        == updates[1]["parameters"]
    from kubernetes import client

    left = client.AppsV1Api(admin).list_namespaced_deployment(
        "mlopsbench", label_selector="app.kubernetes.io/component=serving").items
    pods = client.CoreV1Api(admin).list_namespaced_pod(
        "mlopsbench", label_selector="app.kubernetes.io/component=serving").items
    assert left == [] and all(p.metadata.deletion_timestamp for p in pods)
