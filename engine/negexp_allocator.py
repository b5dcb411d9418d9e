"""Exact batched allocation over negative-exponential curves and their S-shaped blends.

What the Thompson-sampling `curve` policy and the classic bandits solve each timestep, for a
batch of D sampled draws of K curves at once: `allocate_negexp` in closed form (the spend is
piecewise linear in the log-multiplier) and `allocate_negexp_blend` for curves between the
negexp and its square, S-shaped ones through their concave envelopes. Kept apart from the
generic KKT allocator in engine.allocator, whose bound filling and bisection cap they share.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from engine.allocator import MAX_BISECTIONS, fill_in_turn

LOG_TWO = float(np.log(2.0))


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
    return fill_in_turn(spend, upper - spend, budget - spend.sum(axis=1, keepdims=True))


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
            between = fill_in_turn(less, more - less, budget - less.sum(axis=1, keepdims=True))
            spend = np.where(jumped[:, None], between, spend)
    if at_step.any():
        amount = budget - at_high.sum(axis=1, keepdims=True)
        stepped = fill_in_turn(at_high, below_high - at_high, amount)
        spend = np.where(at_step[:, None], stepped, spend)
    # Flat or saturated curves take what the others leave: the budget is always spent.
    return fill_in_turn(spend, upper - spend, budget - spend.sum(axis=1, keepdims=True))
