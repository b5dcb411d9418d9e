"""Exact budget allocation over concave response curves by the KKT conditions.

maximize sum_i w_i * f_i(x_i)  s.t.  sum_i x_i == budget,  lower <= x <= upper.

At the optimum every campaign sits where its weighted marginal equals one common
Lagrange multiplier lam, unless a bound stops it first:
x_i(lam) = clip(f_i'^-1(lam / w_i), lower_i, upper_i). The total spend along this path is
non-increasing in lam, so bisection on lam finds the budget; a last exact step spends the
remainder between the two bracketing multipliers, which also settles flat stretches of
marginal (piecewise-linear and envelope curves) with at most one campaign in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import EngineError
from engine.response import ResponseCurves

MAX_BISECTIONS = 200
RELATIVE_TOLERANCE = 1e-13
SMALLEST_POSITIVE = float(np.finfo(float).smallest_subnormal)


@dataclass(frozen=True)
class KKTSolution:
    """Spend per campaign and the Lagrange multiplier (common weighted marginal) it sits at."""

    spend: np.ndarray
    multiplier: float


def resolve_bounds(
    size: int, lower: np.ndarray | None, upper: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-campaign bounds as float arrays: lower defaults to 0, upper to infinity."""
    low = np.zeros(size) if lower is None else np.broadcast_to(np.asarray(lower, float), (size,))
    high = (
        np.full(size, np.inf)
        if upper is None
        else np.broadcast_to(np.asarray(upper, float), (size,))
    )
    if np.any(np.isnan(low)) or np.any(np.isnan(high)) or np.any(~np.isfinite(low)):
        raise EngineError("spend bounds must be numbers and lower bounds finite")
    if np.any(low < 0):
        raise EngineError("lower spend bounds must be >= 0")
    if np.any(low > high):
        bad = int(np.flatnonzero(low > high)[0])
        raise EngineError(
            f"the campaign at index {bad} (counting from 0): lower bound {low[bad]:g} exceeds "
            f"upper bound {high[bad]:g}"
        )
    return low.astype(float), high.astype(float)


def resolve_weights(size: int, weights: np.ndarray | None) -> np.ndarray:
    """Objective weight per campaign (value of one unit of response); defaults to 1."""
    if weights is None:
        return np.ones(size)
    array = np.broadcast_to(np.asarray(weights, dtype=float), (size,))
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise EngineError("campaign values must be finite numbers >= 0")
    return array


def kkt_path(
    curves: ResponseCurves, lower: np.ndarray, upper: np.ndarray, weights: np.ndarray
) -> Callable[[np.ndarray | float], np.ndarray]:
    """Spend as a function of the multiplier: each weighted marginal equals lam, within bounds.

    Takes a multiplier or an array of M multipliers (then answers shape (M, K)). Upper bounds
    must be finite: at lam <= 0 every campaign sits at its upper bound.
    """
    with np.errstate(divide="ignore"):
        inverse_weights = 1.0 / weights

    def spend(lam: np.ndarray | float) -> np.ndarray:
        targets = np.multiply.outer(lam, inverse_weights)
        inside = np.minimum(np.maximum(curves.inverse_marginal(targets), lower), upper)
        # At lam <= 0 even a flat curve is worth filling: the budget must go somewhere.
        return np.where(np.asarray(lam)[..., None] <= 0, upper, inside)

    return spend


def bracket_multiplier(
    curves: ResponseCurves,
    lower: np.ndarray,
    upper: np.ndarray,
    weights: np.ndarray,
    budget: float,
) -> tuple[float, float]:
    """Multipliers whose KKT spends add up to at least (first) and at most (second) the budget.

    Bounds must be finite and sum(lower) < budget <= sum(upper). The top multiplier is the
    largest weighted marginal a hair above the lower bounds, which stays finite even for
    curves with an infinite marginal at zero spend (Hill with n < 1).
    """
    step = 1e-6 * (budget - float(lower.sum())) / curves.size
    top = float(np.max(weights * curves.marginal(np.minimum(lower + step, upper))))
    top = top * (1.0 + 1e-9) + 1e-300
    bottom = float(np.min(weights * curves.marginal(upper)))
    bottom = bottom - abs(bottom) * 1e-9
    if bottom > 0 and not np.all(kkt_path(curves, lower, upper, weights)(bottom) >= upper):
        bottom = 0.0
    return min(bottom, top), top


