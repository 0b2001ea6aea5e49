"""Unit tests of the edge's manifests (no cluster needed): the in-place Deployment runs the updater
beside the server, a roll-out changes only the version in the pod template, every container runs
as Pod Security "restricted" asks, and the rolling update keeps the old pod until the new is Ready."""

import copy

import pytest

from mlopsbench.cluster.kube import KubeClients
from mlopsbench.cluster.target import target_from_config
from mlopsbench.config import with_defaults
from mlopsbench.serving.methods import METHODS
from mlopsbench.serving.pods import VERSION_ANNOTATION, edge_deployment, edge_service, rolled_to


@pytest.fixture
def cluster():
    return target_from_config(with_defaults({"namespace": "edge-test"}, "kubernetes"), clients=KubeClients(core=None))


def deployment(cluster, method):
    return edge_deployment(cluster, "mlb-serve", "mlopsbench-serving:local", "10.0.0.5:8333", "mlopsbench", "intel54",
                           "store-credentials", {"iot": "edge"}, "v1", 0.5 if METHODS[method].updater else None)


def test_in_place_runs_the_updater_beside_the_server_and_a_roll_out_does_not(cluster):
    in_place, roll_out = deployment(cluster, "in-place"), deployment(cluster, "rollout")
    assert [c["name"] for c in in_place["spec"]["template"]["spec"]["containers"]] == ["server", "updater"]
    assert [c["name"] for c in roll_out["spec"]["template"]["spec"]["containers"]] == ["server"]
    updater = in_place["spec"]["template"]["spec"]["containers"][1]["args"]
    assert updater[updater.index("--poll-interval-s") + 1] == "0.5" and "http://127.0.0.1:8080" in updater
    for manifest in (in_place, roll_out):
        spec = manifest["spec"]["template"]["spec"]
        assert spec["initContainers"][0]["args"][-2:] == ["--version", "v1"]
        assert spec["nodeSelector"] == {"iot": "edge"} and spec["automountServiceAccountToken"] is False
        assert manifest["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        for container in spec["initContainers"] + spec["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] and security["capabilities"] == {"drop": ["ALL"]}
            assert security["allowPrivilegeEscalation"] is False
            # The store's keys come from the Secret the upload Job reads them from, under its keys.
            keys = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
            assert {ref["key"] for ref in keys.values()} == {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
            assert {ref["name"] for ref in keys.values()} == {"store-credentials"}


def test_a_roll_out_changes_only_the_version(cluster):
    before = deployment(cluster, "rollout")
    kept = copy.deepcopy(before)
    after = rolled_to(before, "v2")
    assert before == kept  # the original is left as it was
    assert after["spec"]["template"]["metadata"]["annotations"] == {VERSION_ANNOTATION: "v2"}
    assert after["spec"]["template"]["spec"]["initContainers"][0]["args"][-2:] == ["--version", "v2"]
    for part in (after, before):
        part["spec"]["template"]["metadata"].pop("annotations")
        part["spec"]["template"]["spec"]["initContainers"][0]["args"].pop()
    assert after == before


def test_the_service_selects_the_deployments_pods(cluster):
    service, manifest = edge_service(cluster, "mlb-serve"), deployment(cluster, "in-place")
    assert service["spec"]["selector"] == manifest["spec"]["selector"]["matchLabels"]
    assert service["metadata"]["namespace"] == manifest["metadata"]["namespace"] == "edge-test"


@pytest.mark.parametrize("method", ["in-place", "rollout"])
def test_the_manifests_are_valid_kubernetes(cluster, method):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for version in ("1.30.0", "1.34.0"):
        kubernetes_validate.validate(deployment(cluster, method), version, strict=True)
        kubernetes_validate.validate(edge_service(cluster, "mlb-serve"), version, strict=True)


def test_the_configured_serving_image_is_the_one_the_package_builds():
    from mlopsbench.cluster.images import SERVING_IMAGE
    from mlopsbench.config import default

    assert default("serving.image") == SERVING_IMAGE
