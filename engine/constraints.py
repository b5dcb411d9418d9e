"""The one projection every policy's wish goes through: floors, min/max budgets, pauses and step.

A policy proposes target shares; `project_shares` returns the feasible shares nearest to it
(Euclidean) within the share bounds of `share_bounds` and at most `step` share points away from
the previous timestep. When the bounds cannot hold together (the remaining budget is too small
for every minimum, a campaign is paused, ...) they give way in a fixed order: the budget
invariant first, then max budgets, then min budgets and floors, and `step` widens only as much as
needed to absorb a pause or a bound that moved.
"""

from __future__ import annotations

import numpy as np

_TOLERANCE = 1e-12
_STEP_BISECTIONS = 60


def share_bounds(
    active: np.ndarray,
    timestep_budget: float,
    floor: float,
    min_budget: np.ndarray,
    max_budget: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Lower/upper share bounds of every campaign and the budget that can actually be spent.

    `min_budget` / `max_budget` are per-timestep amounts (0 / inf when unbounded). The spendable
    budget is the timestep budget capped by the max budgets of the active campaigns; inactive
    campaigns get [0, 0]. Returns all-zero bounds and 0 when nothing can be spent.
    """
    n_campaigns = active.size
    zeros = np.zeros(n_campaigns)
    capacity = float(np.sum(np.where(active, max_budget, 0.0)))
    spendable = min(float(timestep_budget), capacity)
    if not active.any() or spendable <= 0:
        return zeros, zeros.copy(), 0.0
    upper = np.where(active, np.minimum(1.0, max_budget / spendable), 0.0)
    lower = np.where(active, np.maximum(floor, min_budget / spendable), 0.0)
    lower = np.minimum(lower, upper)
    total_lower = lower.sum()
    if total_lower > 1.0:
        lower = lower / total_lower
    return lower, upper, spendable


def _step_box(
    lower: np.ndarray, upper: np.ndarray, previous: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    open_ = upper > 0
    low = np.where(open_, np.maximum(lower, previous - step), 0.0)
    high = np.where(open_, np.minimum(upper, previous + step), 0.0)
    return low, high


def _feasible(low: np.ndarray, high: np.ndarray) -> bool:
    return bool(
        np.all(low <= high + _TOLERANCE)
        and low.sum() <= 1.0 + _TOLERANCE
        and high.sum() >= 1.0 - _TOLERANCE
    )


def effective_step(
    lower: np.ndarray, upper: np.ndarray, previous: np.ndarray, step: float
) -> float:
    """The smallest step >= `step` for which the step box around `previous` meets the bounds."""
    if _feasible(*_step_box(lower, upper, previous, step)):
        return step
    low, high = step, 1.0
    for _ in range(_STEP_BISECTIONS):
        middle = 0.5 * (low + high)
        if _feasible(*_step_box(lower, upper, previous, middle)):
            high = middle
        else:
            low = middle
    return high


def _widened_step_box(
    lower: np.ndarray, upper: np.ndarray, previous: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """The step box around `previous` at `effective_step`; the usual feasible box is built once."""
    box = _step_box(lower, upper, previous, step)
    if _feasible(*box):
        return box
    return _step_box(lower, upper, previous, effective_step(lower, upper, previous, step))


def _project_box_simplex(target: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Exact Euclidean projection onto {low <= s <= high, sum(s) = 1}.

    sum(clip(target + tau, low, high)) is piecewise linear and non-decreasing in tau with kinks
    at low - target and high - target, so the tau giving 1 is interpolated between kinks.
    """
    kinks = np.sort(np.concatenate((low - target, high - target)))
    totals = np.clip(target[None, :] + kinks[:, None], low, high).sum(axis=1)
    tau = np.interp(1.0, totals, kinks)
    shares = np.clip(target + tau, low, high)
    return shares / shares.sum()


def project_shares(
    target: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    previous: np.ndarray | None = None,
    step: float = 1.0,
) -> np.ndarray:
    """Feasible shares nearest to `target`: within bounds, summing to 1, <= step from previous.

    All-zero bounds (nothing to spend) give all-zero shares.
    """
    if upper.sum() <= 0:
        return np.zeros_like(upper)
    target = np.asarray(target, dtype=float)
    if not np.isfinite(target).all():  # checking first skips a copy in the usual case
        target = np.nan_to_num(target, nan=0.0, posinf=1.0, neginf=0.0)
    low, high = lower, upper
    if previous is not None and step < 1.0:
        box = _widened_step_box(lower, upper, previous, step)
        # A `previous` off the simplex (shares that never summed to 1) has no feasible step
        # box even at a step of 1: the bounds alone then hold.
        if _feasible(*box):
            low, high = box[0], np.maximum(box[1], box[0])
    return _project_box_simplex(target, low, high)


def share_amounts(
    shares: np.ndarray, spendable: float, min_budget: np.ndarray, max_budget: np.ndarray
) -> np.ndarray:
    """Budgets of `shares` of `spendable`, with the bounds the shares meet held exactly.

    A share bound is an amount divided by `spendable`: multiplied back, a budget at its
    bound comes out a rounding error off it (201.00000000000003 for a maximum of 201).
    Budgets are cut to their maximums, and lifted to minimums they fall short of by
    rounding alone (not minimums that gave way to a short budget); what that lifts is taken
    back from the budget with the most room, so they never add up to more than `spendable`.
    """
    budgets = shares * spendable
    budgets = np.minimum(budgets, max_budget)
    slack = 1e-9 * max(spendable, 1.0)
    short = (budgets > 0) & (budgets < min_budget) & (budgets >= min_budget - slack)
    budgets = np.where(short, min_budget, budgets)
    excess = budgets.sum() - spendable
    if excess > 0:
        room = budgets - np.where(short, budgets, np.minimum(min_budget, budgets))
        widest = int(np.argmax(room))
        budgets[widest] -= min(excess, room[widest])
    return budgets
