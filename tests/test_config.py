"""Unit tests of configuration loading: the shipped designs and the error messages."""

import subprocess
import sys

import pytest
import yaml

from mlopsbench.config import ConfigError, load_config, pipeline_configurations


def test_thesis_design(repo):
    config = load_config(repo / "config/config.yaml")
    assert config["data"]["dataset_sizes_mb"] == [2, 10, 20, 40]
    assert config["model"]["widths"] == [8, 16, 32, 64] and config["model"]["hidden_layers"] == 3
    assert config["training"] == {"epochs": 20, "optimizer": "adam", "learning_rate": 0.001,
                                     "loss": "mean_absolute_error", "validation_split": 0.2,
                                     "test_fraction": 0.2, "seed": 2020}
    assert config["pipeline"]["repetitions"] == 6 and config["upload"]["repetitions"] == 10
    assert config["upload"]["model_sizes_mb"] == [49, 113, 177, 241]
    assert config["upload"]["latencies_ms"] == [0, 50, 250, 400]
    assert len(pipeline_configurations(config)) == 7  # Section 4.1


def test_quick_design_has_the_same_shape(repo):
    full, quick = load_config(repo / "config/config.yaml"), load_config(repo / "config/quick.yaml")
    assert len(pipeline_configurations(quick)) == 7
    assert len(quick["data"]["dataset_sizes_mb"]) == len(full["data"]["dataset_sizes_mb"])
    assert sum(quick["data"]["dataset_sizes_mb"]) * 10 <= sum(full["data"]["dataset_sizes_mb"])
    assert sum(quick["upload"]["model_sizes_mb"]) * 10 <= sum(full["upload"]["model_sizes_mb"])
    assert quick["pipeline"]["repetitions"] >= 2


def write_variant(repo, tmp_path, change):
    config = yaml.safe_load((repo / "config/quick.yaml").read_text())
    change(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda c: c["data"].update(sizes=[1]), r"data\.sizes: unknown key"),
    (lambda c: c.update(extra=1), r"extra: unknown key"),
    (lambda c: c["training"].update(epochs="20"), r"training\.epochs: '20' is not of type 'integer'"),
    (lambda c: c["data"]["dataset_sizes_mb"].__setitem__(2, -1), r"data\.dataset_sizes_mb\[2\]: -1 is less than"),
    (lambda c: c["training"].pop("seed"), r"training\.seed: required key is missing"),
    (lambda c: c["upload"].update(size_unit="GB"), r"upload\.size_unit: 'GB' is not one of"),
    (lambda c: c["pipeline"].update(dataset_series_width=7), r"pipeline\.dataset_series_width: 7 is not one of model\.widths"),
])
def test_bad_key_or_type_is_named(repo, tmp_path, change, message):
    path = write_variant(repo, tmp_path, change)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_broken_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(path)


def test_cli_reports_the_key_without_a_traceback(repo, tmp_path, cli_env):
    path = write_variant(repo, tmp_path, lambda c: c["model"].update(widths="8"))
    result = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "check-config", str(path)],
                            capture_output=True, text=True, env=cli_env)
    assert result.returncode == 1
    assert "model.widths: '8' is not of type 'array'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_accepts_the_shipped_configs(repo, cli_env):
    for name in ("config.yaml", "quick.yaml"):
        result = subprocess.run([sys.executable, "-m", "mlopsbench.cli", "check-config", str(repo / "config" / name)],
                                capture_output=True, text=True, env=cli_env)
        assert result.returncode == 0, result.stderr
        assert "7 pipeline configurations" in result.stdout
