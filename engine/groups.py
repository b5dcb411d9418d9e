"""Group constraints on the exact allocator: the total of a group of campaigns within bounds.

maximize sum_i w_i f_i(x_i)  s.t.  sum_i x_i == budget,  lower <= x <= upper,
                                    L_g <= sum_{i in g} x_i <= U_g  for disjoint groups g.

Method (exact for concave curves, by the KKT conditions of this nested problem): a group
constraint adds one multiplier nu_g to its campaigns, so campaign i of group g sits where
its weighted marginal equals lam + nu_g. The best total of a group as a function of the
common multiplier lam is clip(S_g(lam), L_g, U_g), S_g being its campaigns' KKT spends;
the budget's multiplier lam is found by bisection on the sum of these clipped totals
(non-increasing in lam), the budget split exactly between the items (groups) at the two
bracketing multipliers, then each group's own multiplier lam + nu_g by a bisection run for
all groups at once, and its total met exactly by filling campaigns in turn between its two
bracketing points. Campaigns in no group form one implicit group without bounds. The
optimality gap is the bisections' (relative 1e-13 on the multipliers); S-shaped Hill
curves are solved on their concave envelopes (no settling of straight stretches here).

Shares (`min_share`, `max_share`) are fractions of the total spend: the budget for a fixed
budget, the spend being searched for the least spend reaching a target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.allocator import (
    MAX_BISECTIONS,
    RELATIVE_TOLERANCE,
    bracket_multiplier,
    section_count,
    solve_monotone_multiplier,
)
from engine.errors import EngineError
from engine.response import ResponseCurves

PathAt = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Groups:
    """Disjoint campaign groups: a label per campaign (the last label is the implicit group of
    campaigns in no group) and each group's bounds, absolute and as shares of the spend."""

    names: list[str]
    labels: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    min_share: np.ndarray
    max_share: np.ndarray

    @property
    def count(self) -> int:
        """Number of groups, the implicit one included."""
        return len(self.names) + 1

    def bounds(self, total: float, lower: np.ndarray, upper: np.ndarray) -> tuple:
        """Each group's (low, high) total at a total spend, the members' bounds included."""
        member_low = np.bincount(self.labels, weights=lower, minlength=self.count)
        member_high = np.bincount(self.labels, weights=upper, minlength=self.count)
        low = np.maximum(member_low, np.append(self.minimum, 0.0))
        low = np.maximum(low, np.append(self.min_share, 0.0) * total)
        high = np.minimum(member_high, np.append(self.maximum, np.inf))
        max_share = np.append(self.max_share, np.inf)
        capped = np.isfinite(max_share)
        high[capped] = np.minimum(high[capped], max_share[capped] * total)
        return low, high


def resolve_groups(groups: Sequence[Mapping] | None, names: Sequence[str]) -> Groups | None:
    """Groups from JSON-able specs `{"name", "campaigns": [...], "min"?, "max"?, "min_share"?,
    "max_share"?}`; raises EngineError naming the group for unknown or repeated campaigns
    and bounds that contradict each other."""
    if not groups:
        return None
    position = {name: index for index, name in enumerate(names)}
    labels = np.full(len(names), len(groups), dtype=int)
    columns: dict[str, list[float]] = {"min": [], "max": [], "min_share": [], "max_share": []}
    defaults = {"min": 0.0, "max": np.inf, "min_share": 0.0, "max_share": np.inf}
    group_names = []
    for index, group in enumerate(groups):
        name = str(group["name"])
        if name in group_names:
            raise EngineError(f"group {name!r} appears twice")
        group_names.append(name)
        members = list(group.get("campaigns") or [])
        if not members:
            raise EngineError(f"group {name!r} has no campaigns")
        for member in members:
            if member not in position:
                raise EngineError(f"group {name!r}: campaign {member!r} is not among the curves")
            if labels[position[member]] != len(groups):
                raise EngineError(
                    f"group {name!r}: campaign {member!r} is already in group "
                    f"{group_names[labels[position[member]]]!r} (groups must not overlap)"
                )
            labels[position[member]] = index
        for key, column in columns.items():
            value = group.get(key)
            value = defaults[key] if value is None else float(value)
            if (
                np.isnan(value)
                or value < 0
                or (key != "max" and key != "max_share" and np.isinf(value))
            ):
                raise EngineError(f"group {name!r}: {key} must be a finite number >= 0")
            if key.endswith("share") and np.isfinite(value) and value > 1:
                raise EngineError(f"group {name!r}: {key} is a fraction of the spend, at most 1")
            column.append(value)
        if columns["min"][-1] > columns["max"][-1]:
            raise EngineError(f"group {name!r}: min exceeds max")
        if columns["min_share"][-1] > columns["max_share"][-1]:
            raise EngineError(f"group {name!r}: min_share exceeds max_share")
    return Groups(
        names=group_names,
        labels=labels,
        minimum=np.array(columns["min"]),
        maximum=np.array(columns["max"]),
        min_share=np.array(columns["min_share"]),
        max_share=np.array(columns["max_share"]),
    )


