"""What the value-estimate bandits (the first Oktopus API's family) know of each campaign, and
how they turn it into a budget split.

A campaign's return is its observed value per unit spend, relative to the pooled return of all
campaigns (1 = average), so that exploration constants do not depend on the currency. Its visits
count how much it was tried, in timesteps of an equal share. Its amplitude is what it would
return at saturation under a negative-exponential curve whose scale is `saturation` equal
shares, relative to the average campaign: value over exposure, the sum over its timesteps of
1 - exp(-spend / scale). With `scales: "learnt"` (the default) each campaign's scale is the
one of a small grid its own values fit best (engine.policies.return_scales), `saturation`
being the prior's centre. Unlike a return per unit spend, the amplitude does not fall as a
campaign is given more, so it ranks campaigns fairly whatever they were given.

Two rules turn these into target shares:
- `shares` (the default): each policy scores every campaign's amplitude (UCB adds a bonus,
  softmax a Gumbel perturbation, optimistic starts it high, epsilon-greedy keeps an equal
  share aside) and the budget is split exactly on the scored curves (KKT, engine.allocator),
  so every campaign gets what its marginal return earns, and the framework paces the move;
- `step`: the first Oktopus API's move, `step` share points to one chosen campaign
  (engine.policies.step_rule), kept so its behaviour can be reproduced.

The state keeps running sums: spend, value and exposure per campaign over its observed
timesteps, the number of observed cells, and per campaign and grid scale the sums of a
least-squares fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.context import Context
from engine.framework import Policy, uniform_target
from engine.negexp_allocator import allocate_negexp
from engine.packing import pack, unpack
from engine.params import Choice, Number
from engine.policies.return_scales import GRID, curve_terms, fitted_scales
from engine.settings import SMALLEST_NORMAL

RULES = ("shares", "step")
SCALES = ("learnt", "fixed")
_FITS = ("fit_f", "fit_ff", "fit_fy")
_PRIOR_EXPOSURE = 0.5
"""Exposure (in timesteps at the scale) of the prior "an average campaign" an amplitude starts
from, so that one noisy timestep does not decide a campaign's fate."""
_MAX_BONUS = 10.0


@dataclass(frozen=True)
class Returns:
    """Relative value per unit spend (1 where nothing was observed) and equal-share visits.

    `informed` is False until some value was reported: then there is nothing to act on.
    """

    rate: np.ndarray
    visits: np.ndarray
    informed: bool = True


def _spend_unit(settings: Mapping, n_campaigns: int) -> float:
    return settings["budget"] / settings["timesteps"] / n_campaigns


