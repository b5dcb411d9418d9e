"""Which tests execute which lines of a module: the mutation benchmark's test selection.

A mutant can change what a test sees only if the test executes the mutated code, so the
runner traces one unmutated run of a module's test files and then runs, for each mutant, just
the tests that executed the statement around it. Code that runs while the tests are being
imported (module constants, default arguments, decorators) is marked as run by every test.

The trace is `sys.settrace` (and `threading.settrace`, for the API's worker threads) on the
module's own files only: calls elsewhere return at once, so the traced run costs a few times
an ordinary one, paid once per module.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

# The tests that executed a line: node ids, and IMPORT_TIME for code run outside any test.
IMPORT_TIME = ""
LineMap = dict[str, dict[int, set[str]]]


class _Recorder:
    """A pytest plugin naming the test that is running (its setup and teardown included)."""

    def __init__(self, current: list[str]) -> None:
        self.current = current

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.current[0] = nodeid

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.current[0] = IMPORT_TIME


def _tracer(wanted: dict[str, str], current: list[str], hits: dict) -> Callable:
    def local(frame: FrameType, event: str, arg: object) -> Callable:
        if event == "line":
            hits[wanted[frame.f_code.co_filename]][frame.f_lineno].add(current[0])
        return local

    def start(frame: FrameType, event: str, arg: object) -> Callable | None:
        name = frame.f_code.co_filename
        if name not in wanted:
            return None
        hits[wanted[name]][frame.f_lineno].add(current[0])
        return local

    return start


def trace(
    copy_root: Path, files: Iterable[str], pytest_args: list[str], into: Path
) -> tuple[bool, LineMap]:
    """Run pytest with `pytest_args` in `copy_root` (in the current, already forked, process
    or not) tracing `files`; whether it passed, and each file's lines with their tests.

    Writes the map as JSON to `into` too, so a forked child can hand it to its parent."""
    import pytest

    os.chdir(copy_root)
    wanted: dict[str, str] = {}
    for name in files:
        for form in (str(copy_root / name), os.path.realpath(copy_root / name)):
            wanted[form] = name
    current = [IMPORT_TIME]
    hits: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    tracer = _tracer(wanted, current, hits)
    threading.settrace(tracer)
    sys.settrace(tracer)
    try:
        code = pytest.main(pytest_args, plugins=[_Recorder(current)])
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    found = {
        name: {line: sorted(tests) for line, tests in lines.items()} for name, lines in hits.items()
    }
    into.write_text(json.dumps({"passed": code == 0, "lines": found}))
    return code == 0, read_map(into)[1]


def read_map(path: Path) -> tuple[bool, LineMap]:
    """The result `trace` wrote to `path`."""
    data = json.loads(path.read_text())
    lines = {
        name: {int(line): set(tests) for line, tests in found.items()}
        for name, found in data["lines"].items()
    }
    return data["passed"], lines


def statement_spans(tree: ast.AST) -> dict[int, tuple[int, int]]:
    """For each node of `tree` (by id), the lines of the innermost statement holding it: the
    code a mutation of the node can change runs when some line of that statement runs."""
    spans: dict[int, tuple[int, int]] = {}

    def visit(node: ast.AST, span: tuple[int, int]) -> None:
        if isinstance(node, ast.stmt):
            first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            span = (first, node.end_lineno or node.lineno)
        spans[id(node)] = span
        for child in ast.iter_child_nodes(node):
            visit(child, span)

    visit(tree, (0, 0))
    return spans


def tests_for(lines: dict[int, set[str]], span: tuple[int, int]) -> set[str] | None:
    """The tests that executed any line of `span`: None when some ran at import time (every
    test may see that code), an empty set when no test executed it."""
    found: set[str] = set()
    for line in range(span[0], span[1] + 1):
        found |= lines.get(line, set())
    return None if IMPORT_TIME in found else found
