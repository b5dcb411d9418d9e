"""The mutation runner's shortcuts stay sound: each mutant runs the tests that execute its
statement, and a child imports again exactly the modules that can hold the mutated code."""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

from benchmarks import mutation_coverage as coverage
from benchmarks import mutation_imports as imports
from benchmarks.mutation_points import mutants_of


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_modules_to_import_again_are_the_mutated_one_and_its_importers(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    return 1\n",
            "pkg/b.py": "from pkg.a import f\n",
            "pkg/c.py": "from pkg import b\n",
            "pkg/d.py": "import os\n",
            "pkg/e.py": "def g():\n    from .a import f\n    return f()\n",
            "pkg/sub/__init__.py": "from ..d import os\n",
            "top.py": "import pkg.c\n",
            "elsewhere/x.py": "import pkg.a\n",
        },
    )
    found = imports.dependents(tmp_path, ["pkg/a.py"], ("pkg",))
    assert found == {"pkg.a", "pkg.b", "pkg.c", "pkg.e", "top"}
    assert imports.dependents(tmp_path, ["pkg/d.py"], ("pkg",)) == {"pkg.d", "pkg.sub"}


def test_a_forgotten_submodule_leaves_its_kept_package_too():
    package, child, kept = (
        types.ModuleType(n) for n in ("okt_pkg", "okt_pkg.child", "okt_pkg.kept")
    )
    package.child, package.kept = child, kept
    sys.modules.update({"okt_pkg": package, "okt_pkg.child": child, "okt_pkg.kept": kept})
    try:
        imports.forget({"okt_pkg.child"})
        assert "okt_pkg.child" not in sys.modules and not hasattr(package, "child")
        assert sys.modules["okt_pkg.kept"] is kept and package.kept is kept
        imports.forget(set(), also=("okt_pkg.k",))
        assert "okt_pkg.kept" not in sys.modules and not hasattr(package, "kept")
    finally:
        for name in ("okt_pkg", "okt_pkg.child", "okt_pkg.kept"):
            sys.modules.pop(name, None)


def test_a_mutant_spans_the_statement_around_it():
    tree = ast.parse("x = (1 +\n     2)\nif x > 5:\n    y = 3\n")
    spans = coverage.statement_spans(tree)
    constants = {n.value: spans[id(n)] for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert constants == {1: (1, 2), 2: (1, 2), 5: (3, 4), 3: (4, 4)}
    compare = next(n for n in ast.walk(tree) if isinstance(n, ast.Compare))
    assert spans[id(compare)] == (3, 4)
    security = mutants_of("utils/security.py")
    assert all(m.span[0] <= m.line <= m.span[1] for m in security)


def test_the_tests_for_a_span_are_those_that_ran_a_line_of_it():
    lines = {3: {"t::a"}, 4: {"t::b"}, 9: {coverage.IMPORT_TIME, "t::c"}}
    assert coverage.tests_for(lines, (3, 5)) == {"t::a", "t::b"}
    assert coverage.tests_for(lines, (5, 8)) == set()
    assert coverage.tests_for(lines, (8, 9)) is None


def test_the_trace_names_the_tests_that_ran_each_line(tmp_path, monkeypatch):
    _write(
        tmp_path,
        {
            "toy.py": "LIMIT = 2\n\n\ndef small(x):\n    if x < LIMIT:\n        return 'small'\n"
            "    return 'big'\n",
            "test_toy.py": "from toy import small\n\n\n"
            "def test_one():\n    assert small(1) == 'small'\n\n\n"
            "def test_nine():\n    assert small(9) == 'big'\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    # The run inside this test loads no installed plugin (they would warn about xdist).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    passed, lines = coverage.trace(
        tmp_path,
        ["toy.py"],
        ["-q", "-p", "no:cacheprovider", "test_toy.py"],
        tmp_path / "trace.json",
    )
    sys.modules.pop("toy", None)
    sys.modules.pop("test_toy", None)
    found = lines["toy.py"]
    assert passed
    assert found[1] == {coverage.IMPORT_TIME}
    assert found[5] == {"test_toy.py::test_one", "test_toy.py::test_nine"}
    assert found[6] == {"test_toy.py::test_one"}
    assert found[7] == {"test_toy.py::test_nine"}
