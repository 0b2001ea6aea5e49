"""Unit tests of the deploy/ manifests against the Kubernetes OpenAPI schemas (no cluster needed)."""

from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

VERSIONS = ["1.30.0", "1.33.0", "1.37.0"]
MANIFESTS = sorted(Path(__file__).resolve().parents[1].joinpath("deploy").rglob("*.yaml"))


def documents():
    for path in MANIFESTS:
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document:
                yield pytest.param(document, id=f"{path.parent.name}/{path.name}#{index}-{document['kind']}")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("document", list(documents()))
def test_manifest_is_valid(document, version):
    kubernetes_validate.validate(document, version, strict=True)


def pod_specs():
    for document in (d.values[0] for d in documents()):
        template = document.get("spec", {}).get("template")
        if template:
            yield document["metadata"]["name"], template["spec"]


def test_only_the_netem_daemonset_is_privileged():
    privileged = {name for name, spec in pod_specs()
                  if any(c.get("securityContext", {}).get("privileged") for c in spec["containers"])}
    assert privileged == {"mlopsbench-netem"}
    for name, spec in pod_specs():
        if name != "mlopsbench-netem":
            assert spec["securityContext"]["runAsNonRoot"] is True, name


def test_the_runner_role_is_namespaced_and_minimal():
    roles = {d.values[0]["metadata"]["namespace"]: d.values[0] for d in documents() if d.values[0]["kind"] == "Role"}
    resources = {ns: {r for rule in role["rules"] for r in rule["resources"]} for ns, role in roles.items()}
    assert resources == {"mlopsbench": {"pods", "pods/log", "pods/exec", "persistentvolumeclaims", "services",
                                        "jobs", "jobs/status", "deployments"},   # deployments: the serving edge
                         "mlopsbench-netem": {"pods", "pods/log", "daemonsets", "daemonsets/status"}}
    assert all("*" not in rule["verbs"] for role in roles.values() for rule in role["rules"])
    assert resources["mlopsbench"] & {"secrets", "serviceaccounts", "roles", "rolebindings"} == set()


def test_steps_run_without_api_rights_and_the_namespace_is_restricted():
    """Least privilege: the steps' ServiceAccount has no binding and mounts no token; the study's
    namespace enforces the restricted Pod Security level, the netem one alone is privileged."""
    docs = [d.values[0] for d in documents()]
    step = next(d for d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == "mlopsbench-step")
    assert step["automountServiceAccountToken"] is False
    bound = {s["name"] for d in docs if d["kind"] == "RoleBinding" for s in d["subjects"]}
    assert bound == {"mlopsbench-runner"}
    levels = {d["metadata"]["name"]: d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
              for d in docs if d["kind"] == "Namespace"}
    assert levels == {"mlopsbench": "restricted", "mlopsbench-netem": "privileged"}
    netem = next(d for d in docs if d["kind"] == "DaemonSet")
    assert netem["metadata"]["namespace"] == "mlopsbench-netem"


def test_every_pod_has_requests_and_limits():
    for name, spec in pod_specs():
        for container in spec["containers"]:
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (name, kind)
