"""Round trips through the marshal directory with real pandas, NumPy and Keras values."""

import numpy as np
import pandas as pd
import pytest

from mlopsbench.data.models import build_regression_model
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
    model = build_regression_model(8, 3, 0.001, "mean_absolute_error", features=np.ones((4, 3), dtype="float32"),
                                   seed=0)
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


def test_a_step_that_imports_nothing_counts_its_loads_libraries_as_start_up(tmp_path):
    """A compiled step whose cell imports nothing loads a Keras model: TensorFlow's import is
    timed on its own line and counted as start-up, and the timed load excludes it."""
    import json
    import subprocess
    import sys

    from mlopsbench.pipeline.compiler import compile_notebook
    from mlopsbench.pipeline.timing import log_marks, with_overhead

    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [
        {"cell_type": "code", "metadata": {"tags": ["imports"]}, "source": "import keras"},
        {"cell_type": "code", "metadata": {"tags": ["block:build"]},
         "source": "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])"},
        {"cell_type": "code", "metadata": {"tags": ["block:count", "prev:build"]},
         "source": "print('[JT] count time(s) {}'.format(len(model.layers)))"},
    ]}))
    plan = compile_notebook(notebook)
    assert plan.steps["count"].imports == ()
    logs = {}
    for step in ("build", "count"):
        (tmp_path / f"{step}.py").write_text(plan.script(step, {}))
        done = subprocess.run([sys.executable, f"{step}.py"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        (tmp_path / f"{step}.log").write_text(logs.setdefault(step, done.stdout))
    marks = log_marks(tmp_path / "count.log")
    assert "marshal-import keras keras " in logs["count"]
    assert 0 < marks["marshal_seconds"] < marks["marshal_import_seconds"]
    imported = marks["imported"]
    row = with_overhead({"created": imported - 1.0, "scheduled": imported - 1.0, "finished": imported + 20.0,
                         "cell_seconds": 1.0} | marks)
    assert row["startup_seconds"] == pytest.approx(1.0 + marks["marshal_import_seconds"])
    assert row["marshal_seconds"] == marks["marshal_seconds"]
