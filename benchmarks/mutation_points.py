"""Mutation points of a module: what the mutation benchmark may change, numbered in a fixed
order, and the program with one of them changed.

A point is a comparison or arithmetic or boolean operator (swapped for its counterpart), a
number or boolean constant (plus one, or negated), a `not` (dropped), an `if`/`while`
condition (negated), a returned value (None) or a statement (`pass`). Docstrings are left
alone.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks import mutation_coverage as coverage

ROOT = Path(__file__).resolve().parent.parent

_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.And: ast.Or,
    ast.Or: ast.And,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    path: str
    index: int  # the mutation point's rank in the module's walk
    line: int
    what: str
    # The lines of the statement around the point: the tests that execute one of them are
    # the tests that can see the mutant.
    span: tuple[int, int] = (0, 0)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0]))
    return found


@dataclass(frozen=True)
class _Operator:
    """An operator of `owner` (its `op`, or its `ops[place]` for a comparison). Operators are
    named by their expression: Python's parser shares one object per operator type."""

    owner: ast.AST
    place: int | None = None


def _points(tree: ast.AST) -> Iterator[tuple[ast.AST | _Operator, str, int]]:
    """Every mutation point of `tree`, what mutating it does and its line, in a fixed order."""
    skip = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for place, op in enumerate(node.ops):
                if type(op) in _SWAPS:
                    what = f"{type(op).__name__} -> {_SWAPS[type(op)].__name__}"
                    yield _Operator(node, place), what, line
        elif isinstance(node, ast.BinOp | ast.BoolOp | ast.AugAssign) and type(node.op) in _SWAPS:
            what = f"{type(node.op).__name__} -> {_SWAPS[type(node.op)].__name__}"
            yield _Operator(node), what, line
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str | bytes):
            if isinstance(node.value, bool):
                yield node, f"{node.value} -> {not node.value}", line
            elif isinstance(node.value, int | float):
                yield node, f"{node.value!r} -> {node.value + 1!r}", line
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not x -> x", line
        elif isinstance(node, ast.If | ast.While):
            yield node, "condition -> not condition", line
        elif isinstance(node, ast.Return) and node.value is not None:
            yield node, "return value -> return None", line
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Expr):
            yield node, "statement -> pass", line


def _apply(tree: ast.AST, index: int) -> ast.AST:
    """A copy of `tree` with its mutation point `index` mutated."""
    tree = copy.deepcopy(tree)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for rank, (node, _, _) in enumerate(_points(tree)):
        if rank != index:
            continue
        if isinstance(node, _Operator):
            owner = node.owner
            if node.place is None:
                owner.op = _SWAPS[type(owner.op)]()
            else:
                ops = list(owner.ops)
                ops[node.place] = _SWAPS[type(ops[node.place])]()
                owner.ops = ops
        elif isinstance(node, ast.Constant):
            node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
        elif isinstance(node, ast.UnaryOp):
            _replace(parents[id(node)], node, node.operand)
        elif isinstance(node, ast.If | ast.While):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        elif isinstance(node, ast.Return):
            node.value = ast.Constant(value=None)
        else:
            _replace(parents[id(node)], node, ast.Pass())
        return ast.fix_missing_locations(tree)
    raise IndexError(index)


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list) and any(item is old for item in value):
            setattr(parent, field, [new if item is old else item for item in value])
            return


def _module_files(target: str, root: Path) -> list[str]:
    path = root / target
    if path.is_dir():
        return sorted(str(p.relative_to(root)) for p in path.rglob("*.py"))
    # A module that became a package keeps its name without ".py".
    package = root / target.removesuffix(".py")
    if not path.exists() and package.is_dir():
        return _module_files(target.removesuffix(".py"), root)
    return [target]


def mutants_of(target: str, root: Path = ROOT) -> list[Mutant]:
    """The mutation points of `target` as its files are under `root` (the copy being
    mutated: the working tree may change while a run goes on)."""
    found = []
    for path in _module_files(target, root):
        tree = ast.parse((root / path).read_text())
        spans = coverage.statement_spans(tree)
        for index, (node, what, line) in enumerate(_points(tree)):
            owner = node.owner if isinstance(node, _Operator) else node
            found.append(Mutant(path, index, line, what, spans[id(owner)]))
    return found


def chosen(everything: list[Mutant], points: list[str]) -> list[Mutant]:
    """The mutants `points` name, each `INDEX` or `FILE#INDEX` as `--list` numbers them (the
    file by the end of its path, needed when the module is a package of several files)."""
    found = []
    for point in points:
        name, _, index = point.rpartition("#")
        if not index.isdigit():
            raise ValueError(f"--point {point!r}: expected INDEX or FILE#INDEX")
        matches = [
            m
            for m in everything
            if m.index == int(index) and (not name or m.path.endswith(name.lstrip("/")))
        ]
        if len({m.path for m in matches}) > 1:
            raise ValueError(f"--point {point!r}: several files have that point; use FILE#INDEX")
        if not matches:
            raise ValueError(f"--point {point!r}: no such mutation point")
        found.extend(m for m in matches if m not in found)
    return found
