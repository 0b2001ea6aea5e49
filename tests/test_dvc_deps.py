"""Unit test: every DVC stage depends on exactly the package files its CLI command imports, and
on the package data those modules read (the schema, the thesis's reference numbers).

The imports are found statically: the CLI module's own imports, the ones of the functions that
build the parser, and the command's handler; then every import of every package module reached,
with a registry package standing for all of its modules (it discovers them at import time)."""

import argparse
import ast
import re
from pathlib import Path

import yaml

from mlopsbench import cli

SRC = Path(cli.__file__).resolve().parents[1]
PACKAGE = SRC / "mlopsbench"
PARSER_FUNCTIONS = {"build_parser", "config_option", "main", "_interrupt"}


def module_file(name: str) -> Path:
    path = SRC / Path(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(name: str, node: ast.AST) -> set[str]:
    package = name if module_file(name).name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for item in ast.walk(node):
        if isinstance(item, ast.ImportFrom):
            base = package
            for _ in range(max(item.level - 1, 0)):
                base = base.rpartition(".")[0]
            base = (f"{base}.{item.module}" if item.module else base) if item.level else item.module
            if base and base.startswith("mlopsbench"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in item.names if module_file(f"{base}.{a.name}").exists()}
        elif isinstance(item, ast.Import):
            found |= {a.name for a in item.names if a.name.startswith("mlopsbench")}
    return found


def _generated_imports(source: str) -> set[str]:
    """Modules that code this module writes (a compiled step, say) or a notebook imports."""
    return set(re.findall(r"(?:^|[\s\"'])from (mlopsbench[\w.]*) import", source))


def _closure(start: set[str], members: dict[str, list[str]]) -> set[Path]:
    """Every package file ``start`` imports; a registry brings the ``members`` named for it, or all."""
    seen, stack = set(), list(start)
    while stack:
        name = stack.pop()
        parts = name.split(".")
        stack += [".".join(parts[:i]) for i in range(1, len(parts))]  # parent packages run first
        if name in seen or not module_file(name).exists():
            continue
        seen.add(name)
        text = module_file(name).read_text()
        stack += _imports(name, ast.parse(text)) | _generated_imports(text)
        if "Registry(__name__, __path__" in text:  # a registry imports the entries it is asked for
            names = members.get(name) or [p.stem for p in module_file(name).parent.glob("*.py")
                                          if not p.stem.startswith("_")]
            stack += [f"{name}.{entry}" for entry in names]
    files = {module_file(name) for name in seen}
    for path in list(files):  # package data the modules read, beside them in their package
        files |= {path.parent / data for data in re.findall(r'joinpath\("([^"]+)"\)', path.read_text())}
    return files


def command_files(handler: str, notebooks: list[Path] = (), members: dict[str, list[str]] | None = None) -> set[Path]:
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    start = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            start |= _imports("mlopsbench.cli", stmt)
    todo, done = [handler, *PARSER_FUNCTIONS], set()
    while todo:  # the handler and the CLI helpers they call
        function = functions[todo.pop()]
        done.add(function.name)
        start |= _imports("mlopsbench.cli", function)
        todo += [n.func.id for n in ast.walk(function) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id in functions and n.func.id not in done]
    for notebook in notebooks:  # the steps run the notebook's cells, and their imports
        start |= _generated_imports(notebook.read_text())
    return _closure(start, members or {}) | {PACKAGE / "cli.py"}


def stage_files(repo: Path, deps: list[str]) -> set[Path]:
    """The package files a stage's deps cover (a directory covers everything below it)."""
    files = set()
    for dep in deps:
        path = repo / dep
        if str(dep).startswith("src/mlopsbench"):
            files |= {p for p in path.rglob("*") if p.is_file() and p.suffix in (".py", ".yaml")} if path.is_dir() \
                else {path}
    return {p.resolve() for p in files if "__pycache__" not in p.parts}


def selected_entries(stage_name: str) -> dict[str, list[str]]:
    """The one backend or setup a stage's command loads, by whether its stage runs on a cluster."""
    from mlopsbench.pipeline.backends import BACKENDS
    from mlopsbench.upload.setups import SETUPS

    on_cluster = "cluster" in stage_name
    if stage_name.endswith("_block"):  # a block on a cluster runs every backend, one elsewhere those here
        return {"mlopsbench.pipeline.backends": [n for n, b in BACKENDS.items() if on_cluster or not b.on_cluster]}
    if stage_name.endswith(("upload_cell", "serving_cell")):
        return {"mlopsbench.upload.setups": [n for n, s in SETUPS.items() if s.on_cluster == on_cluster]}
    return {}


def wanted_files(repo: Path, stage_name: str, stage: dict) -> set[Path]:
    subparsers = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    handler = subparsers.choices[stage["cmd"].split()[1]].get_default("func").__name__
    notebooks = [repo / "notebooks/intel54_pipeline.ipynb"] if "${pipeline.notebook}" in stage["deps"] else []
    return {p.resolve() for p in command_files(handler, notebooks, selected_entries(stage_name))}


def test_every_stage_depends_on_the_modules_its_command_imports(repo):
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    checked = 0
    for name, stage in stages.items():
        stage = stage.get("do", stage)
        command = stage["cmd"].split()[1]
        wanted = wanted_files(repo, name, stage)
        covered = stage_files(repo, stage["deps"])
        missing = sorted(str(p.relative_to(SRC)) for p in wanted - covered)
        extra = sorted(str(p.relative_to(SRC)) for p in covered - wanted)
        assert not missing and not extra, f"stage {name} (mlopsbench {command}): missing {missing}, extra {extra}"
        checked += 1
    assert checked == len(stages) >= 12


def test_stages_depend_on_the_data_they_read(repo):
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert "src/mlopsbench/results/thesis_reference.yaml" in stages["stats"]["deps"]
    assert "src/mlopsbench/results/thesis_reference.yaml" in stages["figures"]["deps"]
    assert "src/mlopsbench/results/thesis_reference.yaml" in stages["report"]["deps"]
    assert "report/report.md.j2" in stages["report"]["deps"]
    assert "${pipeline.notebook}" in stages["pipeline_block"]["do"]["deps"]
