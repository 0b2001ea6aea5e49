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
    role = next(d.values[0] for d in documents() if d.values[0]["kind"] == "Role")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"pods", "pods/log", "persistentvolumeclaims", "jobs", "jobs/status", "daemonsets",
                         "daemonsets/status"}
    assert all("*" not in rule["verbs"] for rule in role["rules"])
