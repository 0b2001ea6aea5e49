"""Unit tests of the Kubernetes backend that need no cluster: the generated Pod and PVC specs are
valid against the Kubernetes OpenAPI schemas and carry the least-privilege settings, and clean-up
selects what runs leave (step, uploader, proxy and serving pods, their volumes, services and deployments) by default, never the
cluster's store or Prometheus. Everything else runs against a real cluster
(tests/test_kubernetes_cluster.py)."""

import pytest

from fake_kubernetes import FakeCluster
from mlopsbench.cluster.kube import KubeClients, cleanup
from mlopsbench.cluster.target import target_from_config
from mlopsbench.config import with_defaults
from mlopsbench.pipeline.backends.kubernetes import pod_manifest, pvc_manifest, stage_manifest
from mlopsbench.pipeline.compiler import compile_notebook

kubernetes_validate = pytest.importorskip("kubernetes_validate")


def target(section: dict):
    """The cluster target of a kubernetes section (the schema's defaults filled in), without connecting."""
    return target_from_config(with_defaults(section, "kubernetes"), clients=KubeClients(core=None))


@pytest.fixture(scope="module")
def plan(repo):
    return compile_notebook(repo / "notebooks/intel54_pipeline.ipynb")


def test_cleanup_command_defaults_to_what_runs_leave():
    cluster = FakeCluster()
    cleanup(cluster, "mlopsbench", apps=cluster)
    selector = ("app.kubernetes.io/part-of=mlopsbench,"
                "app.kubernetes.io/component in (pipeline-step,uploader,delay-proxy,serving)")
    # The serving Deployment goes first, else its ReplicaSet would start its pod again.
    assert cluster.deleted == [("deployments", selector), ("pods", selector), ("pvcs", selector),
                               ("services", selector)]


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0", "1.37.0"])
@pytest.mark.parametrize("rwx", [False, True])
def test_generated_specs_are_valid_kubernetes(plan, version, rwx):
    cluster = target({"read_write_many": rwx, "node_selector": {"iot": "core"},
                            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}})
    labels = {"app.kubernetes.io/part-of": "mlopsbench", "mlopsbench.io/step": "dnnfit"}
    pod = pod_manifest(cluster, "mlb-run-dnnfit", labels, plan.script("dnnfit", {}), "mlb-run", 3600,
                       None if rwx else "node-a", 2)
    kubernetes_validate.validate(pod, version, strict=True)
    kubernetes_validate.validate(pvc_manifest(cluster, "mlb-run", labels), version, strict=True)
    kubernetes_validate.validate(stage_manifest(cluster, "mlb-run-stage-in", labels, "mlb-run"), version, strict=True)
    assert pod["spec"]["activeDeadlineSeconds"] == 3600 and pod["spec"]["restartPolicy"] == "Never"


def test_step_pods_ask_for_their_cores_and_run_without_api_rights(plan):
    pod = pod_manifest(target({}), "p", {}, plan.script("dnnfit", {}), "v", None, None, 2)["spec"]
    container = pod["containers"][0]
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"] == "2"
    assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
    assert {e["name"]: e["value"] for e in container["env"]}["OMP_NUM_THREADS"] == "2"
    assert pod["serviceAccountName"] == "mlopsbench-step" and pod["automountServiceAccountToken"] is False
    unlimited = pod_manifest(target({"cpu_limit": False}), "p", {}, plan.script("dnnfit", {}), "v", None, None, 2)
    resources = unlimited["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "2" and "cpu" not in resources["limits"]  # no CFS quota
