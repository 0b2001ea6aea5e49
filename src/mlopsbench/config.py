"""Load a study configuration and check it against the JSON schema.

Errors name the file and the offending key (``data.dataset_sizes_mb[1]``), so a
typo in a YAML file is found without reading a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import InputError


# Upload setups that run on a cluster; the pipeline's counterpart is the "kubernetes" backend.
CLUSTER_SETUPS = ("vm", "pod")


class ConfigError(InputError):
    """A configuration that does not match the schema or the design's rules."""


@dataclass(frozen=True)
class PipelineConfiguration:
    """One of the thesis's seven pipeline configurations (Section 4.1)."""

    dataset_mb: float
    width: int


def schema() -> dict[str, Any]:
    text = resources.files("mlopsbench").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _key_path(path) -> str:
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        prefix = f"{where}." if error.absolute_path else ""
        return "; ".join(f"{prefix}{k}: unknown key (allowed: {', '.join(allowed)})" for k in unknown)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        prefix = f"{where}." if error.absolute_path else ""
        return f"{prefix}{missing}: required key is missing"
    return f"{where}: {error.message}"


def validate_config(config: dict[str, Any], source: str = "<config>") -> dict[str, Any]:
    """Raise ConfigError naming ``source`` and every bad key; return ``config``."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        problems = _design_problems(config)
    if problems:
        raise ConfigError(f"{source}: " + "\n  ".join(["invalid configuration:", *problems]))
    return config


def _design_problems(config: dict[str, Any]) -> list[str]:
    """Rules that tie keys together, which JSON schema cannot say."""
    problems = []
    pipeline = config["pipeline"]
    if pipeline["dataset_series_width"] not in config["model"]["widths"]:
        problems.append(
            f"pipeline.dataset_series_width: {pipeline['dataset_series_width']} "
            f"is not one of model.widths {config['model']['widths']}"
        )
    if set(CLUSTER_SETUPS) & set(config["upload"]["setups"]) and "upload" not in config.get("kubernetes", {}):
        problems.append("upload.setups: 'vm' and 'pod' need a kubernetes.upload section (see config/cluster.yaml)")
    if "kubernetes" in pipeline["backends"] and "kubernetes" not in config:
        problems.append("pipeline.backends: 'kubernetes' needs a kubernetes section (see config/cluster.yaml)")
    if pipeline["model_series_dataset_mb"] not in config["data"]["dataset_sizes_mb"]:
        problems.append(
            f"pipeline.model_series_dataset_mb: {pipeline['model_series_dataset_mb']} "
            f"is not one of data.dataset_sizes_mb {config['data']['dataset_sizes_mb']}"
        )
    return problems


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return validate_config(config, source=str(path))


def series_of(config: dict[str, Any], dataset_mb: float, width: int) -> str:
    """Which series of Section 4.1 a configuration belongs to: dataset, model or both."""
    pipeline = config["pipeline"]
    names = [name for name, member in (("dataset", width == pipeline["dataset_series_width"]),
                                       ("model", dataset_mb == pipeline["model_series_dataset_mb"])) if member]
    return "+".join(names)


def pipeline_configurations(config: dict[str, Any]) -> list[PipelineConfiguration]:
    """The dataset series then the model series, without the shared configuration twice.

    With the thesis design this is 4 + 4 - 1 = 7 configurations (Section 4.1).
    """
    pipeline = config["pipeline"]
    dataset_series = [
        PipelineConfiguration(size, pipeline["dataset_series_width"])
        for size in config["data"]["dataset_sizes_mb"]
    ]
    model_series = [
        PipelineConfiguration(pipeline["model_series_dataset_mb"], width)
        for width in config["model"]["widths"]
    ]
    return list(dict.fromkeys(dataset_series + model_series))


def pipeline_runs(config: dict[str, Any]):
    """(backend, configuration, rep) of every pipeline run the study makes, in a fixed order."""
    for backend in config["pipeline"]["backends"]:
        for configuration in pipeline_configurations(config):
            for rep in range(1, config["pipeline"]["repetitions"] + 1):
                yield backend, configuration, rep


def upload_cells(config: dict[str, Any]):
    """(setup, latency_ms) of every upload cell the study makes, in a fixed order."""
    for setup in config["upload"]["setups"]:
        for latency in config["upload"]["latencies_ms"]:
            yield setup, latency


def store_args(config: dict[str, Any]) -> str:
    """The upload-run arguments that name an external store; empty for the embedded one."""
    store = config["upload"]["store"]
    if not store["endpoint"]:
        return ""
    return f"--endpoint {store['endpoint']}" + (" --secure" if store["secure"] else "")
