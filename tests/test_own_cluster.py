"""Integration tests: the own-cluster path (docs/own-cluster.md) on a cluster reached through a
kubeconfig alone, with no local-cluster shortcut: a pipeline run, and a serving cell on the edge.

The cluster is the one this package starts, with the thesis's two nodes, but the run sees none of that
(``kubernetes.local: false``): the runner's namespaced kubeconfig, the job image pushed with
``mlopsbench images push`` to the cluster's registry (Debian's docker-registry) and pulled by the
kubelet for every pod (``imagePullPolicy: Always``, pinned by digest), never imported; the
store's keys from the environment, as a user of another cluster sets them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlopsbench.pipeline.run import read_events

pytestmark = pytest.mark.integration


def push(repo, cluster, cli_env, *serving) -> dict[str, str]:
    """The job image (and with ``--serving`` the serving image) pushed to the cluster's registry:
    the configuration keys and the images pinned by digest that the command prints."""
    pushed = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "images", "push", cluster.registry,
                             "--plain-http", "--tag", f"test-{os.getpid()}", "--repo", str(repo), *serving],
                            capture_output=True, text=True, env=cli_env)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    images = dict(line.split(": ", 1) for line in pushed.stdout.splitlines())
    assert all(image.startswith(f"{cluster.registry}/mlopsbench") and "@sha256:" in image for image in images.values())
    return images


def own_cluster_config(repo, cluster, image, path):
    """config/cluster.yaml pointed at the cluster as a user's would be: its runner kubeconfig, the
    pushed image pulled for every pod, its Prometheus and its store's addresses."""
    from mlopsbench.cluster.objects import STORE_SECRET

    config = yaml.safe_load((repo / "config/cluster.yaml").read_text())
    config["kubernetes"] |= {"kubeconfig": cluster.runner_kubeconfig, "image": image,
                             "image_pull_policy": "Always", "prometheus_url": cluster.prometheus_url}
    config["kubernetes"]["upload"] |= {"vm_endpoint": cluster.store_address, "service_endpoint": cluster.store_address,
                                       "credentials_secret": STORE_SECRET, "netem": False}
    assert not config["kubernetes"].get("local")
    path.write_text(yaml.safe_dump(config))
    return path


def pulled(cluster, image) -> set[str]:
    """The pods whose kubelet pulled ``image``, by their events."""
    from kubernetes import client, config as kubeconfig

    admin = kubeconfig.new_client_from_config(config_file=cluster.admin_kubeconfig)
    return {e.involved_object.name for e in client.CoreV1Api(admin).list_namespaced_event("mlopsbench").items
            if e.reason == "Pulled" and f'Successfully pulled image "{image}"' in (e.message or "")}


def test_a_run_through_a_kubeconfig_alone_pulls_the_pushed_image(repo, two_nodes, dataset, tmp_path, cli_env):
    image = push(repo, two_nodes, cli_env)["kubernetes.image"]
    path = own_cluster_config(repo, two_nodes, image, tmp_path / "own-cluster.yaml")
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
    assert set(note.detail["pods"].values()) <= pulled(two_nodes, image)


def test_a_serving_cell_through_a_kubeconfig_alone_pulls_the_pushed_serving_image(repo, two_nodes, tmp_path,
                                                                                   cli_env):
    """The serving experiment's pod setup on the edge node, its server from the pushed serving image."""
    from mlopsbench.data.models import build_upload_model
    from mlopsbench.rawdirs import ServingCellDir

    images = push(repo, two_nodes, cli_env, "--serving")
    path = own_cluster_config(repo, two_nodes, images["kubernetes.image"], tmp_path / "own-cluster.yaml")
    versions = [tmp_path / f"v{n}.keras" for n in (1, 2)]
    for seed, version in enumerate(versions, start=1):
        build_upload_model(1, "MiB", 3, version, seed=seed)
    keys = json.loads((Path(two_nodes.admin_kubeconfig).parent / "store-credentials.json").read_text())
    env = cli_env | {"MLOPSBENCH_S3_ACCESS_KEY": keys["access_key"], "MLOPSBENCH_S3_SECRET_KEY": keys["secret_key"]}
    out = tmp_path / "cell"
    done = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "serving-run", "--setup", "pod", "--method",
                           "in-place", "--latency-ms", "0", "--model-mb", "1", "--versions", *map(str, versions),
                           "--out-dir", str(out), "--settle-s", "2", "--cluster-config", str(path),
                           "--image", images["serving.image"], "--repo", str(repo)],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    updates = [json.loads(line) for line in ServingCellDir(out).updates.read_text().splitlines()]
    assert [u["status"] for u in updates] == ["ok"]
    assert pulled(two_nodes, images["serving.image"])   # the edge's server, pulled from the registry
