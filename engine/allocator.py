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
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from engine.errors import EngineError
from engine.response import ResponseCurves

MAX_BISECTIONS = 200
RELATIVE_TOLERANCE = 1e-13
LOG_TWO = float(np.log(2.0))
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


def _fill_in_turn(spend: np.ndarray, room: np.ndarray, amount: float | np.ndarray) -> np.ndarray:
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
    spend = _fill_in_turn(
        spend_high_lam, spend_low_lam - spend_high_lam, amount - float(spend_high_lam.sum())
    )
    shortfall = amount - float(spend.sum())
    if upper is not None and shortfall > 0:
        spend = _fill_in_turn(spend, upper - spend, shortfall)
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
    turned[inside] = _fill_in_turn(
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


def allocate_negexp(
    alpha: np.ndarray, mu: np.ndarray, budget: float, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Exact allocations over negative-exponential curves, for a batch of D problems at once.

    alpha and mu have shape (D, K) (D draws of K curves), bounds shape (K,) with
    sum(lower) <= budget <= sum(upper) and finite upper bounds. In nu = log(multiplier) each
    spend clip((log(alpha * mu) - nu) / mu, lower, upper) is piecewise linear, so the total is
    too: evaluating it at the 2K breakpoints brackets the budget, and the root is read off the
    linear piece between them. No iteration: what the Thompson-sampling policy solves each
    timestep, several times, for a few tens of microseconds.
    """
    alpha, mu = np.atleast_2d(alpha), np.atleast_2d(mu)
    with np.errstate(divide="ignore"):
        log_start = np.log(alpha * mu)  # (D, K); -inf where alpha == 0
    # Where each campaign leaves its upper bound (below) and reaches its lower one (above).
    breaks = np.concatenate([log_start - mu * upper, log_start - mu * lower], axis=1)
    finite = np.isfinite(breaks)
    floor_nu = np.where(finite, breaks, np.inf).min(axis=1, keepdims=True)
    breaks = np.where(finite, breaks, np.where(np.isfinite(floor_nu), floor_nu, 0.0))  # (D, 2K)

    def spend_at(nu: np.ndarray) -> np.ndarray:
        return np.clip((log_start[:, None, :] - nu[:, :, None]) / mu[:, None, :], lower, upper)

    totals = spend_at(breaks).sum(axis=2)  # (D, 2K), non-increasing in nu
    enough = totals >= budget
    nu_low = np.where(enough, breaks, -np.inf).max(axis=1)
    total_low = np.where(breaks == nu_low[:, None], totals, -np.inf).max(axis=1)
    nu_high = np.where(~enough, breaks, np.inf).min(axis=1)
    total_high = np.where(breaks == nu_high[:, None], totals, np.inf).min(axis=1)
    gap = total_low - total_high
    with np.errstate(invalid="ignore", divide="ignore"):
        nu = nu_low + (total_low - budget) / gap * (nu_high - nu_low)
    nu = np.where(np.isfinite(nu), nu, np.where(np.isfinite(nu_low), nu_low, nu_high))
    spend = spend_at(nu[:, None])[:, 0, :]
    # Flat curves (alpha == 0) take what the others cannot: the budget is always spent.
    return _fill_in_turn(spend, upper - spend, budget - spend.sum(axis=1, keepdims=True))


@lru_cache(maxsize=64)
def blend_tangent(blend: float) -> float:
    """u = mu * x where the line from the origin touches the blended curve (0 if concave).

    The curve (1 - z)(1 - w z), z = exp(-u), is concave for w <= 1/3 and S-shaped above.
    """
    if blend <= 1.0 / 3.0:
        return 0.0

    def gap(u: float) -> float:
        z = np.exp(-u)
        return (1 - z) * (1 - blend * z) - u * z * (1 + blend - 2 * blend * z)

    return float(brentq(gap, 1e-6, 50.0))


def _blend_tangents(blend: np.ndarray) -> np.ndarray:
    """`blend_tangent` of every entry, solved once per distinct blend (a batch holds a few)."""
    tangent = np.zeros(blend.shape)
    for value in np.unique(blend).tolist():
        touch = blend_tangent(value)
        if touch:
            tangent[blend == value] = touch
    return tangent


@np.errstate(divide="ignore", invalid="ignore", over="ignore")
def allocate_negexp_blend(
    alpha: np.ndarray,
    mu: np.ndarray,
    blend: np.ndarray,
    budget: float,
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray:
    """Exact allocations over a batch of D draws of K curves, concave or S-shaped.

    Curve (d, k) is alpha * (1 - z) * (1 - w * z) with z = exp(-mu * x) and w = blend[d, k]
    in [0, 1]: plain negexp at w = 0, its square at w = 1, S-shaped for w > 1/3 and then
    optimized through its concave envelope (the line from the origin to the tangent point,
    then the curve). Its marginal alpha * mu * z * (1 + w - 2 w z) is quadratic in z, so each
    spend inverts in closed form at a log-multiplier nu, and so does its derivative in nu.
    The total spend is smooth in nu between 3K breakpoints per draw (where a campaign meets a
    bound, or its envelope's flat stretch is crossed): a 4-ary search over the sorted
    breakpoints finds the piece holding the budget, and safeguarded Newton steps its root,
    all draws at once. A root at a flat stretch (at most one S-curve partly up its line) is
    settled by spending the budget campaign by campaign between the stretch's two ends.
    Shapes and bounds as in `allocate_negexp` (finite upper bounds); answers (D, K).

    Called every timestep by the curve policy, so it is written for numpy's per-call
    overhead: one error state for the whole solve (the decorator), constants of the path
    computed once, and the M multipliers of a path evaluation laid out in front of the (D, K)
    draws so that every operation runs over D * K contiguous numbers.
    """
    alpha, mu = np.atleast_2d(alpha), np.atleast_2d(mu)
    blend = np.broadcast_to(np.asarray(blend, dtype=float), alpha.shape)
    draws = alpha.shape[0]
    tangent = _blend_tangents(blend)
    tangent_z = np.exp(-tangent)
    start = alpha * mu
    peak = 1.0 + blend
    twice_blend = 2.0 * blend
    log_line = np.log(start * tangent_z * (peak - twice_blend * tangent_z))
    log_start = np.log(start)

    peak_squared = peak * peak
    eight_blend = 8.0 * blend
    four_blend = 4.0 * blend
    minus_mu = -mu
    # Bounds as full (D, K) arrays, so that they broadcast over M without strides of 0 inside.
    lowest_spend = np.array(np.broadcast_to(lower, alpha.shape), dtype=float)
    highest_spend = np.array(np.broadcast_to(upper, alpha.shape), dtype=float)

    def log_marginal(x: np.ndarray) -> np.ndarray:
        """The log of the marginal at spend x past the tangent point, term by term: far up a
        curve (mu * x past ~708) z = exp(-mu * x) is subnormal or 0, its log is not."""
        log_z = minus_mu * x
        return log_start + log_z + np.log(peak - twice_blend * np.exp(log_z))

    def path(
        nu: np.ndarray, left_row: int | None = None, with_slope: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Spends (M, D, K) at log-multipliers nu (M, D), and with `with_slope` their
        derivatives in nu; in row `left_row`, the limit from below: a flat stretch just
        crossed is still spent."""
        nu = nu[:, :, None]
        log_level = np.subtract(nu, log_start)
        level = np.exp(log_level)
        root = np.multiply(eight_blend, level)
        np.subtract(peak_squared, root, out=root)
        np.maximum(root, 0.0, out=root)
        np.sqrt(root, out=root)
        root += peak
        # z = 2 * level / root, by its logs: far up a curve z is subnormal or 0, its log is not.
        raw = np.log(root)
        np.subtract(log_level, raw, out=raw)
        raw += LOG_TWO
        raw /= minus_mu
        on_curve = np.less(nu, log_line)
        if left_row is not None:
            on_curve[left_row] = nu[left_row] <= log_line
        np.copyto(raw, 0.0, where=~on_curve)
        spend = np.maximum(raw, lowest_spend)
        np.minimum(spend, highest_spend, out=spend)
        if not with_slope:
            return spend, None
        # d spend / d nu = level / (z * (4 w z - peak) * mu), with level / z = root / 2: no
        # product of a tiny z and a tiny mu that underflows to 0.
        z = 2.0 * level / root
        slope = 0.5 * root / ((four_blend * z - peak) * mu)
        free = on_curve & (raw > lowest_spend) & (raw < highest_spend)
        return spend, np.where(free, slope, 0.0)

    # Breakpoints: the flat stretch's end, and where the curve meets each bound beyond it.
    beyond = tangent / mu
    breaks = np.concatenate(
        [
            log_line,
            np.where(lower > beyond, log_marginal(lower), log_line),
            np.where(upper > beyond, log_marginal(upper), log_line),
        ],
        axis=1,
    )
    finite = np.isfinite(breaks)
    lowest = np.where(finite, breaks, np.inf).min(axis=1, keepdims=True)
    # A flat curve's breakpoints (log 0) sit at the draw's lowest; a draw of flat curves only
    # has none, and every multiplier leaves its curves at their minimums.
    breaks = np.sort(np.where(finite, breaks, lowest), axis=1)
    count = breaks.shape[1]
    draw_index = np.arange(draws)
    slack = 1e-12 * budget
    # The largest breakpoint (index `low`, -1 = none) whose total still reaches the budget,
    # by a 4-ary search: three breakpoints (rows of `probes`) a round.
    low, high = np.full(draws, -1), np.full(draws, count)
    quarters = np.arange(1, 4)[:, None]
    while True:
        open_ = high - low > 1
        if not open_.any():
            break
        probes = low + ((high - low) * quarters) // 4  # (3, D)
        probes = np.minimum(np.maximum(probes, low + 1), high - 1)
        nu_probe = breaks[draw_index, np.maximum(probes, 0)]  # probes < high <= count
        reaches = path(nu_probe)[0].sum(axis=2) >= budget - slack
        low = np.where(open_ & reaches, probes, low).max(axis=0)
        high = np.where(open_ & ~reaches, probes, high).min(axis=0)
    nu_low = breaks[draw_index, np.maximum(low, 0)]
    nu_high = breaks[draw_index, np.minimum(high, count - 1)]
    ends, _ = path(np.stack([nu_low, nu_high, nu_high]), left_row=1)
    total_low, total_high = ends[:2].sum(axis=2)
    below_high, at_high = ends[1], ends[2]
    # The budget is met at a flat stretch (or a bound) at nu_high, or inside (nu_low, nu_high);
    # or no breakpoint reaches it (low = -1): every curve takes what it can below the lowest
    # one, up its stretches too, and flat curves take the rest below.
    at_step = (high == count) | (low < 0) | (total_high >= budget - slack)
    if at_step.all():
        spend = at_high
    else:
        share = (total_low - budget) / (total_low - total_high)
        nu = np.where(np.isfinite(share), nu_low + share * (nu_high - nu_low), nu_low)
        bottom, top = nu_low.copy(), nu_high.copy()
        for _ in range(MAX_BISECTIONS):
            spend, slope = path(nu[None], with_slope=True)
            spend, slope = spend[0], slope[0]
            gap = spend.sum(axis=1) - budget
            settled = at_step | (np.abs(gap) <= slack) | (top - bottom <= 1e-15 * np.abs(nu))
            if settled.all():
                break
            reached = gap >= 0
            bottom = np.where(reached, nu, bottom)
            top = np.where(reached, top, nu)
            newton = nu - gap / slope.sum(axis=1)
            inside = (newton > bottom) & (newton < top)  # false for NaN and infinities
            nu = np.where(settled, nu, np.where(inside, newton, 0.5 * (bottom + top)))
        # Newton leaves the budget a hair off; the free campaigns take it in proportion to
        # their slopes, which is the next Newton step itself.
        weights = slope / np.minimum(slope.sum(axis=1, keepdims=True), -1e-300)
        spend = np.clip(spend - weights * gap[:, None], lower, upper)
        # A total that jumps inside the bracket leaves a gap no step closes (a curve whose
        # marginal is flat to rounding over its bounds jumps from one to the other): there
        # the budget is spent between the bracket's ends in turn, as at a stretch.
        jumped = ~at_step & (np.abs(gap) > slack)
        if jumped.any():
            more, less = path(np.stack([bottom, top]))[0]
            between = _fill_in_turn(less, more - less, budget - less.sum(axis=1, keepdims=True))
            spend = np.where(jumped[:, None], between, spend)
    if at_step.any():
        amount = budget - at_high.sum(axis=1, keepdims=True)
        stepped = _fill_in_turn(at_high, below_high - at_high, amount)
        spend = np.where(at_step[:, None], stepped, spend)
    # Flat or saturated curves take what the others leave: the budget is always spent.
    return _fill_in_turn(spend, upper - spend, budget - spend.sum(axis=1, keepdims=True))


def allocate_budget(
    curves: ResponseCurves,
    budget: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Exact maximizer of sum(curves.response(x)) s.t. sum(x) == budget, lower <= x <= upper
    for concave curves (S-curves: see `solve_budget`).

    KKT: bisection on the Lagrange multiplier (closed-form pieces for negative-exponential
    curves, see `allocate_negexp`). Returns spend per campaign, shape (K,).
    Raises EngineError when the bounds cannot meet the budget.
    """
    return solve_budget(curves, budget, lower, upper).spend
