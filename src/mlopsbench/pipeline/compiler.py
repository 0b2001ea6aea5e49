"""Compile a tagged notebook into one self-contained Python job per cell.

Like Kale, the compiler finds by static analysis which variables each step reads
and which an ancestor must hand it through the marshal directory. Unlike Kale, which
prepends the whole imports cell to every job (3-4 s per job in the thesis, Section
6.1.1), each job gets only the import statements and parameters it uses.

A step's input ``v`` comes from the *latest* ancestor that touches ``v``: assigns
it, stores into it (``v[k] = ...``) or calls a method on it, since a call such as
``model.fit`` can change a variable without assigning it.
"""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from pathlib import Path

from .notebook import Cell, Notebook, NotebookError, read_notebook

MARKER = "[MLB]"
# Every step's first lines: when it started, and which interpreter build runs it (its speed is
# part of every cell time, so backends compared must run the same one).
_PREAMBLE = (
    "import sys as _mlb_sys, time as _mlb_time",
    f'print("{MARKER} started {{:.6f}}".format(_mlb_time.time()), flush=True)',
    f'print("{MARKER} python " + " ".join(_mlb_sys.version.split()), flush=True)',
)
# The work is saved and the logs flushed: skip interpreter teardown, which costs
# TensorFlow about a second per process and is no part of the notebook.
_EXIT = "import os as _mlb_os, sys as _mlb_sys; _mlb_sys.stdout.flush(); _mlb_sys.stderr.flush(); _mlb_os._exit(0)"


class CompileError(NotebookError):
    pass


@dataclass(frozen=True)
class Step:
    name: str
    parents: tuple[str, ...]
    cpu: int
    source: str
    imports: tuple[str, ...]       # import statements, as source lines
    parameters: tuple[str, ...]    # parameter names the cell uses
    inputs: tuple[tuple[str, str], ...]  # (variable, producing step)
    outputs: tuple[str, ...]       # variables a descendant needs from this step


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds or mutates in place (x = .., x[k] = .., def x)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    names = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            base = node.value
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    # Comprehension variables live in their own scope.
    for node in ast.walk(stmt):
        if isinstance(node, ast.comprehension):
            names -= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
    return names


def _loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _method_receivers(node: ast.AST) -> set[str]:
    """Names whose methods are called (``v.fit(...)``): the call may change them."""
    return {n.func.value.id for n in ast.walk(node)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)}


def analyse(source: str) -> tuple[set[str], set[str], set[str]]:
    """(free reads, touched, every loaded name) of a cell, statement by statement."""
    reads, touched, loaded = set(), set(), set()
    for stmt in ast.parse(source).body:
        used = _loaded_names(stmt)
        loaded |= used
        reads |= used - touched
        touched |= _bound_names(stmt) | _method_receivers(stmt)
    return reads, touched, loaded