def check_feasible(groups: Groups, total: float, lower: np.ndarray, upper: np.ndarray) -> tuple:
    """Group totals' bounds at this total spend, or EngineError naming the groups at fault."""
    low, high = groups.bounds(total, lower, upper)
    slack = 1e-9 * max(total, 1.0)
    broken = np.flatnonzero(low > high + slack)
    named = [groups.names[g] for g in broken if g < len(groups.names)]
    if named:
        raise EngineError(
            f"infeasible group(s) {', '.join(map(repr, named))} at total spend {total:g}: "
            "their minimum (absolute, share or members' min) exceeds their maximum"
        )
    if float(low.sum()) > total + slack or float(high.sum()) < total - slack:
        which = "minimums" if float(low.sum()) > total + slack else "maximums"
        figure = float(low.sum()) if which == "minimums" else float(high.sum())
        raise EngineError(
            f"infeasible groups {', '.join(map(repr, groups.names))}: the groups' and campaigns' "
            f"{which} add up to {figure:g}, {'above' if which == 'minimums' else 'below'} the "
            f"total spend {total:g}"
        )
    return low, np.maximum(high, low)


def _group_sums(spend: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Per-group totals of spend (..., K) -> (..., G)."""
    flat = spend.reshape(-1, spend.shape[-1])
    offsets = (np.arange(flat.shape[0]) * count)[:, None] + labels
    sums = np.bincount(offsets.ravel(), weights=flat.ravel(), minlength=flat.shape[0] * count)
    return sums.reshape(*spend.shape[:-1], count)


def fill_groups_in_turn(
    base: np.ndarray, room: np.ndarray, amounts: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Add to `base` up to amounts[g] within each group g, campaign by campaign in its room."""
    room = np.maximum(room, 0.0)
    order = np.argsort(labels, kind="stable")
    sorted_room = room[order]
    sorted_labels = labels[order]
    running = np.cumsum(sorted_room)
    starts = np.searchsorted(sorted_labels, np.arange(amounts.size))
    before_group = np.concatenate([[0.0], running])[starts][sorted_labels]
    before = running - sorted_room - before_group
    added = np.empty_like(room)
    added[order] = np.clip(amounts[sorted_labels] - before, 0.0, sorted_room)
    return base + added


def _bisect_each(
    totals_at: Callable[[np.ndarray], np.ndarray],
    targets: np.ndarray,
    low: float,
    high: float,
    sections: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For every group at once, the bracket of its multiplier where its non-increasing total
    crosses its target: totals_at maps multipliers (M, G) to totals (M, G)."""
    count = targets.size
    lows, highs = np.full(count, low), np.full(count, high)
    slack = 1e-12 * np.abs(targets)
    scale = max(abs(low), abs(high), 1e-300)
    fractions = (np.arange(1, sections + 1) / (sections + 1))[:, None]
    for _ in range(MAX_BISECTIONS):
        geometric = lows > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(geometric, highs / np.where(geometric, lows, 1.0), 1.0)
        done = np.where(
            geometric,
            ratio <= 1.0 + RELATIVE_TOLERANCE,
            highs - lows <= RELATIVE_TOLERANCE * scale,
        )
        if done.all():
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            spaced = np.where(
                geometric,
                np.exp(np.log(np.where(geometric, lows, 1.0)) + np.log(ratio) * fractions),
                lows + (highs - lows) * fractions,
            )
        above = totals_at(spaced) >= targets - slack
        count_above = above.sum(axis=0)
        rows = np.arange(count)
        lows = np.where(count_above > 0, spaced[np.maximum(count_above - 1, 0), rows], lows)
        highs = np.where(
            count_above < sections, spaced[np.minimum(count_above, sections - 1), rows], highs
        )
    return lows, highs


def solve_laminar(
    path_at: PathAt,
    budget: float,
    upper: np.ndarray,
    labels: np.ndarray,
    group_low: np.ndarray,
    group_high: np.ndarray,
    bracket: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Spend (K,) meeting the budget and every group's bounds exactly, and each group's
    multiplier. path_at maps per-campaign multipliers (M, K) to spends (M, K), each
    non-increasing in its multiplier; `bracket` holds multipliers at which every campaign
    sits at its upper (first) and lower (second) bound."""
    count = group_low.size
    size = labels.size
    sections = section_count(size)

    def items_at(lams: np.ndarray) -> np.ndarray:
        spend = path_at(np.broadcast_to(np.asarray(lams)[:, None], (len(lams), size)))
        return np.clip(_group_sums(spend, labels, count), group_low, group_high)

    bottom, top = bracket
    lam_low, lam_high = solve_monotone_multiplier(
        lambda lams: items_at(lams).sum(axis=-1), budget, bottom, top, sections
    )
    more, less = items_at(np.array([lam_low, lam_high]))
    totals = less + np.clip(
        budget - float(less.sum()) - (np.cumsum(more - less) - (more - less)), 0.0, more - less
    )
    # Where the bisection's slack leaves a hair unspent, groups with room take it.
    short = budget - float(totals.sum())
    if short > 0:
        room = group_high - totals
        totals = totals + np.clip(short - (np.cumsum(room) - room), 0.0, room)

    def group_totals(mus: np.ndarray) -> np.ndarray:
        return _group_sums(path_at(mus[:, labels]), labels, count)

    mu_low, mu_high = _bisect_each(group_totals, totals, bottom, top, sections)
    spend_high = path_at(mu_high[labels][None])[0]
    spend_low = path_at(mu_low[labels][None])[0]
    spend = fill_groups_in_turn(
        spend_high, spend_low - spend_high, totals - _group_sums(spend_high, labels, count), labels
    )
    short = totals - _group_sums(spend, labels, count)
    if np.any(short > 0):
        spend = fill_groups_in_turn(spend, upper - spend, np.maximum(short, 0.0), labels)
    return spend, 0.5 * (mu_low + mu_high)


def solve_grouped(
    curves: ResponseCurves,
    budget: float,
    lower: np.ndarray,
    upper: np.ndarray,
    weights: np.ndarray,
    groups: Groups,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact maximizer of sum(weights * response) with the budget, bounds and groups (bounds
    resolved, upper finite); returns spend and each group's multiplier (marginal value)."""
    group_low, group_high = check_feasible(groups, budget, lower, upper)
    upper = np.minimum(upper, budget - float(lower.sum()) + lower)
    with np.errstate(divide="ignore"):
        inverse_weights = 1.0 / weights

    def path_at(lams: np.ndarray) -> np.ndarray:
        inside = np.clip(curves.inverse_marginal(lams * inverse_weights), lower, upper)
        return np.where(lams <= 0, upper, inside)

    if budget <= float(lower.sum()):
        return lower.copy(), np.zeros(groups.count)
    bottom, top = bracket_multiplier(curves, lower, upper, weights, budget)
    return solve_laminar(
        path_at, budget, upper, groups.labels, group_low, group_high, (bottom, top)
    )


def grouped_multiplier(groups: Groups, multipliers: np.ndarray) -> float | None:
    """The marginal value shared by campaigns in no group (None when every campaign is in
    a group: each group's own marginal value is then in `group_report`)."""
    if not np.any(groups.labels == groups.count - 1):
        return None
    return float(multipliers[-1])


def group_report(
    groups: Groups,
    spend: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    multipliers: np.ndarray | None = None,
) -> list[dict]:
    """Per named group: its spend, share of the total, bounds at this total, which binds, and
    its marginal value (the multiplier its free campaigns share) when known."""
    total = float(spend.sum())
    low, high = groups.bounds(total, lower, upper)
    sums = _group_sums(spend, groups.labels, groups.count)
    slack = 1e-9 * max(total, 1.0)
    rows = []
    for g, name in enumerate(groups.names):
        binding = (
            "min" if sums[g] <= low[g] + slack else "max" if sums[g] >= high[g] - slack else None
        )
        rows.append(
            {
                "name": name,
                "spend": float(sums[g]),
                "share": float(sums[g] / total) if total > 0 else 0.0,
                "min": float(low[g]),
                "max": float(high[g]) if np.isfinite(high[g]) else None,
                "binding": binding,
                "mroi": None if multipliers is None else float(multipliers[g]),
            }
        )
    return rows
