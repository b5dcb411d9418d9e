"""What a `curve` run has learnt, read out of its state: curves and a forecast.

`learnt_curves`: per campaign, the posterior response curve on a spend grid (mean and an 80%
band over posterior draws), the current budget on it and its marginal return there, and the
spend the policy would give the current timestep were it not paced by `step` (the policy's own
decision on the posterior, over 64 draws at least so that one decision's sampling noise does
not show, bounds applied).

`forecast`: the objective over the rest of the run (the timestep in progress included) under
the current policy, against an equal split, each with an 80% interval over posterior draws of
the curves. The policy's path starts from the current shares and moves toward its unpaced
shares within `step` a timestep; every timestep spends what is left over the timesteps left.
Profit counts value minus spend. Parameter uncertainty only: noise around the curves averages
out over a run's many campaign-timesteps.

Both are deterministic for a state (draws seeded by the run's seed and decision counter).
Policies without curves raise NoCurves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from engine.constraints import project_shares
from engine.context import Context
from engine.errors import EngineError
from engine.framework import Policy, uniform_target
from engine.policies.curve import Curve, unit_curve

BAND = (0.1, 0.9)
GRID_POINTS = 25
CURVE_DRAWS = 200
FORECAST_DRAWS = 400
READOUT_DRAWS = 64
_READOUT_STREAM = 2**31 - 1  # keeps the readout's draws apart from the decisions' own


class NoCurves(EngineError):
    """The run's policy learns no response curves, so there are none to show."""


def _curve_policy(policy: Policy) -> Curve:
    if not isinstance(policy, Curve):
        raise NoCurves(
            f"policy {policy.name!r} learns no response curves: only 'curve' runs have "
            "curves and forecasts"
        )
    return policy


def _context(policy: Curve, state: dict) -> Context:
    mask = np.array(state["active"], dtype=bool)
    lower, upper, spendable = policy._bounds(state["settings"], mask, state["timestep_budget"])
    return Context(
        t=state["t"],
        observed={},
        previous=np.array(state["shares"], dtype=float),
        active=mask,
        lower=lower,
        upper=upper,
        budget=spendable,
        settings=state["settings"],
        params=policy.params,
        stats=state["stats"],
    )


def _rng(state: Mapping) -> np.random.Generator:
    return np.random.default_rng([state["rng"]["seed"], state["rng"]["counter"], _READOUT_STREAM])


def _unpaced(policy: Curve, context: Context, rng: np.random.Generator) -> np.ndarray:
    """Shares the policy would give the current timestep with no `step` (bounds applied): its
    own decision, over READOUT_DRAWS posterior draws rather than its `draws`, so that the
    readout shows what it decides on average rather than one decision's sampling noise."""
    if context.budget <= 0 or not context.active.any():
        return np.zeros(context.n_campaigns)
    steadier = type(policy)({**policy.params, "draws": max(policy.params["draws"], READOUT_DRAWS)})
    target = steadier.propose(replace(context, params=steadier.params), rng)
    return project_shares(target, context.lower, context.upper)