def section_count(size: int) -> int:
    """Multipliers tried per round: many for few campaigns, where numpy's call overhead rules."""
    return int(np.clip(4096 // max(size, 1), 1, 31))


def solve_monotone_multiplier(
    total_at: Callable[[np.ndarray], np.ndarray],
    target: float,
    low: float,
    high: float,
    sections: int = 1,
) -> tuple[float, float]:
    """Bisection for lam in [low, high] where a non-increasing total crosses target.

    total_at maps an array of multipliers to their totals. Multipliers are >= 0 (a low end
    below 0 is read as 0), and spend depends on their relative size, so the steps are
    geometric. With sections > 1 each round tries that many multipliers at once (a vectorized
    bisection). Returns the final bracket (lam_low, lam_high) with total(lam_low) >= target
    >= total(lam_high).
    """
    slack = 1e-12 * abs(target)
    if low <= 0.0 < high:
        # The crossing may lie any number of orders of magnitude below high: split at the
        # smallest positive float first; below it, the crossing is 0 itself.
        if total_at(np.array([SMALLEST_POSITIVE]))[0] < target - slack:
            return 0.0, SMALLEST_POSITIVE
        low = SMALLEST_POSITIVE
    fractions = np.arange(1, sections + 1) / (sections + 1)
    for _ in range(MAX_BISECTIONS):
        if high <= low * (1.0 + RELATIVE_TOLERANCE):
            break
        ratio = high / low
        if np.isfinite(ratio):
            candidates = low * ratio**fractions
        else:  # a subnormal low end: the ratio overflows, its logs do not
            log_low = np.log(low)
            candidates = np.exp(log_low + (np.log(high) - log_low) * fractions)
        # Rounding slack: where the total is flat at the target, move to the top of the flat.
        above = np.asarray(total_at(candidates)) >= target - slack
        count = int(np.count_nonzero(above))
        if count:
            low = float(candidates[count - 1])
        if count < sections:
            high = float(candidates[count])
    return low, high


def fill_in_turn(spend: np.ndarray, room: np.ndarray, amount: float | np.ndarray) -> np.ndarray:
    """Add up to `amount` to spend, campaign by campaign (along the last axis), within each
    one's room; for a batch (D, K), `amount` has shape (D, 1)."""
    room = np.maximum(room, 0.0)
    return spend + np.clip(amount - (np.cumsum(room, axis=-1) - room), 0.0, room)


def spend_between(
    spend_low_lam: np.ndarray,
    spend_high_lam: np.ndarray,
    amount: float,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Spend `amount` exactly between two bracketing KKT points, filling campaigns in turn.

    The bisection's rounding slack can leave the low-multiplier point a hair short of the
    amount (at most 1e-12 of it); with `upper` given, that hair goes to campaigns with room.
    """
    spend = fill_in_turn(
        spend_high_lam, spend_low_lam - spend_high_lam, amount - float(spend_high_lam.sum())
    )
    shortfall = amount - float(spend.sum())
    if upper is not None and shortfall > 0:
        spend = fill_in_turn(spend, upper - spend, shortfall)
    return spend


def solve_budget(
    curves: ResponseCurves,
    budget: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    settle: bool = True,
) -> KKTSolution:
    """Exact maximizer of sum(weights * curves.response(x)) with sum(x) == budget and bounds,
    for concave curves; for envelopes of S-curves, see `_settle_straight_stretches` (left
    out with `settle=False`, for searches that solve many budgets and settle their answer)."""
    size = curves.size
    low, high = resolve_bounds(size, lower, upper)
    value = resolve_weights(size, weights)
    budget = float(budget)
    if not np.isfinite(budget) or budget < 0:
        raise EngineError("budget must be a finite number >= 0")
    slack = 1e-9 * max(budget, 1.0)
    if float(np.sum(low)) > budget + slack:
        raise EngineError(f"minimum spends add up to {np.sum(low):g}, above the budget {budget:g}")
    if float(np.sum(high)) < budget - slack:
        raise EngineError(f"maximum spends add up to {np.sum(high):g}, below the budget {budget:g}")
    # No campaign can take more than what the others' minimums leave, so every bound is finite.
    high = np.minimum(high, budget - float(np.sum(low)) + low)
    high = np.maximum(high, low)
    if budget <= float(low.sum()):
        return KKTSolution(spend=low.copy(), multiplier=float(np.max(value * curves.marginal(low))))
    solution = _solve_envelope(curves, budget, low, high, value)
    if not settle:
        return solution
    return _settle_straight_stretches(curves, solution, budget, low, high, value)


def _solve_envelope(
    curves: ResponseCurves, budget: float, low: np.ndarray, high: np.ndarray, value: np.ndarray
) -> KKTSolution:
    bottom, top = bracket_multiplier(curves, low, high, value, budget)
    path = kkt_path(curves, low, high, value)
    lam_low, lam_high = solve_monotone_multiplier(
        lambda lams: path(lams).sum(axis=-1), budget, bottom, top, section_count(curves.size)
    )
    more, less = path(lam_low), path(lam_high)
    if float(more.sum()) < budget * (1.0 - 1e-9):
        # A marginal flat at the multiplier (a straight stretch of an envelope, or of a mean
        # of envelopes) is level with it within rounding, so the path may stop anywhere on
        # it: the money the path misses belongs there, up to the end of each flat stretch.
        more = np.maximum(more, np.minimum(stretch_ends(curves, more), high))
    spend = spend_between(more, less, budget, high)
    return KKTSolution(spend=spend, multiplier=0.5 * (lam_low + lam_high))


def _settle_straight_stretches(
    curves: ResponseCurves,
    solution: KKTSolution,
    budget: float,
    low: np.ndarray,
    high: np.ndarray,
    value: np.ndarray,
) -> KKTSolution:
    """Curves that are not concave (S-shaped Hill) are allocated on their concave envelopes,
    whose optimum can leave campaigns partway up a straight stretch (the line from the origin
    to the tangent point), where the curve itself returns less. Campaigns sharing one
    stretch's slope split its money in turn, each up to the end of its stretch, so at most one
    is left partway; that one is tried at both ends of its stretch, the others solved again
    around it, and the best answer by the curves themselves kept; repeated (two solves a
    round) while a stretch is left and a change helps. A round that helps pins one more
    campaign at an end of its stretch, and a round on a pinned one cannot help, so the rounds
    end by themselves, at most one per campaign (a few in practice). The answer is never
    worse than the envelope's, but with several S-curves it is a good allocation, not a
    proven optimum (that problem is combinatorial)."""
    best = solution
    best_value = float(value @ curves.true_response(best.spend))
    while True:
        spend = best.spend
        turned = fill_stretches_in_turn(curves, spend, low, high)
        turned_value = float(value @ curves.true_response(turned))
        if turned_value > best_value:
            best, best_value = KKTSolution(turned, best.multiplier), turned_value
        inside = inside_stretches(curves, best.spend)
        if inside.size == 0:
            return best
        k = int(inside[0])
        stretch_end = min(float(stretch_ends(curves, best.spend)[k]), high[k])
        improved = None
        for end in (low[k], stretch_end):
            fixed_low, fixed_high = low.copy(), high.copy()
            fixed_low[k] = fixed_high[k] = end
            if fixed_low.sum() > budget or fixed_high.sum() < budget:
                continue
            candidate = _solve_envelope(curves, budget, fixed_low, fixed_high, value)
            worth = float(value @ curves.true_response(candidate.spend))
            if worth > best_value * (1 + 1e-12) + 1e-12:
                best, best_value, improved = candidate, worth, (fixed_low, fixed_high)
        if improved is None:
            return best
        low, high = improved


def fill_stretches_in_turn(
    curves: ResponseCurves, spend: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """`spend` with the money of the campaigns partway up straight stretches funded in turn,
    each up to its stretch's end (or upper bound): the same envelope response, since they
    share one slope at an envelope optimum, with at most one of them left partway."""
    inside = inside_stretches(curves, spend)
    if inside.size < 2:
        return spend
    ends = np.minimum(stretch_ends(curves, spend)[inside], high[inside])
    turned = spend.copy()
    turned[inside] = fill_in_turn(
        low[inside], ends - low[inside], float(spend[inside].sum() - low[inside].sum())
    )
    return turned


def inside_stretches(curves: ResponseCurves, spend: np.ndarray) -> np.ndarray:
    """Campaigns whose spend lies partway up a straight stretch of their envelope, where the
    envelope is above the curve itself."""
    envelope = curves.response(spend)
    with np.errstate(invalid="ignore"):  # infinite responses have no stretch: NaN, skipped
        gap = envelope - curves.true_response(spend)
        return np.flatnonzero(gap > 1e-9 * np.maximum(np.abs(envelope), 1.0))


def stretch_ends(curves: ResponseCurves, spend: np.ndarray) -> np.ndarray:
    """Where each campaign's straight stretch meets its curve: the first spend whose marginal
    falls below the stretch's slope."""
    return curves.inverse_marginal(curves.marginal(spend) * (1.0 - 1e-9))


def allocate_budget(
    curves: ResponseCurves,
    budget: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Exact maximizer of sum(curves.response(x)) s.t. sum(x) == budget, lower <= x <= upper
    for concave curves (S-curves: see `solve_budget`).

    KKT: bisection on the Lagrange multiplier (closed-form pieces for negative-exponential
    curves, see engine.negexp_allocator). Returns spend per campaign, shape (K,).
    Raises EngineError when the bounds cannot meet the budget.
    """
    return solve_budget(curves, budget, lower, upper).spend