class ReturnsPolicy(Policy):
    """A policy deciding from observed returns: keeps their running sums in the state."""

    common_specs = {
        "rule": Choice("shares", RULES),
        "saturation": Number(2.0, 0.01, 100.0),
        "scales": Choice("learnt", SCALES),
    }

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict:
        zeros = [0.0] * n_campaigns
        grid = pack(np.zeros((n_campaigns, len(GRID))))
        return {
            "spend": zeros,
            "value": list(zeros),
            "exposure": list(zeros),
            "cells": 0,
            **{key: grid for key in _FITS},  # (K, S) arrays, packed (engine.packing)
            "fit_yy": list(zeros),
            "fit_rows": list(zeros),
        }

    def _exposure(self, spend: np.ndarray, settings: Mapping) -> np.ndarray:
        scale = self.params["saturation"] * _spend_unit(settings, spend.size)
        return -np.expm1(-np.maximum(spend, 0.0) / scale)

    def update_stats(self, stats: dict, context: Context) -> dict:
        observed = np.isfinite(context.value)
        spend = np.asarray(stats["spend"], dtype=float)
        exposure = stats.get("exposure")
        if exposure is None:  # a state from before exposure was kept: its average timestep
            count = max(int(stats["cells"]), 1) / spend.size
            exposure = count * self._exposure(spend / count, context.settings)
        exposure = np.asarray(exposure, dtype=float)
        added = self._exposure(np.asarray(context.spend), context.settings)
        y = np.where(observed, context.value, 0.0)
        value = np.asarray(stats["value"], dtype=float) + y
        updated = {
            "spend": (spend + np.where(observed, context.spend, 0.0)).tolist(),
            "value": value.tolist(),
            "exposure": (exposure + np.where(observed, added, 0.0)).tolist(),
            "cells": int(stats["cells"]) + int(observed.sum()),
        }
        if "fit_f" not in stats:  # a state from before the scales were learnt: fixed scales
            return updated
        unit = _spend_unit(context.settings, spend.size)
        f = curve_terms(np.asarray(context.spend), unit) * observed[:, None]
        terms = {"fit_f": f, "fit_ff": f * f, "fit_fy": f * y[:, None]}
        for key, term in terms.items():
            updated[key] = pack(self._grid(stats, key, spend.size) + term)
        updated["fit_yy"] = (np.asarray(stats["fit_yy"], dtype=float) + y * y).tolist()
        updated["fit_rows"] = (np.asarray(stats["fit_rows"], dtype=float) + observed).tolist()
        return updated

    def resize_stats(
        self, stats: dict | None, keep: Sequence[int | None], n_old: int
    ) -> dict | None:
        """As every policy's, with an added campaign's grid sums rows of zeros."""
        resized = super().resize_stats(stats, keep, n_old)
        if resized is None or "fit_f" not in resized:
            return resized
        for key in _FITS:
            old = self._grid(stats, key, n_old)
            rows = [np.zeros(len(GRID)) if i is None else old[i] for i in keep]
            resized[key] = pack(np.array(rows).reshape(len(keep), len(GRID)))
        return resized

    @staticmethod
    def _grid(stats: Mapping, key: str, n_campaigns: int) -> np.ndarray:
        """One of the packed (K, S) grid sums as an array."""
        return unpack(stats[key], (n_campaigns, len(GRID)))

    def scales(self, context: Context) -> tuple[np.ndarray, np.ndarray | None]:
        """Each campaign's saturation scale (spend units) and its exposure on that scale (None
        for the fixed scale's, kept in `exposure`)."""
        unit = _spend_unit(context.settings, context.n_campaigns)
        fixed = np.full(context.n_campaigns, self.params["saturation"] * unit)
        stats = context.stats
        if self.params["scales"] == "fixed" or "fit_f" not in stats:
            return fixed, None
        sums = {key: self._grid(stats, key, context.n_campaigns) for key in _FITS}
        sums["fit_yy"] = np.asarray(stats["fit_yy"], dtype=float)
        rows = np.asarray(stats["fit_rows"], dtype=float)
        chosen = fitted_scales(
            sums["fit_ff"], sums["fit_fy"], sums["fit_yy"], rows, self.params["saturation"]
        )
        index = np.arange(context.n_campaigns)
        return np.asarray(GRID)[chosen] * unit, sums["fit_f"][index, chosen]

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        returns = observed_returns(context)
        if not returns.informed:
            return context.previous
        if self.params["rule"] == "step":
            return self.step_target(context, rng, returns)
        scale, exposure = self.scales(context)
        amplitude = relative_amplitudes(context, exposure)
        return self.share_target(context, rng, amplitude, returns.visits, scale)

    def step_target(
        self, context: Context, rng: np.random.Generator, returns: Returns
    ) -> np.ndarray:
        """The first Oktopus API's rule: `step` to the chosen campaign."""
        raise NotImplementedError

    def share_target(
        self,
        context: Context,
        rng: np.random.Generator,
        amplitude: np.ndarray,
        visits: np.ndarray,
        scale: np.ndarray,
    ) -> np.ndarray:
        """Target shares from the relative amplitudes, visits and scales of every campaign."""
        raise NotImplementedError

    def split(self, context: Context, scores: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Shares maximizing the sum of scores_k * (1 - exp(-x_k / scale_k)) within the bounds."""
        budget = context.budget
        alpha = np.where(context.active, np.maximum(scores, 0.0), 0.0)
        if not np.isfinite(alpha).all() or alpha.max() <= 0:
            return uniform_target(context.active)
        alpha = alpha / alpha.max()
        mu = 1.0 / scale
        lower, upper = context.lower * budget, context.upper * budget
        spend = allocate_negexp(alpha[None, :], mu[None, :], budget, lower, upper)[0]
        return spend / budget


def observed_returns(context: Context) -> Returns:
    """Returns pooled over every observed timestep of every campaign (from the running sums)."""
    spend = np.asarray(context.stats["spend"], dtype=float)
    value = np.asarray(context.stats["value"], dtype=float)
    total_spend, total_value = spend.sum(), value.sum()
    n_campaigns = context.n_campaigns
    pooled = total_value / total_spend if total_spend > 0 else 0.0
    # A pooled return that is 0, subnormal or infinite (values next to nothing, or spends so)
    # cannot scale the others: their relative rates would be 0 / 0 or x / 0.
    if not SMALLEST_NORMAL <= pooled < np.inf:
        return Returns(rate=np.ones(n_campaigns), visits=np.zeros(n_campaigns), informed=False)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rate = np.divide(value, spend * pooled, out=np.ones(n_campaigns), where=spend > 0)
    # A spend so small that spend * pooled underflows: no value there is a rate of 0, some
    # value the highest rate there is.
    rate = np.nan_to_num(rate, nan=0.0)
    visits = spend / (total_spend / context.stats["cells"])
    return Returns(rate=rate, visits=visits)


def relative_amplitudes(context: Context, exposure: np.ndarray | None = None) -> np.ndarray:
    """Every campaign's amplitude over the pooled one (1 = average), shrunk toward 1 by a
    prior worth half a timestep at the scale; `exposure` on each campaign's own scale, or
    (None) the fixed scale's. Call once `observed_returns` is informed."""
    value = np.asarray(context.stats["value"], dtype=float)
    if exposure is None:
        exposure = np.asarray(context.stats["exposure"], dtype=float)
    pooled = value.sum() / max(exposure.sum(), SMALLEST_NORMAL)
    with np.errstate(over="ignore", invalid="ignore"):
        relative = (value / pooled + _PRIOR_EXPOSURE) / (exposure + _PRIOR_EXPOSURE)
    return np.nan_to_num(relative, nan=1.0, posinf=_MAX_BONUS)


def confidence_bonus(visits: np.ndarray) -> np.ndarray:
    """UCB1's sqrt(2 ln(total visits) / visits), capped for campaigns never tried."""
    total = max(visits.sum(), 1.0)
    bonus = np.sqrt(
        np.divide(
            2.0 * np.log(total),
            visits,
            out=np.full(visits.size, np.inf),
            where=visits > 0,
        )
    )
    return np.minimum(bonus, _MAX_BONUS)


def best_active(scores: np.ndarray, active: np.ndarray) -> int:
    """Index of the highest score among active campaigns."""
    return int(np.argmax(np.where(active, scores, -np.inf)))