def learnt_curves(
    policy: Policy, state: Mapping, points: int = GRID_POINTS, draws: int = CURVE_DRAWS
) -> dict:
    """Posterior curves of every campaign (see the module), in the run's money and value."""
    policy = _curve_policy(policy)
    state = policy._load(state)
    context = _context(policy, state)
    rng = _rng(state)
    post = policy.posterior(context)
    alpha, mu, blend = policy.sample_curves(post, rng, draws)  # (draws, K)
    budgets = np.array(state["budgets"], dtype=float)
    unpaced = _unpaced(policy, context, rng) * context.budget
    unit = float(post["spend_unit"])
    top = np.maximum.reduce([2.0 * budgets, 1.5 * unpaced, np.full(budgets.size, 3.0 * unit)])
    grid = np.linspace(0.0, 1.0, points)[:, None] * top[None, :]  # (points, K)
    scale, shape = 1.0 / mu[:, None, :], blend[:, None, :]
    values = alpha[:, None, :] * unit_curve(grid[None, :, :], scale, shape)
    low, high = np.quantile(values, BAND, axis=0)
    at_budget = alpha * unit_curve(budgets[None, :], 1.0 / mu, blend)
    concave = -np.expm1(-budgets[None, :] * mu)
    slope = alpha * mu * np.exp(-budgets[None, :] * mu) * (1.0 - blend + 2.0 * blend * concave)
    campaigns = [
        {
            "spend": grid[:, k].tolist(),
            "mean": values[:, :, k].mean(axis=0).tolist(),
            "low": low[:, k].tolist(),
            "high": high[:, k].tolist(),
            "budget": float(budgets[k]),
            "value_at_budget": float(at_budget[:, k].mean()),
            "marginal": float(slope[:, k].mean()),
            "unpaced": float(unpaced[k]),
            "active": bool(context.active[k]),
        }
        for k in range(budgets.size)
    ]
    return {
        "timestep": state["t"],
        "timestep_budget": float(state["timestep_budget"]),
        "band": list(BAND),
        "observed": bool(post["value_cells"] > 0),
        "campaigns": campaigns,
    }


def _path(
    policy: Curve, state: dict, context: Context, target: np.ndarray, paced: bool
) -> np.ndarray:
    """Spends (timesteps left, K): each timestep what is left over the timesteps left, split
    toward `target` (within `step` of the last split when `paced`)."""
    settings = state["settings"]
    left = settings["timesteps"] - state["t"]
    mask = context.active
    remaining = state["remaining"]
    shares = np.array(state["shares"], dtype=float)
    spends = np.zeros((left, mask.size))
    for i in range(left):
        budget = remaining / (left - i)
        if i == 0 and paced:
            spend = np.array(state["budgets"], dtype=float)
        else:
            lower, upper, budget = policy._bounds(settings, mask, budget)
            previous = shares if paced else None
            shares = project_shares(target, lower, upper, previous, settings["step"])
            spend = shares * budget
        spends[i] = spend
        remaining = max(remaining - spend.sum(), 0.0)
    return spends


def _objective(
    spends: np.ndarray, alpha: np.ndarray, mu: np.ndarray, blend: np.ndarray, objective: str
) -> np.ndarray:
    """The objective (draws,) of a path of spends (T, K) under each draw's curves."""
    value = np.zeros(alpha.shape[0])
    for spend in spends:
        value += (alpha * unit_curve(spend[None, :], 1.0 / mu, blend)).sum(axis=1)
    if objective == "profit":
        value -= spends.sum()
    return value


def _summary(values: np.ndarray) -> dict:
    low, high = np.quantile(values, BAND)
    return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def forecast(policy: Policy, state: Mapping, draws: int = FORECAST_DRAWS) -> dict:
    """The rest of the run's objective under the policy and under an equal split."""
    policy = _curve_policy(policy)
    state = policy._load(state)
    if state["done"]:
        raise EngineError("the run is done: there is nothing left to forecast")
    context = _context(policy, state)
    rng = _rng(state)
    post = policy.posterior(context)
    alpha, mu, blend = policy.sample_curves(post, rng, draws)
    target = _unpaced(policy, context, rng)
    equal = uniform_target(context.active)
    objective = state["settings"]["objective"]
    planned = _path(policy, state, context, target, paced=True)
    even = _path(policy, state, context, equal, paced=False)
    ours = _objective(planned, alpha, mu, blend, objective)
    theirs = _objective(even, alpha, mu, blend, objective)
    return {
        "timestep": state["t"],
        "timesteps_left": int(planned.shape[0]),
        "remaining": float(state["remaining"]),
        "objective": objective,
        "band": list(BAND),
        "policy": _summary(ours),
        "equal_split": _summary(theirs),
        "gain": _summary(ours - theirs),
        "observed": bool(post["value_cells"] > 0),
    }
