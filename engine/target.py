"""The least spend reaching a target KPI, with spend bounds and group constraints.

minimize sum_i x_i  s.t.  sum_i w_i f_i(x_i) >= target, bounds, groups, sum_i x_i <= ceiling.

The best KPI at a total spend B, V(B) (the exact fixed-budget optimum, with groups when
given), is concave in B: the constraints are linear in (x, B) and the objective concave.
So {B : V(B) >= target} is an interval and its left end is the answer, found by a
bracketing regula falsi (Illinois) on V(B) - target between the least feasible spend and
the ceiling, to a relative 1e-12 in spend. The answer's spend reaches the target; any spend
below it by more than that tolerance cannot (no allocation of it does).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.allocator import solve_budget
from engine.errors import EngineError
from engine.groups import Groups, check_feasible, grouped_multiplier, solve_grouped
from engine.response import ResponseCurves

SPEND_TOLERANCE = 1e-12
MAX_STEPS = 200
FEASIBILITY_GRID = 257


def _feasible(groups: Groups, total: float, lower: np.ndarray, upper: np.ndarray) -> bool:
    try:
        check_feasible(groups, total, lower, upper)
    except EngineError:
        return False
    return True


def _boundary(test: Callable[[float], bool], inside: float, outside: float) -> float:
    """The last spend for which test holds, between a spend where it holds and one where not."""
    for _ in range(MAX_STEPS):
        if abs(outside - inside) <= SPEND_TOLERANCE * max(abs(inside), abs(outside), 1.0):
            break
        middle = 0.5 * (inside + outside)
        if test(middle):
            inside = middle
        else:
            outside = middle
    return inside


def feasible_spends(
    groups: Groups | None, ceiling: float, lower: np.ndarray, upper: np.ndarray
) -> tuple[float, float]:
    """The interval of total spends the bounds and groups allow, up to the ceiling."""
    least, most = float(lower.sum()), min(float(upper.sum()), ceiling)
    if least > most * (1 + 1e-12) + 1e-12:
        raise EngineError(
            f"minimum spends add up to {least:g}, above the budget {ceiling:g}"
            if least > ceiling
            else f"maximum spends add up to {most:g}, below the minimum spends {least:g}"
        )
    if groups is None:
        return least, max(most, least)
    candidates = np.linspace(least, max(most, least), FEASIBILITY_GRID)
    fits = [_feasible(groups, float(b), lower, upper) for b in candidates]
    if not any(fits):
        check_feasible(groups, most, lower, upper)  # raises, naming the groups
    first = int(np.argmax(fits))
    last = len(fits) - 1 - int(np.argmax(fits[::-1]))

    def test(total: float) -> bool:
        return _feasible(groups, total, lower, upper)

    low_end = float(candidates[first])
    if first > 0:
        low_end = _boundary(test, low_end, float(candidates[first - 1]))
    high_end = float(candidates[last])
    if last < len(fits) - 1:
        high_end = _boundary(test, high_end, float(candidates[last + 1]))
    return low_end, high_end


def least_spend(
    curves: ResponseCurves,
    target: float,
    ceiling: float,
    lower: np.ndarray,
    upper: np.ndarray,
    weights: np.ndarray,
    groups: Groups | None = None,
) -> tuple[np.ndarray, float | None]:
    """Spend per campaign: the least total whose best allocation reaches `target` KPI (the
    weighted response), and its multiplier (see `grouped_multiplier`). Raises EngineError,
    saying the most reachable, when none does."""
    low_end, high_end = feasible_spends(groups, ceiling, lower, upper)

    def solve(total: float) -> tuple[np.ndarray, float | None]:
        if groups is not None:
            spend, multipliers = solve_grouped(curves, total, lower, upper, weights, groups)
            return spend, grouped_multiplier(groups, multipliers)
        solution = solve_budget(curves, total, lower, upper, weights)
        return solution.spend, solution.multiplier

    def kpi(solution: tuple[np.ndarray, float | None]) -> float:
        return float(weights @ curves.true_response(solution[0]))

    best = solve(high_end)
    if kpi(best) < target:
        raise EngineError(
            f"target {target:g} cannot be reached: the most this mix reaches within the budget "
            f"and bounds is {kpi(best):.6g} (at spend {high_end:g})"
        )
    cheapest = solve(low_end)
    if kpi(cheapest) >= target:
        return cheapest
    below, above = low_end, high_end
    gap_below, gap_above = kpi(cheapest) - target, kpi(best) - target
    side = 0
    for _ in range(MAX_STEPS):
        if above - below <= SPEND_TOLERANCE * max(above, 1.0):
            break
        guess = above - gap_above * (above - below) / (gap_above - gap_below)
        if not below < guess < above:
            guess = 0.5 * (below + above)
        spend = solve(guess)
        gap = kpi(spend) - target
        if gap >= 0:
            above, gap_above, best = guess, gap, spend
            gap_below = gap_below / 2 if side == 1 else gap_below  # Illinois: no stalling
            side = 1
        else:
            below, gap_below = guess, gap
            gap_above = gap_above / 2 if side == -1 else gap_above
            side = -1
    return best
