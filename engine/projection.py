"""Exact Euclidean projection onto boxes, disjoint groups' total ranges and one total; and the
exact linear maximization over the same set (a Frank-Wolfe oracle).

The set: lower <= x <= upper, group_low_g <= sum_{i in g} x_i <= group_high_g, sum x == total.
Projection of y: x_i = clip(y_i - mu_g, l_i, u_i) with mu_g the group's multiplier. A group's
total S_g(mu) is piecewise linear with kinks at y - u and y - l, so it is evaluated exactly
from sorted kinks and prefix sums; the common multiplier solves
sum_g clip(S_g(lam), low_g, high_g) == total by a binary search over the kinks and a last
linear piece (whose own kinks are where a group meets its range), then each group's
multiplier by the same search on its own total. No iteration to a tolerance: exact up to
rounding. Sizes: N elements in G groups, O(G N log N) per projection.
"""

from __future__ import annotations

import numpy as np


class _GroupTotal:
    """S(lam) = sum_i clip(y_i - lam, l_i, u_i) for one group, from sorted kinks."""

    def __init__(self, y: np.ndarray, low: np.ndarray, high: np.ndarray):
        upper_kinks, lower_kinks = y - high, y - low
        by_upper, by_lower = np.argsort(upper_kinks), np.argsort(lower_kinks)
        self.upper_kinks, self.lower_kinks = upper_kinks[by_upper], lower_kinks[by_lower]
        zero = np.zeros(1)
        self.high_sums = np.concatenate([zero, np.cumsum(high[by_upper])])
        self.y_by_upper = np.concatenate([zero, np.cumsum(y[by_upper])])
        self.low_sums = np.concatenate([zero, np.cumsum(low[by_lower])])
        self.y_by_lower = np.concatenate([zero, np.cumsum(y[by_lower])])
        self.kinks = np.union1d(upper_kinks, lower_kinks)

    def __call__(self, lam: np.ndarray) -> np.ndarray:
        below_upper = np.searchsorted(self.upper_kinks, lam, side="left")  # y - lam < u
        below_lower = np.searchsorted(self.lower_kinks, lam, side="left")  # y - lam < l
        return (
            self.high_sums[-1]
            - self.high_sums[below_upper]
            + self.low_sums[below_lower]
            + self.y_by_upper[below_upper]
            - self.y_by_lower[below_lower]
            - lam * (below_upper - below_lower)
        )


def _root_on_kinks(total, kinks: np.ndarray, target: float, extra) -> float:
    """lam where the non-increasing piecewise-linear total(lam) meets target: binary search on
    the sorted kinks, then on the bracketing piece the kinks `extra(a, b)` adds inside it."""
    points = np.concatenate([[kinks[0] - 1.0], kinks, [kinks[-1] + 1.0]])
    low, high = 0, points.size - 1
    if total(points[low : low + 1])[0] < target:
        return float(points[0])
    if total(points[high : high + 1])[0] >= target:
        return float(points[-1])
    while high - low > 1:  # total(points[low]) >= target > total(points[high])
        middle = (low + high) // 2
        if total(points[middle : middle + 1])[0] >= target:
            low = middle
        else:
            high = middle
    inner = np.concatenate([[points[low]], extra(points[low], points[high]), [points[high]]])
    inner = np.unique(inner)
    values = total(inner)
    index = int(np.count_nonzero(values >= target)) - 1
    index = min(max(index, 0), inner.size - 2)
    left, right = inner[index], inner[index + 1]
    drop = values[index] - values[index + 1]
    if drop <= 0:
        return float(left)
    return float(left + (values[index] - target) / drop * (right - left))


def project(
    y: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    labels: np.ndarray,
    group_low: np.ndarray,
    group_high: np.ndarray,
    total: float,
) -> np.ndarray:
    """The nearest point to y of the set (bounds finite, groups labelled 0..G-1, feasible)."""
    groups = [np.flatnonzero(labels == g) for g in range(group_low.size)]
    parts = [_GroupTotal(y[m], lower[m], upper[m]) for m in groups]

    def clipped(lam: np.ndarray) -> np.ndarray:
        return sum(np.clip(part(lam), group_low[g], group_high[g]) for g, part in enumerate(parts))

    def crossings(a: float, b: float) -> np.ndarray:
        """Where a group's total (linear on [a, b]) meets its range's ends, inside (a, b)."""
        ends = np.array([a, b])
        found = []
        for g, part in enumerate(parts):
            at_a, at_b = part(ends)
            if at_a == at_b:
                continue
            for level in (group_low[g], group_high[g]):
                if np.isfinite(level) and min(at_a, at_b) < level < max(at_a, at_b):
                    found.append(a + (at_a - level) / (at_a - at_b) * (b - a))
        return np.array(found)

    kinks = np.unique(np.concatenate([part.kinks for part in parts]))
    lam = _root_on_kinks(clipped, kinks, total, crossings)
    spend = np.empty_like(y)
    for g, (members, part) in enumerate(zip(groups, parts, strict=True)):
        own = float(part(np.array([lam]))[0])
        target = min(max(own, group_low[g]), group_high[g])
        mu = lam if own == target else _root_on_kinks(part, part.kinks, target, _no_kinks)
        spend[members] = np.clip(y[members] - mu, lower[members], upper[members])
    return spend


def _no_kinks(a: float, b: float) -> np.ndarray:
    return np.empty(0)


def best_vertex(
    gradient: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    labels: np.ndarray,
    group_low: np.ndarray,
    group_high: np.ndarray,
    total: float,
) -> np.ndarray:
    """argmax gradient . x over the same set, exactly, by greedy filling: every element starts
    at its lower bound; each group first gets its minimum from its best elements, then the rest
    of the total goes to the best remaining elements overall, each group up to its maximum.
    Optimal because a group's best value is concave in its total (it fills best first)."""
    order = np.lexsort((-gradient, labels))  # by group, best first within a group
    room = (upper - lower)[order]
    sorted_labels = labels[order]
    base = np.bincount(labels, weights=lower, minlength=group_low.size)
    running = np.cumsum(room)
    starts = np.searchsorted(sorted_labels, np.arange(group_low.size))
    before = running - room - np.concatenate([[0.0], running])[starts][sorted_labels]
    needed = np.maximum(group_low - base, 0.0)
    first = np.clip(needed[sorted_labels] - before, 0.0, room)
    # What each element may still take within its group's maximum, in its group's order.
    cap = np.maximum(group_high - np.maximum(base, group_low), 0.0)
    left = room - first
    before_left = np.cumsum(left) - left
    before_left -= np.concatenate([[0.0], np.cumsum(left)])[starts][sorted_labels]
    allowed = np.clip(cap[sorted_labels] - before_left, 0.0, left)
    rest = total - float(lower.sum()) - float(first.sum())
    by_value = np.argsort(-gradient[order], kind="stable")
    take = allowed[by_value]
    second = np.empty_like(take)
    second[by_value] = np.clip(rest - (np.cumsum(take) - take), 0.0, take)
    point = np.empty_like(gradient)
    point[order] = lower[order] + first + second
    return point
