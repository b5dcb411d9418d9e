"""An operating capacity on total response, met on the allocator's KKT path.

For the response objective: the least spend on the optimal path reaching the capacity, with
S-curves' straight stretches settled so the capacity is really met. For net profit: a second
multiplier on the capacity, found by bisection, with S-curves that jump tried both ways.
"""

from __future__ import annotations

import numpy as np

from engine.allocator import (
    fill_stretches_in_turn,
    inside_stretches,
    kkt_path,
    section_count,
    solve_monotone_multiplier,
    stretch_ends,
)
from engine.budget_ceilings import ceiling_solution
from engine.response import ResponseCurves

CAPACITY_BISECTIONS = 100
# Rounds of settling S-curves' straight stretches when a capacity is met (a few in practice).
SETTLE_ROUNDS = 8


def cap_on_path(
    curves: ResponseCurves,
    capacity: float,
    multiplier: float,
    low: np.ndarray,
    high: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Least spend on the KKT path whose total response equals the capacity."""
    path = kkt_path(curves, low, high, weights)
    top = float(np.max(weights * curves.marginal(low))) * (1 + 1e-9) + 1e-300
    lam_low, lam_high = solve_monotone_multiplier(
        lambda lams: curves.response(path(lams)).sum(axis=-1),
        capacity,
        max(multiplier, 0.0),
        max(top, multiplier),
        section_count(curves.size),
    )
    return _fill_to_response(curves, path(lam_low), path(lam_high), capacity), lam_high


def settle_capped_stretches(
    curves: ResponseCurves,
    capacity: float,
    budget: float,
    solution: tuple[np.ndarray, float],
    low: np.ndarray,
    high: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, float]:
    """The capacity met on S-curves' envelopes can leave a campaign partway up a straight
    stretch, where the curve itself responds less, so the capacity is not reached. Campaigns
    sharing a stretch's slope are funded in turn (engine.allocator.fill_stretches_in_turn);
    the one left partway is tried at both ends of its stretch, the capacity met again by the
    others; kept is the answer that reaches the capacity with the least spend (or, if none
    does, comes nearest), within the budget; repeated (a few rounds at most) while a stretch
    is left and a change helps."""

    def rank(spend: np.ndarray) -> tuple[bool, float]:
        reached = float(curves.true_response(spend).sum()) >= capacity * (1 - 1e-9)
        return reached, -float(spend.sum()) if reached else float(curves.true_response(spend).sum())

    best, best_rank = solution, rank(solution[0])
    low, high = low.copy(), high.copy()
    for _ in range(SETTLE_ROUNDS):
        turned = fill_stretches_in_turn(curves, best[0], low, high)
        if rank(turned) > best_rank:
            best, best_rank = (turned, best[1]), rank(turned)
        inside = inside_stretches(curves, best[0])
        if inside.size == 0:
            return best
        k = int(inside[0])
        stretch_end = min(float(stretch_ends(curves, best[0])[k]), high[k])
        improved = None
        for end in (low[k], stretch_end):
            fixed_low, fixed_high = low.copy(), high.copy()
            fixed_low[k] = fixed_high[k] = end
            if float(curves.response(fixed_high).sum()) < capacity or fixed_low.sum() > budget:
                continue
            candidate = cap_on_path(curves, capacity, 0.0, fixed_low, fixed_high, weights)
            if float(candidate[0].sum()) > budget * (1 + 1e-12):
                continue
            if rank(candidate[0]) > best_rank:
                best, best_rank, improved = candidate, rank(candidate[0]), (fixed_low, fixed_high)
        if improved is None:
            return best
        low, high = improved
    return best


def _fill_to_response(
    curves: ResponseCurves, more: np.ndarray, less: np.ndarray, target: float
) -> np.ndarray:
    """Between two path points, add spend campaign by campaign until response hits target.

    Within the bracket each moving campaign is on a stretch where its response is linear
    in spend (a flat marginal), or the bracket is tiny; either way the split is exact.
    """
    gain = np.maximum(curves.response(more) - curves.response(less), 0.0)
    needed = target - float(curves.response(less).sum())
    taken = np.clip(needed - (np.cumsum(gain) - gain), 0.0, gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(gain > 0, taken / gain, 0.0)
    return less + share * (more - less)


def cap_net_profit(
    curves: ResponseCurves,
    capacity: float,
    floor_multiplier: float,
    budget: float,
    low: np.ndarray,
    high: np.ndarray,
    values: np.ndarray,
) -> tuple[np.ndarray, float]:
    """Net profit with total response <= capacity: bisection on the capacity multiplier mu.

    For a given mu the problem is the plain one with values (value_i - mu); its total
    response falls as mu grows, so bisection on mu meets the capacity exactly. An S-curve
    funds all or nothing, so where one drops out at the bisection's end the others are left
    below the capacity: it is then tried on either side of its jump, fixed, the capacity met
    again by the others, and the better net profit within the capacity kept; repeated while
    one jumps and a change helps.
    """

    def net(candidate: np.ndarray) -> float:
        response = curves.true_response(candidate)
        if float(response.sum()) > capacity * (1 + 1e-9):
            return -np.inf
        return float(values @ response - candidate.sum())

    def bisection(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The solution at the bisection's end, and the spend just below that end's mu
        (where a campaign that drops out at the end is still funded)."""

        def solve(mu: float) -> tuple[np.ndarray, float]:
            worth = np.maximum(values - mu, 0.0)
            return ceiling_solution(
                curves, floor_multiplier, budget, low, high, worth, settle=False
            )

        low_mu, high_mu = 0.0, float(np.max(values))
        for _ in range(CAPACITY_BISECTIONS):
            middle = 0.5 * (low_mu + high_mu)
            if float(curves.response(solve(middle)[0]).sum()) > capacity:
                low_mu = middle
            else:
                high_mu = middle
            if high_mu - low_mu <= 1e-12 * max(high_mu, 1e-300):
                break
        spend, multiplier = solve(high_mu)
        return spend, multiplier, solve(low_mu)[0]

    spend, multiplier, above = bisection(low, high)
    best, best_net = (spend, multiplier), net(spend)
    low, high = low.copy(), high.copy()
    for _ in range(SETTLE_ROUNDS):
        jumped = np.flatnonzero(np.abs(above - spend) > 1e-6 * np.maximum(above, 1.0))
        jumped = jumped[low[jumped] < high[jumped]]
        if jumped.size == 0:
            break
        # Campaigns that jump together (equal curves) are funded in turn while the capacity
        # allows, the rest left out; then the one at the edge is tried both ways.
        gained = (curves.true_response(above) - curves.true_response(spend))[jumped]
        room = capacity - float(curves.true_response(spend).sum())
        funded = np.cumsum(gained) <= room + 1e-9 * capacity
        edge = int(np.count_nonzero(funded))
        improved = None
        for count in {edge, min(edge + 1, jumped.size)}:
            fixed_low, fixed_high = low.copy(), high.copy()
            chosen = np.where(np.arange(jumped.size) < count, above[jumped], spend[jumped])
            fixed_low[jumped] = fixed_high[jumped] = chosen
            if fixed_low.sum() > budget or float(curves.response(fixed_low).sum()) > capacity:
                continue
            candidate = bisection(fixed_low, fixed_high)
            if net(candidate[0]) > best_net:
                best, best_net = candidate[:2], net(candidate[0])
                improved = (fixed_low, fixed_high, candidate)
        if improved is None:
            break
        low, high, (spend, multiplier, above) = improved
    return best
