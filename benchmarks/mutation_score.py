"""Mutation score of the core modules: how many single-point mutations their own tests catch.

Each mutant changes one thing in one module (a comparison, an arithmetic or boolean operator,
a constant, a negation, a statement dropped) in a copy of the repository, and runs that
module's own test files (benchmarks/mutation_targets.py) against it; a failing run kills the
mutant. Mutants are sampled with a fixed seed, so a run is repeatable; `--mutants N` bounds how
many per module.

    python -m benchmarks.mutation_score                      # 24 mutants per module
    python -m benchmarks.mutation_score --mutants 40 --module engine/constraints.py
    python -m benchmarks.mutation_score --list               # the mutation points only
    python -m benchmarks.mutation_score --module utils/deps.py --point 17 --point 40
    python -m benchmarks.mutation_score --module utils/timesteps --point reports.py#12
    python -m benchmarks.mutation_score --module engine/constraints.py --all   # every point

Each mutant runs only the tests that executed its statement in a traced run of the unmutated
module (benchmarks/mutation_coverage.py), in a forked child that imports again only the
mutated module and its importers (benchmarks/mutation_imports.py); `--no-select` runs the
whole test files instead, as a check that the selection changes no verdict.

Baseline, measured in the same run: the unmutated copy must pass every test file (else the
module is reported as not scored). A survivor listed in benchmarks/mutation_equivalents.py
(argued in docs/mutation-testing.md) is counted apart, printed as equivalent, and left out of
the score's denominator; every other survivor is printed as such.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import mutation_coverage as coverage
from benchmarks import mutation_imports as imports
from benchmarks.mutation_equivalents import Equivalent, equivalent_for
from benchmarks.mutation_points import ROOT, Mutant, _apply, _module_files, chosen, mutants_of
from benchmarks.mutation_targets import TARGETS

__all__ = ["ROOT", "TARGETS", "_apply", "chosen", "main", "mutants_of", "score"]

# API tests run on the embedded store only, in one process: a mutant is about the module,
# not the store.
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-n", "0", "-k", "not mongodb")


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
# Test modules are always imported again in a child: pytest would otherwise reuse them.
TEST_MODULES = ("tests.test_",)


def _warm(copy_root: Path) -> None:
    """Import the project, pytest and its plugins once (a collection of every target's test
    files): each test run is then a fork of this process that imports again only the mutated
    module, the modules that import it, and the test modules. Objects made so far are frozen
    out of the garbage collector, so the collections pytest runs between tests stay quick."""
    import contextlib
    import gc
    import io

    sys.path.insert(0, str(copy_root))
    import pytest

    import fast  # noqa: F401
    import tests.conftest  # noqa: F401

    files = sorted({t for tests in TARGETS.values() for t in _present(copy_root, tests)})
    here = os.getcwd()
    os.chdir(copy_root)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *files])
    finally:
        os.chdir(here)
    imports.forget(set(), also=TEST_MODULES)
    gc.collect()
    gc.freeze()


def _in_child(work: Callable[[], bool], timeout: float) -> bool:
    """Whether `work` returns True in a forked child (a timeout counts as False)."""
    child = os.fork()
    if child == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            os._exit(0 if work() else 1)
        except BaseException:
            os._exit(2)
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


def _present(copy_root: Path, tests: tuple[str, ...]) -> list[str]:
    return [t for t in tests if (copy_root / t).exists()]


def _run_tests(copy_root: Path, tests: list[str], timeout: float, fresh: set[str]) -> bool:
    """Whether the tests (files or node ids) pass in the copy, in a forked child that
    imports the modules `fresh` names again."""

    def work() -> bool:
        import pytest

        imports.forget(fresh, also=TEST_MODULES)
        os.chdir(copy_root)
        return pytest.main([*PYTEST_ARGS, *tests]) == 0

    return _in_child(work, timeout)


def _traced_baseline(
    copy_root: Path, target: str, tests: list[str], timeout: float, fresh: set[str]
) -> dict[str, dict[int, set[str]]] | None:
    """Run the unmutated module's tests once, tracing which test executes which of its lines;
    None when they do not pass (the module is then not scored)."""
    into = copy_root / ".mutation-trace.json"
    files = _module_files(target, copy_root)

    def work() -> bool:
        imports.forget(fresh, also=TEST_MODULES)
        return coverage.trace(copy_root, files, [*PYTEST_ARGS, *tests], into)[0]

    # Tracing slows a run down a few times; the timeout grows with it.
    if not _in_child(work, timeout * 4):
        return None
    return coverage.read_map(into)[1]


def _same_program(mutant: Mutant) -> Equivalent:
    """A mutation that writes back what was there (`return None` -> `return None`): the same
    program, equivalent without a test run."""
    return Equivalent(mutant.path, "", mutant.what, "", "", "the mutant is the unchanged program")


class _Selection:
    """The tests to run against each mutant: those that executed its statement in the traced
    baseline, or the module's whole test files when that cannot be told (code run at import
    time, no trace) or when the chosen tests fail even unmutated (they lean on a test left out)."""

    def __init__(
        self, copy_root: Path, tests: list[str], lines: dict | None, timeout: float, fresh: set[str]
    ):
        self.copy_root, self.tests, self.lines, self.timeout = copy_root, tests, lines, timeout
        self.fresh = fresh
        self._sound: dict[tuple[str, ...], bool] = {}

    def tests_for(self, mutant: Mutant) -> list[str]:
        if self.lines is None:
            return self.tests
        chosen = coverage.tests_for(self.lines.get(mutant.path, {}), mutant.span)
        if chosen is None:
            return self.tests
        return sorted(chosen)

    def confirm_kill(self, tests: list[str]) -> bool:
        """Whether a failing selection really shows a kill: it passes unmutated."""
        if tests == self.tests:
            return True
        key = tuple(tests)
        if key not in self._sound:
            self._sound[key] = _run_tests(self.copy_root, tests, self.timeout, self.fresh)
        return self._sound[key]


def score(
    target: str,
    limit: int,
    seed: int,
    timeout: float,
    copy_root: Path,
    points: list[str] | None = None,
    select: bool = True,
) -> dict:
    tests = _present(copy_root, TARGETS[target])
    everything = mutants_of(target, copy_root)
    fresh = imports.dependents(copy_root, _module_files(target, copy_root), PROJECT_PACKAGES)
    if points:
        sample = chosen(everything, points)
    elif limit <= 0:
        sample = everything
    else:
        sample = random.Random(f"{seed}:{target}").sample(everything, min(limit, len(everything)))
    if select:
        lines = _traced_baseline(copy_root, target, tests, timeout, fresh)
        passed = lines is not None
    else:
        lines, passed = None, _run_tests(copy_root, tests, timeout, fresh)
    if not passed:
        return {"target": target, "baseline": False, "points": len(everything)}
    selection = _Selection(copy_root, tests, lines, timeout, fresh)
    survivors, equivalents, unrun = [], [], 0
    for mutant in sorted(sample, key=lambda m: (m.path, m.index)):
        original = (copy_root / mutant.path).read_text()
        tree = ast.parse(original)
        mutated = ast.unparse(_apply(tree, mutant.index))
        unparsed = ast.unparse(tree)
        if mutated == unparsed:
            equivalents.append((mutant, _same_program(mutant)))
            continue
        chosen_tests = selection.tests_for(mutant)
        if chosen_tests:
            (copy_root / mutant.path).write_text(mutated)
            try:
                passed = _run_tests(copy_root, chosen_tests, timeout, fresh)
            finally:
                (copy_root / mutant.path).write_text(original)
            if not passed and not selection.confirm_kill(chosen_tests):
                (copy_root / mutant.path).write_text(mutated)
                try:
                    passed = _run_tests(copy_root, tests, timeout, fresh)
                finally:
                    (copy_root / mutant.path).write_text(original)
        else:
            passed, unrun = True, unrun + 1
        if passed:
            known = equivalent_for(mutant.path, mutant.what, unparsed, mutated)
            if known is None:
                survivors.append(mutant)
            else:
                equivalents.append((mutant, known))
    return {
        "target": target,
        "baseline": True,
        "points": len(everything),
        "tried": len(sample),
        "killed": len(sample) - len(survivors) - len(equivalents),
        "survivors": survivors,
        "equivalents": equivalents,
        "unexecuted": unrun,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=24, help="mutants per module (sampled)")
    parser.add_argument("--all", action="store_true", help="every mutation point, not a sample")
    parser.add_argument(
        "--no-select",
        action="store_true",
        help="run each mutant against the module's whole test files, not just the tests that "
        "execute its statement",
    )
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
            limit = 0 if args.all else args.mutants
            result = score(
                target,
                limit,
                args.seed,
                args.timeout,
                copy_root,
                args.point,
                select=not args.no_select,
            )
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
