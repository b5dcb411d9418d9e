"""How far a mutant of engine/allocator.py or engine/negexp_allocator.py moves the answers: the
measurement behind an "equal up to rounding" entry in benchmarks/mutation_equivalents.py.

Each point (numbered as `python -m benchmarks.mutation_score --list` numbers them) is applied
with the mutation runner's own functions to a fresh copy of the module (a mutant of the
allocator reaches the blend solver through the names that one imports from it), and the mutant
and the original solve the same random problems: blend batches (`allocate_negexp_blend`: every
blend from concave to the full square, zero amplitudes, equal bounds, minimums past the tangent
points, caps far up the tails, budgets at the floors, at the caps, a hair inside either, and
inside a stretch's jump) and Hill problems (`solve_budget` with settling, minimums and caps).
Printed per point: the largest spend difference as a fraction of the budget, and how many
problems raised, gave a non-finite spend, or did not end within a second.

    python -m benchmarks.mutation_measure --module engine/negexp_allocator.py --point 254
"""

from __future__ import annotations

import argparse
import ast
import signal
import sys
import types
from collections.abc import Callable, Iterator

import numpy as np

from benchmarks.mutation_points import ROOT, _apply, mutants_of
from engine import allocator, negexp_allocator
from engine.response import HillCurves

TARGETS = ("engine/allocator.py", "engine/negexp_allocator.py")
SHARED = ("MAX_BISECTIONS", "fill_in_turn")  # what the blend solver imports from the allocator
Problem = tuple[str, tuple]


def _module(path: str, index: int | None, name: str) -> types.ModuleType:
    """The module at `path`, with mutation point `index` applied unless None, as a new module."""
    tree = ast.parse((ROOT / path).read_text())
    module = types.ModuleType(name)
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    source = ast.unparse(tree if index is None else _apply(tree, index))
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def mutant_module(index: int, target: str = TARGETS[0]) -> types.SimpleNamespace:
    """The two solvers measured, `solve_budget` and `allocate_negexp_blend`, with mutation
    point `index` of `target` applied."""
    if target == TARGETS[1]:
        blend = _module(target, index, f"engine._negexp_allocator_mutant_{index}")
        return types.SimpleNamespace(
            solve_budget=allocator.solve_budget, allocate_negexp_blend=blend.allocate_negexp_blend
        )
    mutant = _module(target, index, f"engine._allocator_mutant_{index}")
    blend = _module(TARGETS[1], None, f"engine._negexp_allocator_over_{index}")
    blend.__dict__.update({name: getattr(mutant, name) for name in SHARED})
    return types.SimpleNamespace(
        solve_budget=mutant.solve_budget, allocate_negexp_blend=blend.allocate_negexp_blend
    )


def _blend_spend(alpha, mu, blend, nu: float) -> np.ndarray:
    """Each S-curve's envelope spend at log-multiplier nu, unbounded (closed form)."""
    tangent = np.array([negexp_allocator.blend_tangent(float(w)) for w in blend])
    tangent_z = np.exp(-tangent)
    start = alpha * mu
    line = np.log(start * tangent_z * (1 + blend - 2 * blend * tangent_z))
    level = np.exp(nu) / start
    root = np.sqrt(np.maximum((1 + blend) ** 2 - 8 * blend * level, 0.0)) + 1 + blend
    spend = -np.log(2 * level / root) / mu
    return np.where(nu < line, spend, 0.0)


def blend_problems(rng: np.random.Generator) -> Iterator[Problem]:
    """Random blend batches, one draw in three with its budget inside a stretch's jump."""
    while True:
        draws, size = int(rng.integers(1, 4)), int(rng.integers(1, 6))
        shape = (draws, size)
        alpha = 10 ** rng.uniform(-1, 4, shape) * (rng.random(shape) > 0.1)
        mu = 10 ** rng.uniform(-3, 0, shape)
        if rng.random() < 0.1:
            mu = mu * 10.0 ** rng.choice([-200, -50, 50, 200])
        blend = rng.choice([0.0, 0.2, 1 / 3, 0.5, 0.7, 1.0, rng.random()], shape)
        scale = float(np.mean(1 / mu))
        lower = np.where(rng.random(size) < 0.4, rng.uniform(0, 3, size) * scale, 0.0)
        upper = lower + np.where(rng.random(size) < 0.1, 0.0, rng.uniform(0.1, 4, size) * scale)
        if rng.random() < 0.2:
            upper = upper + 800.0 * scale * (rng.random(size) < 0.5)
        floor, cap = float(lower.sum()), float(upper.sum())
        kind = rng.random()
        if kind < 0.1:
            budget = floor
        elif kind < 0.2:
            budget = cap
        elif kind < 0.3:  # just under the caps, or just over the floors
            near = 10 ** rng.uniform(-6, -1) * (cap - floor)
            budget = cap - near if rng.random() < 0.5 else floor + near
        elif kind < 0.6 and draws == 1:
            k = int(rng.integers(size))
            w = float(blend[0, k])
            touch = negexp_allocator.blend_tangent(w)
            if touch == 0.0 or not alpha[0, k]:
                continue
            z = np.exp(-touch)
            nu = float(np.log(alpha[0, k] * mu[0, k] * z * (1 + w - 2 * w * z)))
            others = np.clip(_blend_spend(alpha[0], mu[0], blend[0], nu), lower, upper)
            jump = float(np.clip(touch / mu[0, k], lower[k], upper[k]))
            budget = float(others.sum() - others[k] + lower[k] + rng.random() * (jump - lower[k]))
            budget = min(max(budget, floor), cap)
        else:
            budget = floor + rng.random() * (cap - floor)
        yield "blend", (alpha, mu, blend, budget, lower, upper)


