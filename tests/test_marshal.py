"""Round trips through the marshal directory with real pandas, NumPy and Keras values."""

import numpy as np
import pandas as pd
import pytest

from mlopsbench.models import build_regression_model
from mlopsbench.pipeline.marshal import Marshal, MarshalError


@pytest.fixture
def marshal(tmp_path):
    return Marshal(tmp_path)


def test_dataframe_as_parquet(marshal, tmp_path):
    frame = pd.DataFrame({"humidity": [37.1, 38.4], "light": [45.08, 97.52]}, index=[7, 3])
    marshal.save("a", "frame", frame)
    assert (tmp_path / "a/frame.parquet").exists()
    pd.testing.assert_frame_equal(marshal.load("a", "frame"), frame)


@pytest.mark.parametrize("name", ["temperature", None])
def test_series_keeps_name_and_index(marshal, name):
    series = pd.Series([19.9, 21.5], index=[4, 9], name=name)
    marshal.save("a", "labels", series)
    pd.testing.assert_series_equal(marshal.load("a", "labels"), series)


def test_numpy_and_json(marshal, tmp_path):
    marshal.save("b", "predictions", np.arange(5, dtype="float32"))
    marshal.save("b", "results", {"dnn_model": 2.5})
    np.testing.assert_array_equal(marshal.load("b", "predictions"), np.arange(5, dtype="float32"))
    assert marshal.load("b", "results") == {"dnn_model": 2.5}
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["predictions.npy", "results.json"]


def test_keras_model_in_native_format(marshal, tmp_path):
    model = build_regression_model(8, 3, features=np.ones((4, 3), dtype="float32"), seed=0)
    marshal.save("c", "dnn_model", model)
    assert (tmp_path / "c/dnn_model.keras").exists()
    loaded = marshal.load("c", "dnn_model")
    x = np.random.default_rng(1).normal(size=(3, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_unsupported_type_names_step_and_variable(marshal):
    with pytest.raises(MarshalError, match=r"step 'd': cannot marshal 'handle' of type builtins\.object"):
        marshal.save("d", "handle", object())


def test_missing_value_names_the_producer(marshal):
    with pytest.raises(MarshalError, match=r"step 'e' left no 'x'"):
        marshal.load("e", "x")


def test_each_transfer_is_logged_with_its_duration(marshal, capsys):
    marshal.save("f", "n", [1, 2])
    assert capsys.readouterr().out.startswith("[MLB] marshal save f/n json ")
