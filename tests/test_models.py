"""Unit tests of the two model families (real Keras models, no training needed)."""

import json

import numpy as np
import pytest

from mlopsbench.data import models
from mlopsbench.data.models import ModelSizeError, build_regression_model, build_upload_model, describe

# Section 4.1 of the thesis, with the counts Keras reports for Dense 3->w->w->w->1.
TRAINABLE = {8: 185, 16: 625, 32: 2273, 64: 8641}


@pytest.mark.parametrize("width, expected", TRAINABLE.items())
def test_trainable_parameters_of_the_thesis_models(width, expected):
    features = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    info = describe(build_regression_model(width, 3, 0.001, "mean_absolute_error", features=features, seed=1))
    assert info["trainable_params"] == expected == models.trainable_params(width, 3)
    # The Normalization layer's mean, variance and count: the thesis's 8648 for 64x64x64.
    assert info["non_trainable_params"] == models.NORMALIZATION_PARAMS == 7


def test_model_is_compiled_with_adam_and_mae():
    model = build_regression_model(8, 3, 0.001, "mean_absolute_error")
    assert model.optimizer.__class__.__name__ == "Adam"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.001)
    assert model.loss == "mean_absolute_error"
    assert [layer.name for layer in model.layers] == ["normalization", "hidden1", "hidden2", "hidden3", "temperature"]


@pytest.mark.parametrize("size_mib, thesis_params", [(49, 12.6e6), (113, 30e6), (177, 46.1e6), (241, 63e6)])
def test_upload_family_matches_the_thesis_parameter_counts(size_mib, thesis_params):
    """Section 4.2 names the sizes and rough parameter counts; MiB reconciles them."""
    width = models.width_for_bytes(size_mib * 2**20, 3, overhead_bytes=30_000)
    params = models.trainable_params(width, 3)
    assert params == pytest.approx(thesis_params, rel=0.03)


@pytest.mark.parametrize("size, unit", [(1, "MiB"), (2.5, "MB")])
def test_saved_upload_model_hits_its_size(tmp_path, size, unit):
    dest = tmp_path / "model.keras"
    info = build_upload_model(size, unit, 3, dest, seed=3)
    target = size * models.UNIT_BYTES[unit]
    assert dest.stat().st_size == info["bytes"]
    assert abs(info["bytes"] / target - 1) < 0.02
    assert json.loads((tmp_path / "model.json").read_text())["trainable_params"] == info["trainable_params"]


def test_size_outside_tolerance_leaves_nothing(tmp_path):
    with pytest.raises(ModelSizeError, match=r"model\.keras: saved size .* from the target"):
        build_upload_model(0.05, "MiB", 3, tmp_path / "model.keras", seed=0, tolerance=1e-9)
    assert list(tmp_path.iterdir()) == []
