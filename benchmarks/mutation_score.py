"""Mutation score of the core modules: how many single-point mutations their own tests catch.

Each mutant changes one thing in one module (a comparison, an arithmetic or boolean operator,
a constant, a negation, a statement dropped) in a copy of the repository, and runs that
module's own test files against it; a failing run kills the mutant. Mutants are sampled with
a fixed seed, so a run is repeatable; `--mutants N` bounds how many per module.

    python -m benchmarks.mutation_score                      # 12 mutants per module
    python -m benchmarks.mutation_score --mutants 40 --module engine/constraints.py
    python -m benchmarks.mutation_score --list               # the mutation points only
    python -m benchmarks.mutation_score --module utils/deps.py --point 17 --point 40
    python -m benchmarks.mutation_score --module utils/timesteps --point reports.py#12

Baseline, measured in the same run: the unmutated copy must pass every test file (else the
module is reported as not scored). A survivor listed in benchmarks/mutation_equivalents.py
(argued in docs/mutation-testing.md) is counted apart, printed as equivalent, and left out of
the score's denominator; every other survivor is printed as such.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.mutation_equivalents import Equivalent, equivalent_for

ROOT = Path(__file__).resolve().parent.parent

# Module (a file, or a package folder) -> its own test files.
TARGETS: dict[str, tuple[str, ...]] = {
    "engine/allocator.py": ("tests/test_allocator.py", "tests/test_allocator_edges.py"),
    "engine/constraints.py": ("tests/test_constraints.py", "tests/test_engine_framework.py"),
    "engine/framework.py": ("tests/test_engine_framework.py", "tests/test_framework_edges.py"),
    "engine/policies/curve.py": (
        "tests/test_curve_policy.py",
        "tests/test_engine_policies.py",
        "tests/test_curve_edges.py",
    ),
    "utils/timesteps": (
        "tests/test_timesteps.py",
        "tests/test_timestep_races.py",
        "tests/test_timestep_edges.py",
    ),
    "utils/deps.py": ("tests/test_isolation.py", "tests/test_deps.py"),
    "utils/security.py": ("tests/test_security.py",),
}
# API tests run on the embedded store only, in one process: a mutant is about the module,
# not the store.
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-n", "0", "-k", "not mongodb")

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
        for index, (_, what, line) in enumerate(_points(tree)):
            found.append(Mutant(path, index, line, what))
    return found


def _copy_repository(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


PROJECT_PACKAGES = ("engine", "utils", "models", "routers", "tests", "benchmarks", "fast")


def _project_module(name: str) -> bool:
    return name.split(".")[0] in PROJECT_PACKAGES or name in ("initialize", "conftest")


def _warm(copy_root: Path) -> None:
    """Import the project (and so every library it uses) once: each test run is then a fork
    of this process that imports only the project's own modules again, in well under the
    seconds a fresh interpreter spends importing numpy, scipy, FastAPI and pytest."""
    sys.path.insert(0, str(copy_root))
    import pytest  # noqa: F401

    import fast  # noqa: F401
    import tests.conftest  # noqa: F401

    for name in [name for name in sys.modules if _project_module(name)]:
        del sys.modules[name]


def _run_tests(copy_root: Path, tests: tuple[str, ...], timeout: float) -> bool:
    """Whether the tests pass in the copy (a timeout counts as a kill), in a forked child."""
    present = [t for t in tests if (copy_root / t).exists()]
    child = os.fork()
    if child == 0:
        os.chdir(copy_root)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        import pytest

        code = pytest.main([*PYTEST_ARGS, *present])
        os._exit(int(code))
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            return False
        time.sleep(0.05)


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


def _same_program(mutant: Mutant) -> Equivalent:
    """A mutation that writes back what was there (`return None` -> `return None`): the same
    program, equivalent without a test run."""
    return Equivalent(mutant.path, "", mutant.what, "", "", "the mutant is the unchanged program")


def score(
    target: str,
    limit: int,
    seed: int,
    timeout: float,
    copy_root: Path,
    points: list[str] | None = None,
) -> dict:
    tests = TARGETS[target]
    everything = mutants_of(target, copy_root)
    if points:
        sample = chosen(everything, points)
    else:
        sample = random.Random(f"{seed}:{target}").sample(everything, min(limit, len(everything)))
    if not _run_tests(copy_root, tests, timeout):
        return {"target": target, "baseline": False, "points": len(everything)}
    survivors, equivalents = [], []
    for mutant in sorted(sample, key=lambda m: (m.path, m.index)):
        original = (copy_root / mutant.path).read_text()
        tree = ast.parse(original)
        mutated = ast.unparse(_apply(tree, mutant.index))
        unparsed = ast.unparse(tree)
        if mutated == unparsed:
            equivalents.append((mutant, _same_program(mutant)))
            continue
        (copy_root / mutant.path).write_text(mutated)
        try:
            if _run_tests(copy_root, tests, timeout):
                known = equivalent_for(mutant.path, mutant.what, unparsed, mutated)
                if known is None:
                    survivors.append(mutant)
                else:
                    equivalents.append((mutant, known))
        finally:
            (copy_root / mutant.path).write_text(original)
    return {
        "target": target,
        "baseline": True,
        "points": len(everything),
        "tried": len(sample),
        "killed": len(sample) - len(survivors) - len(equivalents),
        "survivors": survivors,
        "equivalents": equivalents,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=12, help="mutants per module (sampled)")
    parser.add_argument("--module", action="append", choices=sorted(TARGETS), help="repeatable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per test run")
    parser.add_argument("--list", action="store_true", help="list mutation points and stop")
    parser.add_argument(
        "--point",
        action="append",
        metavar="[FILE#]INDEX",
        help="run just this mutation point, numbered as --list does (repeatable; one --module)",
    )
    args = parser.parse_args(argv)
    targets = args.module or list(TARGETS)
    if args.point:
        if len(targets) != 1 or not args.module:
            parser.error("--point needs exactly one --module")
        try:
            chosen(mutants_of(targets[0]), args.point)
        except ValueError as error:
            parser.error(str(error))
    if args.list:
        for target in targets:
            for mutant in mutants_of(target):
                print(f"{mutant.path}:{mutant.line}  #{mutant.index}  {mutant.what}")
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="oktopus-mutants-") as tmp:
        copy_root = Path(tmp)
        _copy_repository(copy_root)
        _warm(copy_root)
        for target in targets:
            started = time.perf_counter()
            result = score(target, args.mutants, args.seed, args.timeout, copy_root, args.point)
            result["seconds"] = time.perf_counter() - started
            rows.append(result)
            killed = f"{result.get('killed', '-')}/{result.get('tried', '-')}"
            print(f"{target}: {killed} killed", file=sys.stderr, flush=True)
    print(
        f"\n{'module':28} {'points':>6} {'tried':>5} {'equiv':>5} {'killed':>6} {'score':>6} "
        f"{'time':>7}"
    )
    for row in rows:
        if not row["baseline"]:
            print(f"{row['target']:28} {row['points']:>6}  baseline tests fail: not scored")
            continue
        scored = row["tried"] - len(row["equivalents"])
        rate = row["killed"] / scored if scored else 1.0
        print(
            f"{row['target']:28} {row['points']:>6} {row['tried']:>5} "
            f"{len(row['equivalents']):>5} {row['killed']:>6} {rate:>6.0%} {row['seconds']:>6.0f}s"
        )
    print("score = killed / (tried - equiv): equiv counts survivors that are documented")
    print("equivalent mutants (benchmarks/mutation_equivalents.py, docs/mutation-testing.md)")
    for row in rows:
        for mutant, known in row.get("equivalents", []):
            print(
                f"equivalent  {mutant.path}:{mutant.line}  #{mutant.index}  {mutant.what}: "
                f"{known.why}"
            )
        for mutant in row.get("survivors", []):
            print(f"survivor  {mutant.path}:{mutant.line}  #{mutant.index}  {mutant.what}")


if __name__ == "__main__":
    main()
