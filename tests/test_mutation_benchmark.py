"""The mutation benchmark's list of equivalent mutants stays true to the code it describes."""

from __future__ import annotations

import ast

import pytest

from benchmarks.mutation_equivalents import EQUIVALENTS, equivalent_for, scope_at
from benchmarks.mutation_score import ROOT, _apply, chosen, main, mutants_of


def test_each_documented_equivalent_is_exactly_one_mutation_point_of_its_module():
    matched = {entry: 0 for entry in EQUIVALENTS}
    for path in sorted({entry.path for entry in EQUIVALENTS}):
        tree = ast.parse((ROOT / path).read_text())
        original = ast.unparse(tree)
        kinds = {(entry.scope, entry.what) for entry in EQUIVALENTS if entry.path == path}
        scopes: dict[int, str] = {}
        for mutant in mutants_of(path):
            if mutant.line not in scopes:
                scopes[mutant.line] = scope_at(tree, mutant.line)
            if (scopes[mutant.line], mutant.what) not in kinds:
                continue
            mutated = ast.unparse(_apply(tree, mutant.index))
            found = equivalent_for(path, mutant.what, original, mutated)
            if found is not None:
                matched[found] += 1
    assert [(entry.path, entry.scope, entry.what, count) for entry, count in matched.items()] == [
        (entry.path, entry.scope, entry.what, 1) for entry in EQUIVALENTS
    ]


def test_a_mutant_elsewhere_is_not_taken_for_a_documented_equivalent():
    source = "def solve_budget():\n    high = np.maximum(high, low)\n    return high\n"
    other = source.replace("solve_budget", "another")
    dropped = "def {}():\n    pass\n    return high\n"
    path, what = "engine/allocator.py", "statement -> pass"
    mutated = dropped.format("solve_budget")
    assert equivalent_for(path, what, source, mutated) is not None
    assert equivalent_for(path, what, other, dropped.format("another")) is None
    assert equivalent_for(path, "1 -> 2", source, mutated) is None
    assert equivalent_for("engine/constraints.py", what, source, mutated) is None


def test_each_operator_mutation_changes_its_own_expression():
    # Python's parser shares one object per operator type: the two `*` are one object.
    tree = ast.parse("x = a * b + c * d\ny = p < q < r\n")
    original = ast.unparse(tree)
    mutated = set()
    index = 0
    while True:
        try:
            mutated.add(ast.unparse(_apply(tree, index)))
        except IndexError:
            break
        index += 1
    assert original not in mutated
    assert len(mutated) == index
    assert "x = a / b + c * d\ny = p < q < r" in mutated
    assert "x = a * b + c / d\ny = p < q < r" in mutated
    assert "x = a * b + c * d\ny = p < q <= r" in mutated


def test_a_point_names_the_mutation_points_list_numbers():
    points = mutants_of("utils/timesteps")
    listed = [m for m in points if m.path == "utils/timesteps/reports.py" and m.index == 3]
    assert chosen(points, ["reports.py#3"]) == listed
    assert chosen(points, ["utils/timesteps/reports.py#3", "reports.py#3"]) == listed
    single = mutants_of("utils/security.py")
    assert chosen(single, ["5", "2"]) == [single[5], single[2]]
    for wrong in ("3", "reports.py#9999", "reports.py#x"):
        with pytest.raises(ValueError):
            chosen(points, [wrong])


def test_the_runner_refuses_points_without_exactly_one_module():
    with pytest.raises(SystemExit):
        main(["--point", "1"])
    with pytest.raises(SystemExit):
        main(["--point", "1", "--module", "utils/deps.py", "--module", "utils/security.py"])
    with pytest.raises(SystemExit):
        main(["--point", "utils/deps.py#99999", "--module", "utils/deps.py"])
