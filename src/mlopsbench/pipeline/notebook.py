"""Read a notebook tagged the way Kubeflow Kale tags one.

Tags on code cells:

* ``imports``: import statements, available to every step that uses them;
* ``pipeline-parameters``: ``NAME = literal`` lines that a run may override;
* ``block:<step>`` names the step a cell becomes, ``prev:<step>`` its parents;
* ``limit:cpu:<n>``: cores the step needs at once (the runner clamps it to what it has);
* ``skip``: not part of the pipeline.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


class NotebookError(InputError):
    pass


@dataclass(frozen=True)
class Cell:
    name: str
    source: str
    parents: tuple[str, ...]
    cpu: int
    number: int  # 1-based position among all notebook cells, for messages


@dataclass
class Notebook:
    path: Path
    imports: list[ast.stmt] = field(default_factory=list)
    parameters: dict[str, object] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _parse(path: Path, number: int, source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise NotebookError(f"{path}: cell {number}, line {exc.lineno}: {exc.msg}") from None


def _parameters(path: Path, number: int, tree: ast.Module) -> dict[str, object]:
    values = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise NotebookError(f"{path}: cell {number}, line {stmt.lineno}: "
                                "pipeline-parameters may only hold NAME = literal lines")
        try:
            values[stmt.targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError:
            raise NotebookError(f"{path}: cell {number}, line {stmt.lineno}: "
                                f"parameter {stmt.targets[0].id} is not a literal") from None
    return values


def _block(path: Path, number: int, tags: list[str], source: str) -> Cell:
    names = [t.removeprefix("block:") for t in tags if t.startswith("block:")]
    if len(names) != 1:
        raise NotebookError(f"{path}: cell {number}: needs exactly one block:<step> tag "
                            f"(or imports, pipeline-parameters, skip), found tags {tags}")
    cpu = 1
    for tag in tags:
        if tag.startswith("limit:cpu:"):
            value = tag.removeprefix("limit:cpu:")
            if not value.isdigit() or int(value) < 1:
                raise NotebookError(f"{path}: cell {number}: tag {tag!r} needs a positive whole number")
            cpu = int(value)
    parents = tuple(t.removeprefix("prev:") for t in tags if t.startswith("prev:"))
    return Cell(names[0], source, parents, cpu, number)


def read_notebook(path: str | Path) -> Notebook:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NotebookError(f"{path}: cannot read the notebook: {exc}") from None
    notebook = Notebook(path)
    for number, cell in enumerate(document.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        tags = list(cell.get("metadata", {}).get("tags", []))
        source = _source(cell)
        if "skip" in tags or not source.strip():
            continue
        tree = _parse(path, number, source)
        if "imports" in tags:
            for stmt in tree.body:
                if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    raise NotebookError(f"{path}: cell {number}, line {stmt.lineno}: "
                                        "the imports cell may only hold import statements")
            notebook.imports.extend(tree.body)
        elif "pipeline-parameters" in tags:
            notebook.parameters.update(_parameters(path, number, tree))
        else:
            notebook.cells.append(_block(path, number, tags, source))
    if not notebook.cells:
        raise NotebookError(f"{path}: no cell carries a block:<step> tag")
    return notebook
