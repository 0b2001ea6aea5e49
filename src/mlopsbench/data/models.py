"""The two model families of the thesis.

* The regression model of Section 5.3.2 (after the TensorFlow "fuel efficiency"
  tutorial): Normalization of the 3 inputs (humidity, light, voltage), ``hidden_layers``
  Dense ReLU layers of ``width`` units, one linear output (temperature), compiled with
  Adam and mean absolute error.
* The upload family of Section 4.2: the same architecture made "arbitrarily large",
  sized so that the saved ``.keras`` file reaches a byte target. Weights stay at their
  seeded initial values: the upload experiment moves bytes and needs no training.

Keras is imported inside the functions, because ``import tensorflow`` costs about
three seconds and the CLI's other commands should not pay it.
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from .. import atomic, paths
from ..errors import InputError

N_FEATURES = 3
BYTES_PER_WEIGHT = 4  # float32
UNIT_BYTES = {"MB": 10**6, "MiB": 2**20}
# Normalization keeps mean and variance per feature plus a sample count.
NORMALIZATION_PARAMS = 2 * N_FEATURES + 1

log = logging.getLogger(__name__)


class ModelSizeError(InputError):
    pass


def trainable_params(width: int, hidden_layers: int, n_inputs: int = N_FEATURES) -> int:
    """Weights and biases of Dense n_inputs -> width x hidden_layers -> 1."""
    first = (n_inputs + 1) * width
    middle = (hidden_layers - 1) * (width + 1) * width
    return first + middle + (width + 1)


def build_regression_model(width: int, hidden_layers: int, learning_rate: float, loss: str, features=None,
                           seed: int | None = None):
    """The Keras model of Section 5.3.2; ``features`` (n x 3) adapts the Normalization."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    normalizer = keras.layers.Normalization(axis=-1, name="normalization")
    if features is not None:
        normalizer.adapt(features)
    model = keras.Sequential(
        [keras.Input(shape=(N_FEATURES,)), normalizer]
        + [keras.layers.Dense(width, activation="relu", name=f"hidden{i + 1}") for i in range(hidden_layers)]
        + [keras.layers.Dense(1, name="temperature")],
        name=f"dnn_{paths.architecture_name(width, hidden_layers)}",
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=loss)
    return model


def describe(model, path: str | Path | None = None) -> dict[str, Any]:
    """Parameter counts (and the saved size) of a model, for its sidecar JSON."""
    import numpy as np

    def count(weights) -> int:
        return int(sum(np.prod(w.shape) for w in weights))

    info: dict[str, Any] = {
        "name": model.name,
        "layers": [layer.name for layer in model.layers],
        "trainable_params": count(model.trainable_weights),
        "non_trainable_params": count(model.non_trainable_weights),
        "total_params": int(model.count_params()),
    }
    if path is not None:
        info["bytes"] = Path(path).stat().st_size
    return info


def save_model(model, dest: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Save atomically as ``.keras`` and write the sidecar JSON beside it."""
    with atomic.atomic_path(dest) as tmp:
        model.save(tmp)
    info = describe(model, dest) | (extra or {})
    atomic.write_json(paths.sidecar(str(dest)), info)
    log.info("%s: %s trainable parameters, %d bytes", dest, f"{info['trainable_params']:,}", info["bytes"])
    return info


def load_features(csv_path: str | Path):
    """The three input columns of a node CSV (humidity, light, voltage)."""
    import numpy as np

    return np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype="float32", ndmin=2)


def _untrained(width: int, hidden_layers: int, seed: int | None = None):
    """An upload model: the regression model compiled as the configuration's training defaults say."""
    from ..config import default

    return build_regression_model(width, hidden_layers, default("training.learning_rate"), default("training.loss"),
                                  seed=seed)


def _saved_overhead_bytes(hidden_layers: int) -> int:
    """Bytes a saved model has beyond its float32 weights: archive, config, HDF5 headers.

    Measured on a width-1 model of the same depth; it barely depends on width.
    """
    model = _untrained(1, hidden_layers)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "probe.keras")
        model.save(path)
        size = path.stat().st_size
    return size - BYTES_PER_WEIGHT * model.count_params()


def width_for_bytes(target_bytes: int, hidden_layers: int, overhead_bytes: int) -> int:
    """The width whose saved model is closest to ``target_bytes``."""
    weights = (target_bytes - overhead_bytes) / BYTES_PER_WEIGHT - NORMALIZATION_PARAMS
    if hidden_layers == 1:
        estimate = (weights - 1) / (N_FEATURES + 2)
    else:  # (L-1) w^2 + (n + L + 1) w + 1 = weights
        a, b = hidden_layers - 1, N_FEATURES + hidden_layers + 1
        estimate = (-b + math.sqrt(b * b + 4 * a * (weights - 1))) / (2 * a)
    candidates = {max(1, math.floor(estimate)), max(1, math.ceil(estimate))}

    def saved(w: int) -> int:
        return overhead_bytes + BYTES_PER_WEIGHT * (trainable_params(w, hidden_layers) + NORMALIZATION_PARAMS)

    return min(candidates, key=lambda w: abs(saved(w) - target_bytes))


def build_upload_model(size: float, unit: str, hidden_layers: int, dest: str | Path,
                       seed: int, tolerance: float = 0.02) -> dict[str, Any]:
    """Save an untrained model whose file is ``size`` ``unit`` within ``tolerance``."""
    target = round(size * UNIT_BYTES[unit])
    width = width_for_bytes(target, hidden_layers, _saved_overhead_bytes(hidden_layers))
    model = _untrained(width, hidden_layers, seed)
    info = save_model(model, dest, {"target_bytes": target, "size": size, "unit": unit, "width": width})
    error = info["bytes"] / target - 1
    if abs(error) > tolerance:
        Path(dest).unlink()
        Path(paths.sidecar(str(dest))).unlink()
        raise ModelSizeError(
            f"{dest}: saved size {info['bytes']} bytes is {error:+.1%} from the target "
            f"{size:g} {unit} ({target} bytes); the tolerance is {tolerance:.0%}"
        )
    return info
