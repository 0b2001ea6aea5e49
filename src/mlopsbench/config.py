"""Load a study configuration and check it against the JSON schema.

Errors name the file and the offending key (``data.dataset_sizes_mb[1]``), so a
typo in a YAML file is found without reading a traceback.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import paths
from .errors import InputError


class ConfigError(InputError):
    """A configuration that does not match the schema or the design's rules."""


@dataclass(frozen=True)
class PipelineConfiguration:
    """One of the thesis's seven pipeline configurations (Section 4.1)."""

    dataset_mb: float
    width: int


@functools.cache
def schema() -> dict[str, Any]:
    text = resources.files("mlopsbench").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _node(key: str) -> dict[str, Any]:
    node = schema()
    for part in key.split("."):
        node = node["properties"][part]
    return node


def choices(key: str) -> list[str]:
    """The names the schema allows for a key (or for the items of a list key)."""
    node = _node(key)
    return list(node.get("items", node)["enum"])


def default(key: str) -> Any:
    """The schema's default for a dotted key ("training.seed"): the one place defaults live."""
    node = _node(key)
    if "default" not in node:
        raise KeyError(f"config.schema.yaml: {key} has no default")
    return copy.deepcopy(node["default"])


def with_defaults(instance: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """``instance`` (the configuration, or its section at ``key``) with every absent key that
    has a schema default filled in, recursively."""
    node = _node(key) if key else schema()
    filled = dict(instance)
    for name, prop in node.get("properties", {}).items():
        if name not in filled and "default" in prop:
            filled[name] = copy.deepcopy(prop["default"])
        if isinstance(filled.get(name), dict) and "properties" in prop:
            filled[name] = with_defaults(filled[name], f"{key}.{name}" if key else name)
    return filled


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
        return f"{prefix}{missing}: required key is missing{_because(error)}"
    if "x-expects" in error.schema and error.validator in ("oneOf", "anyOf", "pattern", "contains"):
        return f"{where}: {error.instance!r} is not {error.schema['x-expects']}"
    return f"{where}: {error.message}"


def _because(error: jsonschema.ValidationError) -> str:
    """Why a conditional key is required: the ``if`` of the branch it came from, in words."""
    path = list(error.schema_path)
    if "then" not in path:
        return ""
    node, keys = schema(), []
    for part in path[:path.index("then")]:
        node = node[part]
        if isinstance(part, str) and part not in ("properties", "allOf"):
            keys.append(part)
    condition = node["if"]
    while "properties" in condition:
        name, condition = next(iter(condition["properties"].items()))
        keys.append(name)
    if "contains" in condition:
        return (f" (because {'.'.join(keys)} includes {' or '.join(condition['contains']['enum'])}, which run "
                f"on a cluster; see config/cluster.yaml)")
    return f" (because {'.'.join(keys)} is {json.dumps(condition['const'])})"


def validate_config(config: dict[str, Any], source: str = "<config>") -> dict[str, Any]:
    """Raise ConfigError naming ``source`` and every bad key; return ``config``."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors] + _non_finite(config)
    if not problems:
        problems = _design_problems(config)
    if problems:
        raise ConfigError(f"{source}: " + "\n  ".join(["invalid configuration:", *problems]))
    return with_defaults(config)


def _non_finite(node: Any, path: tuple = ()) -> list[str]:
    """Every .nan or .inf in the configuration, by key: no size, latency or timeout may be one."""
    if isinstance(node, float) and not math.isfinite(node):
        return [f"{_key_path(path)}: {node} is not a finite number"]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return [problem for key, value in items for problem in _non_finite(value, (*path, key))]


def _design_problems(config: dict[str, Any]) -> list[str]:
    """Rules that tie keys together, which JSON schema cannot say."""
    problems = []
    pipeline = config["pipeline"]
    if pipeline["dataset_series_width"] not in config["model"]["widths"]:
        problems.append(
            f"pipeline.dataset_series_width: {pipeline['dataset_series_width']} "
            f"is not one of model.widths {config['model']['widths']}"
        )
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


def check_config_files(config: dict[str, Any], source: str | Path) -> None:
    """The files a configuration names exist (relative to the working directory)."""
    notebook = Path(config["pipeline"]["notebook"])
    if not notebook.is_file():
        raise ConfigError(f"{source}: pipeline.notebook: {notebook} is not a file "
                          f"(paths are relative to the directory the study runs in, {Path.cwd()})")


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


def pipeline_blocks(config: dict[str, Any]):
    """(configuration, rep, backends) of every block of the pipeline experiment: one configuration
    and repetition with every backend that has that many repetitions, run back to back."""
    pipeline = with_defaults(config["pipeline"], "pipeline")
    reps = {b: pipeline["repetitions_per_backend"].get(b, pipeline["repetitions"]) for b in pipeline["backends"]}
    for configuration in pipeline_configurations(config):
        for rep in range(1, max(reps.values()) + 1):
            yield configuration, rep, [b for b in pipeline["backends"] if reps[b] >= rep]


def pipeline_runs(config: dict[str, Any]):
    """(backend, configuration, rep) of every pipeline run the study makes, block by block."""
    for configuration, rep, backends in pipeline_blocks(config):
        for backend in backends:
            yield backend, configuration, rep


def upload_cells(config: dict[str, Any]):
    """(setup, latency_ms) of every upload cell the study makes, in a fixed order."""
    for setup in config["upload"]["setups"]:
        for latency in config["upload"]["latencies_ms"]:
            yield setup, latency


def configuration_name(config: dict[str, Any], configuration: PipelineConfiguration) -> str:
    return paths.configuration_name(configuration.width, config["model"]["hidden_layers"], configuration.dataset_mb)


def cpu_request_args(config: dict[str, Any]) -> str:
    """The pipeline-run argument that sets each step's cores; empty for the notebook's own tags."""
    request = config["pipeline"]["cpu_request"]
    return "" if request is None else f"--cpu-request {request}"


def block_args(config: dict[str, Any]) -> str:
    """The pipeline-block arguments the configuration sets: the order's seed and the calibration's
    size (or that there is none)."""
    pipeline = with_defaults(config["pipeline"], "pipeline")
    calibration = pipeline["calibration"]
    sized = ("--no-calibration" if calibration is None else
             f"--calibration-python-iterations {calibration['python_iterations']} "
             f"--calibration-keras-steps {calibration['keras_steps']}")
    return f"--order-seed {pipeline['order_seed']} {sized}"


def store_args(config: dict[str, Any]) -> str:
    """The upload-run arguments that name an external store; empty for the embedded one."""
    store = config["upload"]["store"]
    if not store["endpoint"]:
        return ""
    return f"--endpoint {store['endpoint']}" + (" --secure" if store["secure"] else "")
