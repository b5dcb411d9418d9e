"""Allocation on posterior draws: maximize the posterior MEAN response, report its interval.

With S draws of each channel's curve parameters (a marketing-mix model's posterior), the
expected KPI of an allocation x is (1/S) sum_s sum_c w_c f_sc(x_c). A mean of concave
curves is concave, so the exact KKT allocator applies to the averaged curve of each
channel: its marginal is the mean of the draws' marginals, and its inverse (the spend
where that mean falls to a multiplier) lies between the least and the largest of the
draws' own closed-form inverses, where a bracketing regula falsi (Illinois) vectorized
over channels and multipliers finds it to a relative 1e-13. Everything is vectorized over
the S x C draws. Draws of S-shaped Hill curves are averaged through their concave
envelopes (then a good allocation, not a proven optimum, as for single S-curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.allocator import (
    MAX_BISECTIONS,
    RELATIVE_TOLERANCE,
    bracket_multiplier,
    resolve_bounds,
    resolve_weights,
    solve_budget,
    spend_between,
)
from engine.errors import EngineError
from engine.groups import group_report, grouped_multiplier, resolve_groups, solve_grouped
from engine.response import FAMILY_PARAMETERS, ResponseCurves, family_curves

INVERSE_STEPS = 100
INVERSE_TOLERANCE = 1e-13
INTERVAL = (5.0, 95.0)


class DrawMeanCurves(ResponseCurves):
    """The posterior-mean curve of C channels from S draws of a family's parameters (S, C)."""

    def __init__(self, family: str, params: Mapping[str, np.ndarray]):
        if family not in FAMILY_PARAMETERS:
            raise EngineError(
                f"unknown curve family {family!r} (known: {', '.join(FAMILY_PARAMETERS)})"
            )
        arrays = {}
        for name in FAMILY_PARAMETERS[family]:
            if name not in params:
                raise EngineError(f"{family} draws need parameter {name!r}")
            array = np.asarray(params[name], dtype=float)
            if array.ndim == 1:
                array = array[None, :]
            if array.ndim != 2 or array.size == 0:
                raise EngineError(f"draws of {name!r} must have shape (draws, channels)")
            arrays[name] = array
        shapes = {array.shape for array in arrays.values()}
        if len(shapes) != 1:
            raise EngineError(f"parameter draws differ in shape: {sorted(shapes)}")
        self.draws, self.channels = shapes.pop()
        self.family = family
        self.base = family_curves(family, {name: a.ravel() for name, a in arrays.items()})

    @property
    def size(self) -> int:
        return self.channels

    def _tile(self, x: np.ndarray | float) -> tuple[np.ndarray, tuple[int, ...]]:
        x = np.asarray(x, dtype=float)
        x = (
            np.broadcast_to(x, (*x.shape[:-1], self.channels))
            if x.ndim
            else np.full(self.channels, float(x))
        )
        lead = x.shape[:-1]
        tiled = np.broadcast_to(x[..., None, :], (*lead, self.draws, self.channels))
        return tiled.reshape(*lead, self.draws * self.channels), lead

    def per_draw(self, method: str, x: np.ndarray | float) -> np.ndarray:
        """One of the base curves' methods at x (..., C), answered per draw (..., S, C)."""
        tiled, lead = self._tile(x)
        return getattr(self.base, method)(tiled).reshape(*lead, self.draws, self.channels)

    def response(self, x: np.ndarray) -> np.ndarray:
        return self.per_draw("response", x).mean(axis=-2)

    def true_response(self, x: np.ndarray) -> np.ndarray:
        return self.per_draw("true_response", x).mean(axis=-2)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self.per_draw("marginal", x).mean(axis=-2)

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        """Spend where the mean marginal falls to lam: Illinois within the draws' range, until
        the bracket or the marginal's distance to lam is a relative 1e-13."""
        return self.inverse_within(lam)

    def inverse_within(
        self,
        lam: float | np.ndarray,
        floor: np.ndarray | None = None,
        ceiling: np.ndarray | None = None,
    ) -> np.ndarray:
        """`inverse_marginal`, searched within [floor, ceiling] when the caller knows the
        answer lies there (the spends at two multipliers bracketing lam)."""
        own = self.per_draw("inverse_marginal", lam)
        low, high = own.min(axis=-2), own.max(axis=-2)
        if floor is not None:
            low = np.clip(floor, low, high)
            high = np.clip(ceiling, low, high)
        lam = np.broadcast_to(np.asarray(lam, dtype=float), low.shape)
        solvable = np.isfinite(high) & (high > low)
        if not solvable.any():
            return high
        left, right = np.where(solvable, low, 0.0), np.where(solvable, high, 0.0)
        with np.errstate(invalid="ignore"):
            gap_left = np.where(solvable, self.marginal(left) - lam, 1.0)
            gap_right = np.where(solvable, self.marginal(right) - lam, -1.0)
        side = np.zeros(low.shape)
        scale = INVERSE_TOLERANCE * np.abs(lam)
        for _ in range(INVERSE_STEPS):
            width = right - left
            open_ = (width > INVERSE_TOLERANCE * np.abs(right)) & (
                np.minimum(gap_left, -gap_right) > scale
            )
            if not open_.any():
                break
            with np.errstate(divide="ignore", invalid="ignore"):
                guess = right - gap_right * width / (gap_right - gap_left)
            guess = np.where((guess > left) & (guess < right), guess, 0.5 * (left + right))
            gap = self.marginal(guess) - lam
            above = gap >= 0  # the mean marginal still above lam: the root lies right
            left, gap_left = np.where(above, guess, left), np.where(above, gap, gap_left)
            right, gap_right = np.where(above, right, guess), np.where(above, gap_right, gap)
            # Illinois: halve the end that stayed, so the bracket shrinks from both sides.
            gap_right = np.where(above & (side > 0), 0.5 * gap_right, gap_right)
            gap_left = np.where(~above & (side < 0), 0.5 * gap_left, gap_left)
            side = np.where(above, 1.0, -1.0)
        # The end nearer its root (a gap of 0 is the root itself).
        nearer = np.where(gap_left <= -gap_right, left, right)
        return np.where(solvable, nearer, high)


