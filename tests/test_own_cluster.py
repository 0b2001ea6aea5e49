"""Integration test: the own-cluster path (docs/own-cluster.md) on a cluster reached through a
kubeconfig alone, with no local-cluster shortcut.

The cluster is the one this package starts, with the thesis's two nodes, but the run sees none of that
(``kubernetes.local: false``): the runner's namespaced kubeconfig, the job image pushed with
``mlopsbench images push`` to the cluster's registry (Debian's docker-registry) and pulled by the
kubelet for every pod (``imagePullPolicy: Always``, pinned by digest), never imported.
"""

import os
import subprocess
import sys

import pytest
import yaml

from mlopsbench.pipeline.run import read_events

pytestmark = pytest.mark.integration


def test_a_run_through_a_kubeconfig_alone_pulls_the_pushed_image(repo, two_nodes, dataset, tmp_path, cli_env):
    from kubernetes import client, config as kubeconfig

    pushed = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "images", "push", two_nodes.registry,
                             "--plain-http", "--tag", f"test-{os.getpid()}", "--repo", str(repo)],
                            capture_output=True, text=True, env=cli_env)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    image = dict(line.split(": ", 1) for line in pushed.stdout.splitlines())["kubernetes.image"]
    assert image.startswith(f"{two_nodes.registry}/mlopsbench@sha256:")

    config = yaml.safe_load((repo / "config/cluster.yaml").read_text())
    config["kubernetes"] |= {"kubeconfig": two_nodes.runner_kubeconfig, "image": image,
                             "image_pull_policy": "Always", "prometheus_url": two_nodes.prometheus_url}
    assert not config["kubernetes"].get("local")
    path = tmp_path / "own-cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    run_dir = tmp_path / "kubernetes/8x8x8_0.02MB/1"
    result = subprocess.run(
        [sys.executable, "-m", "mlopsbench.cli", "pipeline-run", "--backend", "kubernetes", "--cluster-config",
         str(path), "--notebook", str(repo / "notebooks/intel54_pipeline.ipynb"), "--dataset", str(dataset),
         "--dataset-mb", "0.02", "--width", "8", "--epochs", "1", "--series", "dataset", "--rep", "1",
         "--run-dir", str(run_dir), "--cores", "2"], capture_output=True, text=True, env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    # Every step's pod ran the pushed image, which the kubelet pulled from the registry.
    note = next(e for e in read_events(run_dir / "events.jsonl") if getattr(e, "event", None) == "cluster")
    assert note.detail["kubelet"] is None  # the run did not know it was on the local cluster
    admin = kubeconfig.new_client_from_config(config_file=two_nodes.admin_kubeconfig)
    pulled = {e.involved_object.name for e in client.CoreV1Api(admin).list_namespaced_event("mlopsbench").items
              if e.reason == "Pulled" and f'Successfully pulled image "{image}"' in (e.message or "")}
    assert set(note.detail["pods"].values()) <= pulled
