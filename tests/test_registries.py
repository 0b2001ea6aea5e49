"""Unit tests: setups and backends are registries, and every list of their names agrees with them;
every configuration value has one default, the schema's."""

import argparse

import pytest

from mlopsbench import cli
from mlopsbench.config import choices, default, schema
from mlopsbench.pipeline.backends import BACKENDS
from mlopsbench.serving.methods import METHODS
from mlopsbench.upload.setups import SETUPS, comparisons

# Options whose values no configuration holds; everything else with a default must take the schema's.
NOT_CONFIG_OWNED = {("download", "retries"), ("pipeline-run", "cores"),
                    ("pipeline-run", "keep_marshal"), ("pipeline-run", "no_calibration"), ("pipeline-block", "cores"),
                    ("pipeline-block", "keep_marshal"), ("pipeline-block", "no_calibration"), ("upload-run", "secure"), ("upload-worker", "secure"),
                    ("serving-run", "secure"), ("serving-publish", "secure"),
                    ("dvc-params", "output"), ("sample-data", "lines"), ("sample-data", "seed"),
                    ("cluster", "runner"), ("cluster", "repo"), ("cluster", "hold"), ("cluster", "release"),
                    ("cluster", "unused_hours"),
                    ("progress", "study"), ("reference", "dir"), ("reference", "template"),
                    ("reference", "design"), ("images", "tag"), ("images", "plain_http"), ("images", "serving")}


def _cluster_names(index: int) -> set[str]:
    node = schema()["allOf"][index]["if"]
    while "properties" in node:
        node = next(iter(node["properties"].values()))
    return set(node["contains"]["enum"])


def test_schema_names_the_registered_backends_and_setups():
    assert sorted(choices("pipeline.backends")) == sorted(BACKENDS)
    assert sorted(choices("upload.setups")) == sorted(SETUPS)
    assert _cluster_names(0) == {name for name, b in BACKENDS.items() if b.on_cluster}
    assert _cluster_names(1) == {name for name, s in SETUPS.items() if s.on_cluster}


def test_schema_names_the_kubelet_variants_the_build_knows():
    from mlopsbench.cluster.build import KUBELET_VARIANTS, PATCHES

    assert sorted(choices("kubernetes.kubelet_variant")) == sorted(KUBELET_VARIANTS)
    assert all((PATCHES / patch).is_file() for patches in KUBELET_VARIANTS.values() for patch in patches)


def test_schema_names_the_registered_serving_methods():
    assert sorted(choices("serving.methods")) == sorted(METHODS)
    # the methods the schema sends to a setup whose edge is a pod
    assert _cluster_names(3) == {name for name, m in METHODS.items() if m.needs_pod}
    assert all(METHODS[m.baseline] and m.claim for m in METHODS.values() if m.baseline)


def test_a_method_is_named_nowhere_but_in_its_module_and_the_schema(repo):
    """Everything else asks the registry: no module outside serving/methods/ compares a method's name."""
    names = [f'"{name}"' for name in METHODS]
    found = [f"{path.relative_to(repo)}: {name}" for path in (repo / "src/mlopsbench").rglob("*.py")
             if "methods" not in path.parts for name in names if name in path.read_text()]
    assert not found, found


def test_cli_choices_are_the_registries():
    subparsers = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    backend = next(a for a in subparsers.choices["pipeline-run"]._actions if a.dest == "backend")
    setup = next(a for a in subparsers.choices["upload-run"]._actions if a.dest == "setup")
    assert set(backend.choices) == set(BACKENDS) and set(setup.choices) == set(SETUPS)


def test_snakemake_wildcards_come_from_the_registries(repo):
    common = (repo / "workflow/rules/common.smk").read_text()
    # A block's backends come from the configuration; whether one runs on a cluster, from the registry.
    assert "BACKENDS[b].on_cluster" in common and 'setup="|".join(SETUPS)' in common


def test_every_setup_has_a_peer_of_the_other_thesis_role():
    for name, setup in SETUPS.items():
        peer = SETUPS[setup.peer]
        assert {setup.thesis_role, peer.thesis_role} == {"vm", "pod"} and peer.peer == name
        assert setup.on_cluster == peer.on_cluster  # compared where both run
    assert comparisons(SETUPS) == [("host", "netns"), ("vm", "pod")]


def test_cli_takes_every_config_owned_default_from_the_schema():
    subparsers = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    checked = 0
    for command, parser in subparsers.choices.items():
        for action in parser._actions:
            if action.required or action.default in (None, argparse.SUPPRESS) or action.dest == "help":
                continue
            if (command, action.dest) in NOT_CONFIG_OWNED:
                continue
            key = getattr(action, "config_key", None)
            assert key, f"mlopsbench {command} {action.option_strings[0]}: a default of its own " \
                        f"({action.default!r}); take the configuration's with config_option"
            assert action.default == default(key)
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("key, value", [("training.seed", 2020), ("analysis.equivalence_margin", 0.10),
                                        ("analysis.little_change_points", 5.0), ("kubernetes.namespace", "mlopsbench")])
def test_one_default_per_value(key, value):
    assert default(key) == value


def test_a_command_loads_only_the_backend_or_setup_it_runs():
    """What DVC's stages depend on (tests/test_dvc_deps.py) assumes this."""
    import subprocess
    import sys

    code = ("import sys; from mlopsbench.pipeline.backends import backend; from mlopsbench.upload.setups import setup; "
            "backend('local'); setup('host'); "
            "print(sorted(m for m in sys.modules if m.startswith(('mlopsbench.pipeline.backends.', "
            "'mlopsbench.upload.setups.', 'mlopsbench.cluster'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['mlopsbench.pipeline.backends.local', 'mlopsbench.upload.setups.host']"