def hill_problems(rng: np.random.Generator) -> Iterator[Problem]:
    """Random Hill problems of 2 to 6 curves, S-shaped or not, with minimums and caps."""
    while True:
        size = int(rng.integers(2, 7))
        vmax = 10 ** rng.uniform(1, 4, size)
        k = 10 ** rng.uniform(1, 3, size)
        n = rng.uniform(0.6, 5, size)
        lower = np.where(rng.random(size) < 0.3, rng.uniform(0, 1, size) * k, 0.0)
        upper = np.where(rng.random(size) < 0.3, lower + rng.uniform(0.1, 3, size) * k, np.inf)
        budget = float(lower.sum() + rng.uniform(0.05, 3) * k.mean())
        if np.isfinite(upper).all():
            budget = min(budget, float(upper.sum()))
        yield "hill", (vmax, k, n, budget, lower, upper)


GENERATORS = {"blend": blend_problems, "hill": hill_problems}
KINDS = tuple(GENERATORS)


def _solve(module: types.SimpleNamespace, problem: Problem) -> tuple[np.ndarray, float]:
    kind, args = problem
    if kind == "blend":
        return module.allocate_negexp_blend(*args), args[3]
    vmax, k, n, budget, lower, upper = args
    spend = module.solve_budget(HillCurves(vmax, k, n), budget, lower, upper).spend
    return spend, budget


class _Stalled(Exception):
    pass


def _timed(call: Callable[[], tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
    def stop(*_: object) -> None:
        raise _Stalled

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)


def measure(
    index: int, problems: int, seed: int, kinds: tuple[str, ...] = KINDS, target: str = TARGETS[0]
) -> dict:
    """Largest spend difference (fraction of the budget) between the mutant and the original
    over `problems` random problems of each kind, and the problem where it was largest."""
    mutant = mutant_module(index, target)
    original = types.SimpleNamespace(
        solve_budget=allocator.solve_budget,
        allocate_negexp_blend=negexp_allocator.allocate_negexp_blend,
    )
    worst, where, failures = 0.0, None, {"raised": 0, "non-finite": 0, "stalled": 0}
    for kind in kinds:
        source = GENERATORS[kind](np.random.default_rng(seed))
        for _ in range(problems):
            problem = next(source)
            expected, budget = _solve(original, problem)
            try:
                got, _ = _timed(lambda problem=problem: _solve(mutant, problem))
            except _Stalled:
                failures["stalled"] += 1
                continue
            except Exception:
                failures["raised"] += 1
                continue
            if not np.all(np.isfinite(got)):
                failures["non-finite"] += 1
                continue
            gap = float(np.max(np.abs(got - expected), initial=0.0)) / max(budget, 1e-300)
            if gap > worst:
                worst, where = gap, problem
    return {"index": index, "worst": worst, "where": where, **failures}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", choices=TARGETS, default=TARGETS[0])
    parser.add_argument("--point", type=int, action="append", required=True)
    parser.add_argument("--problems", type=int, default=3000, help="problems of each kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", choices=KINDS, action="append", help="default: every kind")
    parser.add_argument("--show", action="store_true", help="print the worst problem too")
    args = parser.parse_args(argv)
    lines = {m.index: m for m in mutants_of(args.module)}
    print(f"{'point':>5} {'line':>5}  {'mutation':18} {'max diff':>9} raised non-finite stalled")
    for index in args.point:
        row = measure(index, args.problems, args.seed, tuple(args.kind or KINDS), args.module)
        mutant = lines[index]
        print(
            f"{index:>5} {mutant.line:>5}  {mutant.what:18} {row['worst']:>9.2e} "
            f"{row['raised']:>6} {row['non-finite']:>10} {row['stalled']:>7}",
            flush=True,
        )
        if args.show and row["where"] is not None:
            print(f"      worst: {row['where']!r}")


if __name__ == "__main__":
    main()