class Plan:
    """The compiled pipeline: steps in notebook order, with their DAG."""

    def __init__(self, notebook: Notebook):
        self.notebook = notebook
        self.path = notebook.path
        cells = {c.name: c for c in notebook.cells}
        self._check_graph(notebook.cells, cells)
        self.ancestors = {c.name: self._ancestors(c.name, cells) for c in notebook.cells}
        facts = {c.name: analyse(c.source) for c in notebook.cells}
        imports = {b: ast.unparse(stmt) for stmt in notebook.imports for b in _bound_names(stmt)}
        # Modules and parameters are given to every step; they never travel.
        touched = {name: f[1] - set(imports) - set(notebook.parameters) for name, f in facts.items()}
        defined = set().union(*touched.values())
        inputs = {name: self._inputs(cells[name], facts[name][0] & defined, touched) for name in cells}
        outputs: dict[str, set[str]] = {name: set() for name in cells}
        for pairs in inputs.values():
            for variable, producer in pairs:
                outputs[producer].add(variable)
        self.steps: dict[str, Step] = {}
        for cell in notebook.cells:
            loaded = facts[cell.name][2]
            self.steps[cell.name] = Step(
                name=cell.name, parents=cell.parents, cpu=cell.cpu, source=cell.source,
                imports=tuple(dict.fromkeys(imports[n] for n in sorted(loaded) if n in imports)),
                parameters=tuple(p for p in notebook.parameters if p in loaded),
                inputs=tuple(sorted(inputs[cell.name])), outputs=tuple(sorted(outputs[cell.name])),
            )

    def _check_graph(self, ordered: list[Cell], cells: dict[str, Cell]) -> None:
        seen = set()
        for cell in ordered:
            if cell.name in seen:
                raise CompileError(f"{self.path}: cell {cell.number}: step {cell.name!r} is defined twice")
            seen.add(cell.name)
            for parent in cell.parents:
                if parent not in cells:
                    raise CompileError(f"{self.path}: cell {cell.number}: prev:{parent} names no block")
        try:
            tuple(graphlib.TopologicalSorter({c.name: c.parents for c in ordered}).static_order())
        except graphlib.CycleError as exc:
            raise CompileError(f"{self.path}: the prev: tags form a cycle: {exc.args[1]}") from None

    @staticmethod
    def _ancestors(name: str, cells: dict[str, Cell]) -> frozenset[str]:
        found, stack = set(), list(cells[name].parents)
        while stack:
            parent = stack.pop()
            if parent not in found:
                found.add(parent)
                stack.extend(cells[parent].parents)
        return frozenset(found)

    def _inputs(self, cell: Cell, needed: set[str], touched: dict[str, set[str]]) -> set[tuple[str, str]]:
        pairs = set()
        for variable in needed:
            holders = {a for a in self.ancestors[cell.name] if variable in touched[a]}
            latest = {h for h in holders if not any(h in self.ancestors[o] for o in holders)}
            if len(latest) == 1:
                pairs.add((variable, latest.pop()))
            elif latest:
                raise CompileError(f"{self.path}: cell {cell.number}: step {cell.name!r} reads {variable!r}, "
                                   f"which parallel ancestors {sorted(latest)} both hold; order them with prev:")
            else:
                writers = sorted(n for n, names in touched.items() if variable in names and n != cell.name)
                if writers:
                    raise CompileError(f"{self.path}: cell {cell.number}: step {cell.name!r} reads {variable!r}, "
                                       f"which only {writers} define; add prev:{writers[0]}")
        return pairs

    def descendants(self, name: str) -> set[str]:
        return {s for s, ancestors in self.ancestors.items() if name in ancestors}

    def script(self, name: str, parameters: dict[str, object], marshal_dir: str = "marshal") -> str:
        """The job for one step: its imports, parameters, inputs, the cell, its outputs."""
        step = self.steps[name]
        lines = [
            f"# Step {name!r} of {self.path.name}, compiled by mlopsbench. Do not edit.",
            *_PREAMBLE,
            "from mlopsbench.pipeline.marshal import Marshal as _Marshal",
            *step.imports,
            f'print("{MARKER} imported {{:.6f}}".format(_mlb_time.time()), flush=True)',
            *(f"{p} = {self._value(p, parameters)!r}" for p in step.parameters),
            f"_marshal = _Marshal({marshal_dir!r})",
            *(f"{v} = _marshal.load({producer!r}, {v!r})" for v, producer in step.inputs),
            "",
            "import resource as _mlb_resource",
            "from mlopsbench.pipeline.calibration import busy_since as _mlb_busy_since, cpu_times as _mlb_cpu_times, "
            "queued_since as _mlb_queued_since, thread_waits as _mlb_thread_waits",
            "_mlb_usage = _mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF)",
            "_mlb_machine, _mlb_queued, _mlb_cpu = _mlb_cpu_times(), _mlb_thread_waits(), _mlb_time.process_time()",
            step.source.rstrip(),
            "",
            "_mlb_cpu, _mlb_machine = _mlb_time.process_time() - _mlb_cpu, _mlb_busy_since(_mlb_machine)",
            "_mlb_queued, _mlb_used = _mlb_queued_since(_mlb_queued), _mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF)",
            # The CPU its cells had (every thread's): beside the cell's wall time, how much of its
            # cores a step got; the seconds its threads waited for a CPU: whether a cell off its CPU
            # waited for one or was blocked; the machine's busy CPU over the same time, every
            # process's: what the rest of it took; the pages its cells waited to read back from disk
            # (the machine may evict page cache) and the blocks they read and wrote.
            f'print("{MARKER} cpu-seconds {{:.6f}}".format(_mlb_cpu), flush=True)',
            f'print("{MARKER} run-queue " + _mlb_queued, flush=True)',
            f'print("{MARKER} machine-cpu " + _mlb_machine, flush=True)',
            f'print("{MARKER} major-faults {{}}".format(_mlb_used.ru_majflt - _mlb_usage.ru_majflt), flush=True)',
            f'print("{MARKER} disk-blocks {{}} {{}}".format(_mlb_used.ru_inblock - _mlb_usage.ru_inblock, '
            '_mlb_used.ru_oublock - _mlb_usage.ru_oublock), flush=True)',
            *(f"_marshal.save({name!r}, {v!r}, {v})" for v in step.outputs),
            # The process's own peak memory: where no parent can wait4() for it (a pod).
            f'print("{MARKER} peak-rss {{}}".format(_mlb_resource.getrusage(_mlb_resource.RUSAGE_SELF).ru_maxrss), '
            'flush=True)',
            # What a CPU limit's quota cost it: its cgroup's throttling (a pod's container's is its own).
            "from mlopsbench.pipeline.cpu_stat import mark as _mlb_throttling",
            f'print("{MARKER} cpu-throttling " + _mlb_throttling(), flush=True)',
            f'print("{MARKER} finished {{:.6f}}".format(_mlb_time.time()), flush=True)',
            _EXIT,
        ]
        return "\n".join(lines) + "\n"

    def monolith(self, parameters: dict[str, object]) -> str:
        """The notebook as a data scientist runs it: all cells, in order, in one process."""
        lines = [
            f"# {self.path.name} as one process (Run All), compiled by mlopsbench. Do not edit.",
            *_PREAMBLE,
            *dict.fromkeys(ast.unparse(stmt) for stmt in self.notebook.imports),
            f'print("{MARKER} imported {{:.6f}}".format(_mlb_time.time()), flush=True)',
            *(f"{p} = {self._value(p, parameters)!r}" for p in self.notebook.parameters),
        ]
        for step in self.steps.values():
            lines += [f'print("{MARKER} cell-start {step.name} {{:.6f}}".format(_mlb_time.time()), flush=True)',
                      step.source.rstrip(),
                      f'print("{MARKER} cell-end {step.name} {{:.6f}}".format(_mlb_time.time()), flush=True)']
        lines += [f'print("{MARKER} finished {{:.6f}}".format(_mlb_time.time()), flush=True)', _EXIT]
        return "\n".join(lines) + "\n"

    def _value(self, name: str, overrides: dict[str, object]) -> object:
        return overrides.get(name, self.notebook.parameters[name])


def compile_notebook(path: str | Path) -> Plan:
    return Plan(read_notebook(path))
