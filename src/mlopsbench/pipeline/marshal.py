"""Hand variables from one step to the next through a directory (Kale's marshal volume).

Typed serializers, chosen by the value's type: DataFrames and Series as parquet,
Keras models in the native ``.keras`` format, NumPy arrays as ``.npy`` and small
objects as JSON. Heavy libraries are imported only when a value of theirs moves,
so a step that hands on a dict never imports pandas. Each load and save prints a
``[MLB] marshal`` line with its duration, for the overhead analysis. The libraries a
load or save needs are imported before its clock starts and timed on their own line
(``[MLB] marshal-import``): importing TensorFlow to load a model is start-up, as the
step's own imports are, not marshalling.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path

# What each kind of value needs to be read or written (pandas loads pyarrow lazily).
_LIBRARIES = {"parquet": ("pandas", "pyarrow.parquet"), "series.parquet": ("pandas", "pyarrow.parquet"),
              "npy": ("numpy",), "keras": ("keras",), "json": ()}


class MarshalError(TypeError):
    pass


def _kind(value) -> str:
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        return {"DataFrame": "parquet", "Series": "series.parquet"}.get(type(value).__name__, "")
    if module == "numpy" and type(value).__name__ == "ndarray":
        return "npy"
    if module == "keras" and hasattr(value, "save"):
        return "keras"
    try:
        json.dumps(value)
        return "json"
    except (TypeError, ValueError):
        return ""


class Marshal:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _report(self, action: str, step: str, name: str, path: Path, since: float) -> None:
        print(f"[MLB] marshal {action} {step}/{name} {path.suffix.lstrip('.')} "
              f"{path.stat().st_size} bytes {time.time() - since:.6f} s", flush=True)

    @staticmethod
    def _import_libraries(kind: str) -> None:
        since = time.time()
        missing = [module for module in _LIBRARIES[kind] if module not in sys.modules]
        for module in missing:
            importlib.import_module(module)
        if missing:
            print(f"[MLB] marshal-import {kind} {','.join(missing)} {time.time() - since:.6f} s", flush=True)

    def save(self, step: str, name: str, value) -> None:
        kind = _kind(value)
        if not kind:
            raise MarshalError(f"step {step!r}: cannot marshal {name!r} of type "
                               f"{type(value).__module__}.{type(value).__name__}")
        self._import_libraries(kind)
        since = time.time()
        folder = self.root / step
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.{kind}"
        tmp = folder / f".{name}.tmp.{kind}"
        if kind == "parquet":
            value.to_parquet(tmp)
        elif kind == "series.parquet":
            value.to_frame(name="__series__" if value.name is None else str(value.name)).to_parquet(tmp)
        elif kind == "npy":
            import numpy

            with tmp.open("wb") as out:
                numpy.save(out, value, allow_pickle=False)
        elif kind == "keras":
            value.save(tmp)
        else:
            tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
        self._report("save", step, name, path, since)

    def load(self, step: str, name: str):
        found = sorted((self.root / step).glob(f"{name}.*"))
        if not found:
            raise MarshalError(f"{self.root / step}: step {step!r} left no {name!r}; did it finish?")
        path = found[0]
        kind = path.name[len(name) + 1:]
        self._import_libraries(kind)
        since = time.time()
        if kind in ("parquet", "series.parquet"):
            import pandas

            value = pandas.read_parquet(path)
            if kind == "series.parquet":
                value = value.iloc[:, 0].rename(None if value.columns[0] == "__series__" else value.columns[0])
        elif kind == "npy":
            import numpy

            value = numpy.load(path, allow_pickle=False)
        elif kind == "keras":
            import keras

            value = keras.models.load_model(path)
        else:
            value = json.loads(path.read_text())
        self._report("load", step, name, path, since)
        return value