def _solve_concave(
    curves: DrawMeanCurves, budget: float, low: np.ndarray, high: np.ndarray, worth: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """The fixed-budget optimum by Illinois on the log-multiplier: the total spend is
    monotone in it, and each step's channel spends are searched only between those at the
    current bracket's ends, so late steps cost a few evaluations. None when the bracket
    cannot be formed (flat channels must take money): the caller then bisects."""
    high = np.minimum(high, budget - float(low.sum()) + low)
    if budget <= float(low.sum()):
        return low.copy(), float(np.max(worth * curves.marginal(low)))
    bottom, top = bracket_multiplier(curves, low, high, worth, budget)
    bottom = max(bottom, top * 1e-300, 1e-300)

    def spend_at(nu: float, floor=None, ceiling=None) -> np.ndarray:
        lam = np.exp(nu) / worth
        inside = curves.inverse_within(lam, floor, ceiling)
        return np.clip(inside, low, high)

    nu_low, nu_high = np.log(bottom), np.log(top)
    more, less = spend_at(nu_low), spend_at(nu_high)
    gap_low, gap_high = float(more.sum()) - budget, float(less.sum()) - budget
    if gap_low < 0 or gap_high > 0:
        return None
    side = 0
    for _ in range(MAX_BISECTIONS):
        if nu_high - nu_low <= RELATIVE_TOLERANCE or gap_low <= 1e-13 * budget:
            break
        nu = nu_high - gap_high * (nu_high - nu_low) / (gap_high - gap_low)
        if not nu_low < nu < nu_high:
            nu = 0.5 * (nu_low + nu_high)
        spend = spend_at(nu, less, more)
        gap = float(spend.sum()) - budget
        if gap >= 0:
            nu_low, gap_low, more = nu, gap, spend
            gap_high = gap_high / 2 if side == 1 else gap_high
            side = 1
        else:
            nu_high, gap_high, less = nu, gap, spend
            gap_low = gap_low / 2 if side == -1 else gap_low
            side = -1
    spend = spend_between(more, less, budget, high)
    return spend, float(np.exp(0.5 * (nu_low + nu_high)))


def allocate_on_draws(
    family: str,
    params: Mapping[str, np.ndarray],
    budget: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    groups: Sequence[Mapping] | None = None,
    values: np.ndarray | None = None,
    names: Sequence[str] | None = None,
) -> dict:
    """The allocation maximizing the posterior mean KPI over S draws of C channels' curves.

    family: negexp, mm, hill or logistic; params: each parameter's draws, shape (S, C);
    lower/upper: per-channel spend bounds (C,); groups as in engine.groups (channel names
    from `names`, default channel_0 ...); values: worth of one unit of response (C,).
    Returns numpy figures: `spend` (C,), `kpi` {"mean", "low", "high"} (the KPI's posterior
    mean and 5th / 95th percentiles over the draws at that spend), `kpi_draws` (S,),
    `contribution` {"mean", "low", "high"} per channel (C,), `multiplier` (the common
    marginal KPI of free channels) and `groups` (rows as engine.groups.group_report, or None).
    """
    curves = DrawMeanCurves(family, params)
    size = curves.size
    names = list(names) if names is not None else [f"channel_{i}" for i in range(size)]
    if len(names) != size:
        raise EngineError("one name per channel is needed")
    budget = float(budget)
    if not np.isfinite(budget) or budget < 0:
        raise EngineError("budget must be a finite number >= 0")
    low, high = resolve_bounds(size, lower, upper)
    worth = resolve_weights(size, values)
    grouping = resolve_groups(groups, names)
    report = None
    if grouping is not None:
        spend, multipliers = solve_grouped(
            curves, budget, low, np.minimum(high, budget + low), worth, grouping
        )
        multiplier = grouped_multiplier(grouping, multipliers)
        report = group_report(grouping, spend, low, high, multipliers)
    else:
        solved = _solve_concave(curves, budget, low, high, worth)
        if solved is None:
            solution = solve_budget(curves, budget, low, high, worth)
            solved = solution.spend, solution.multiplier
        spend, multiplier = solved
    contributions = worth * curves.per_draw("true_response", spend)  # (S, C)
    totals = contributions.sum(axis=1)
    return {
        "spend": spend,
        "kpi": {
            "mean": float(totals.mean()),
            "low": float(np.percentile(totals, INTERVAL[0])),
            "high": float(np.percentile(totals, INTERVAL[1])),
        },
        "kpi_draws": totals,
        "contribution": {
            "mean": contributions.mean(axis=0),
            "low": np.percentile(contributions, INTERVAL[0], axis=0),
            "high": np.percentile(contributions, INTERVAL[1], axis=0),
        },
        "multiplier": multiplier,
        "groups": report,
    }
