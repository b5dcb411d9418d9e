"""Warm starts: a `curve` run that starts from response curves known beforehand.

Curves fitted to a client's history (a stored fit of engine.ensemble, any family of
engine.response) or a marketing-mix model's channel curves are read as pseudo-observations:
each known campaign's curve is evaluated at a few spends around an equal share of the timestep
budget, and those points are folded into the policy's own sums as `strength` timesteps' worth
of data, spread over the points. So the prior is mapped to the policy's own family (the grid
posterior fits the points as it fits data), tempered by `strength`, fading by half every
`half_life` timesteps of the run (the data overrule a wrong prior: spread over several spends,
even a weak prior would otherwise pin the curves' shapes, which the run's own spends, close to
each other, hardly identify), and kept apart from the observations so that a refold starts from
it again. The first timestep moves from the equal split within `step` toward what the policy
decides on the prior, as later timesteps move. Each point is given a relative noise (`noise`
times the curve's value at an equal share), so the prior does not claim the curves are exact.
Campaigns without a curve keep the default prior.

Any object with `response(x)` mapping spends (M,) to values (M,) serves as `curves`, so a
marketing-mix model's negexp, Hill or logistic channel curves feed the same function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from engine.constraints import project_shares
from engine.context import Context
from engine.errors import EngineError
from engine.framework import Policy
from engine.policies.curve import Curve

# Spends of the pseudo-observations, in equal shares of the timestep budget.
PRIOR_SPENDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
# Chosen by benchmarks/warm_start.py on seeds kept apart from those it reports: a prior worth
# half a timestep of data, fading by half every 4 timesteps, with points 20% noisy. Stronger
# or slower-fading priors gain a few tenths of a point more over the first 10 timesteps from
# a right prior, and lose two to four points at T = 30 from a wrong one (another market's).
# The choice sits at the edge between 0.25 and 0.5: as the curve policy's own learning
# changed, the benchmark has picked either.
DEFAULT_STRENGTH = 0.5
DEFAULT_NOISE = 0.2
DEFAULT_HALF_LIFE = 4.0
MAX_STRENGTH = 1000.0


class Curves(Protocol):
    """Response curves of several campaigns: value per period at spend per period."""

    def response(self, x: np.ndarray) -> np.ndarray: ...


def _positive(name: str, value: object, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EngineError(f"{name} must be a number (got {value!r})")
    if not (math.isfinite(value) and 0 < value <= high):
        raise EngineError(f"{name} must be in (0, {high:g}] (got {value!r})")
    return float(value)


def known_values(
    curves: Curves, match: Sequence[int | None], spends: np.ndarray, period: float = 1.0
) -> np.ndarray:
    """Values (P, K) of the run's campaigns at spends (P, K) per timestep, NaN for a campaign
    `match` gives no curve (match[k] is its index among `curves`). `period` is a timestep's
    length in the curves' periods: a timestep spending x earns period * f(x / period)."""
    # Curves that know their number (a model's channels) are read at all of them.
    size = getattr(curves, "size", 1 + max((i for i in match if i is not None), default=-1))
    values = np.full(spends.shape, np.nan)
    for p, row in enumerate(spends):
        at = np.zeros(size)
        for k, index in enumerate(match):
            if index is not None:
                at[index] = row[k] / period
        response = np.asarray(curves.response(at), dtype=float) * period
        for k, index in enumerate(match):
            if index is not None:
                values[p, k] = response[index]
    values[~np.isfinite(values)] = np.nan
    return values


def curve_prior(
    policy: Curve,
    settings: Mapping,
    n_campaigns: int,
    values: np.ndarray,
    strength: float = DEFAULT_STRENGTH,
    noise: float = DEFAULT_NOISE,
    half_life: float = DEFAULT_HALF_LIFE,
) -> dict:
    """The `prior` of `policy`'s statistics from `values` (P, K): each campaign's expected
    value per timestep at PRIOR_SPENDS equal shares (NaN: no prior for that campaign)."""
    strength = _positive("prior_strength", strength, MAX_STRENGTH)
    noise = _positive("noise", noise, 10.0)
    half_life = _positive("half_life", half_life, 1e6)
    values = np.asarray(values, dtype=float)
    if values.shape != (len(PRIOR_SPENDS), n_campaigns):
        raise EngineError(f"values must be of shape ({len(PRIOR_SPENDS)}, {n_campaigns})")
    unit = settings["budget"] / settings["timesteps"] / n_campaigns
    weight = strength / len(PRIOR_SPENDS)
    at_share = values[PRIOR_SPENDS.index(1.0)]
    spread = (noise * np.nan_to_num(at_share)) ** 2
    total = {
        "ff": 0.0,
        "fy": 0.0,
        "yy": np.zeros(n_campaigns),
        "count": np.zeros(n_campaigns),
        "value": np.zeros(n_campaigns),
    }
    for multiple, row in zip(PRIOR_SPENDS, values, strict=True):
        row = np.where(row >= 0, row, np.nan)  # NaN stays NaN: the campaign is unknown
        spend = np.full(n_campaigns, multiple * unit)
        terms = policy._sums(spend, row, unit, np.full(n_campaigns, np.nan))
        total["ff"] = total["ff"] + weight * terms["ff"]
        total["fy"] = total["fy"] + weight * terms["fy"]
        total["yy"] += weight * (terms["yy"] + terms["count"] * spread)
        total["count"] += weight * terms["count"]
        total["value"] += weight * np.nan_to_num(row)
    packed = policy.pack_sums(total)
    return {**packed, "value": total["value"].tolist(), "half_life": half_life}


def warm_init(
    policy: Policy,
    n_campaigns: int,
    settings: Mapping,
    active: list[bool] | None,
    values: np.ndarray,
    strength: float = DEFAULT_STRENGTH,
) -> dict:
    """A fresh state (as `Policy.init`) whose statistics start from `values` (see
    `curve_prior`) and whose first timestep is split as the policy decides from them."""
    if not isinstance(policy, Curve):
        raise EngineError(f"policy {policy.name!r} takes no prior: only 'curve' starts from curves")
    state = policy.init(n_campaigns, settings, active)
    settings = state["settings"]
    prior = curve_prior(policy, settings, n_campaigns, values, strength)
    state["stats"]["prior"] = prior
    if not any(prior["count"]):
        return state
    mask = np.array(state["active"], dtype=bool)
    lower, upper, spendable = policy._bounds(settings, mask, state["timestep_budget"])
    context = Context(
        t=0,
        observed={},
        previous=np.array(state["shares"], dtype=float),
        active=mask,
        lower=lower,
        upper=upper,
        budget=spendable,
        settings=settings,
        params=policy.params,
        stats=state["stats"],
    )
    rng = np.random.default_rng([state["rng"]["seed"], state["rng"]["counter"]])
    state["rng"]["counter"] += 1
    # Within `step` of the equal split, as every later move is: a wrong prior (curves of
    # another market) costs a few timesteps' moves, not a first timestep thrown wholesale
    # at it; the data overrule it while it moves.
    equal = np.array(state["shares"], dtype=float)
    target = policy.propose(context, rng)
    shares = project_shares(target, lower, upper, equal, settings["step"])
    state.update(shares=shares.tolist(), budgets=(shares * spendable).tolist())
    return state
