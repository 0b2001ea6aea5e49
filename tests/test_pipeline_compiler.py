"""Unit tests of the notebook reader and compiler (no process is started)."""

import json

import pytest

from mlopsbench.pipeline.compiler import CompileError, analyse, compile_notebook
from mlopsbench.pipeline.notebook import NotebookError

STEPS = ["preprocessing", "plot", "createdict", "dnncompile", "dnnfit", "dnneval",
         "modelerrorssummary", "dnnpredict", "dnnpredictsummary"]


@pytest.fixture
def plan(repo):
    return compile_notebook(repo / "notebooks/intel54_pipeline.ipynb")


def test_one_step_per_cell_of_table_1(plan, repo):
    assert list(plan.steps) == STEPS
    notebook = json.loads((repo / "notebooks/intel54_pipeline.ipynb").read_text())
    tags = [c["metadata"].get("tags", []) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert tags[0] == ["imports"] and tags[1] == ["pipeline-parameters"]
    assert len(tags) - 1 == 10  # Table 1: imports + nine jobs; parameters are Kale's extra cell


def test_dag(plan):
    parents = {name: set(step.parents) for name, step in plan.steps.items()}
    assert parents == {
        "preprocessing": set(), "plot": {"preprocessing"}, "createdict": {"preprocessing"},
        "dnncompile": {"preprocessing"}, "dnnfit": {"dnncompile"},  # the edge Figure 12 shows
        "dnneval": {"dnnfit", "createdict"}, "modelerrorssummary": {"dnneval"},
        "dnnpredict": {"dnnfit"}, "dnnpredictsummary": {"dnnpredict"},
    }
    assert plan.descendants("dnncompile") == {"dnnfit", "dnneval", "modelerrorssummary", "dnnpredict",
                                              "dnnpredictsummary"}


def test_each_step_imports_only_what_it_uses(plan):
    imports = {name: set(step.imports) for name, step in plan.steps.items()}
    assert imports["createdict"] == {"import time"}
    assert imports["preprocessing"] == {"import time", "import pandas as pd"}
    assert "import keras" in imports["dnnfit"] and "import keras" not in imports["plot"]
    assert not any("keras" in line for line in imports["dnneval"])  # the model brings its own


def test_data_comes_from_the_latest_ancestor_that_holds_it(plan):
    inputs = {name: dict(step.inputs) for name, step in plan.steps.items()}
    assert inputs["dnnfit"] == {"dnn_model": "dnncompile", "train_features": "preprocessing",
                                "train_labels": "preprocessing"}
    assert inputs["dnnpredict"]["dnn_model"] == "dnnfit"       # fit() changed it
    assert inputs["modelerrorssummary"] == {"test_results": "dnneval"}  # dnneval stored into it
    assert plan.steps["preprocessing"].outputs == ("test_features", "test_labels", "train_dataset",
                                                   "train_features", "train_labels")
    assert plan.steps["plot"].outputs == ()


def test_script_holds_parameters_inputs_cell_and_outputs(plan):
    script = plan.script("dnnfit", {"EPOCHS": 3})
    assert "EPOCHS = 3" in script and "WIDTH" not in script
    assert "dnn_model = _marshal.load('dnncompile', 'dnn_model')" in script
    assert "_marshal.save('dnnfit', 'dnn_model', dnn_model)" in script
    assert script.index("[MLB] started") < script.index("import keras") < script.index("dnn_model.fit(")
    compile(script, "dnnfit.py", "exec")


def test_monolith_runs_every_cell_in_notebook_order(plan):
    script = plan.monolith({})
    positions = [script.index(f"cell-start {name} ") for name in STEPS]
    assert positions == sorted(positions)
    compile(script, "notebook.py", "exec")


def test_analyse_separates_reads_from_local_names():
    reads, touched, _ = analyse("start = time.time()\nx = y + start\nz[0] = 1\nm.fit(x)\n")
    assert reads == {"time", "y", "z", "m"}
    assert {"start", "x", "z", "m"} <= touched


def write_notebook(tmp_path, cells):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "source": source, "metadata": {"tags": tags}} for tags, source in cells]}))
    return path


@pytest.mark.parametrize("cells, message", [
    ([(["block:a", "prev:nope"], "x = 1")], r"cell 1: prev:nope names no block"),
    ([(["block:a", "prev:b"], "x = 1"), (["block:b", "prev:a"], "y = 1")], r"cycle"),
    ([(["block:a"], "x = 1"), (["block:b"], "y = x")], r"cell 2: step 'b' reads 'x', which only \['a'\] define; add prev:a"),
    ([(["block:a"], "x = 1"), (["block:b"], "x = 2"), (["block:c", "prev:a", "prev:b"], "y = x")],
     r"cell 3: .* parallel ancestors \['a', 'b'\]"),
    ([([], "x = 1")], r"cell 1: needs exactly one block:<step> tag"),
    ([(["imports"], "import os\nx = 1")], r"cell 1, line 2: the imports cell may only hold import statements"),
    ([(["pipeline-parameters"], "N = len('x')")], r"cell 1, line 1: parameter N is not a literal"),
    ([(["block:a"], "x = (")], r"cell 1, line 1"),
    ([(["block:a", "limit:cpu:x"], "x = 1")], r"limit:cpu:x"),
])
def test_bad_notebooks_are_named_by_cell(tmp_path, cells, message):
    with pytest.raises(NotebookError, match=message):
        compile_notebook(write_notebook(tmp_path, cells))


def test_compile_error_is_a_notebook_error():
    assert issubclass(CompileError, NotebookError)


def test_every_step_and_the_monolith_say_which_python_runs_them(plan, tmp_path):
    """A cell's time depends on the interpreter build, so each job prints it first (sys.version)
    and the tidy reads it back from the log."""
    import subprocess
    import sys

    from mlopsbench.pipeline.timing import interpreter

    for script in (plan.script("dnnfit", {}), plan.monolith({})):
        preamble = "\n".join(script.splitlines()[:4])
        assert "[MLB] python" in preamble
        log = tmp_path / "step.log"
        log.write_text(subprocess.run([sys.executable, "-c", preamble], capture_output=True, text=True,
                                      check=True).stdout)
        assert interpreter(log) == " ".join(sys.version.split())
    log.write_text("[MLB] started 1.0\n")
    assert interpreter(log) is None  # a log from before steps printed it
