"""Changing a running state: its campaigns, its budget and pacing, its policy's parameters.

A plan changes while it runs (a sale raises the budget, the flight is extended, a campaign is
launched or ended); these functions change a state in place of starting it over, keeping
what it learnt. Either way the current timestep is re-paced at once: its budget becomes what
is left over the timesteps left, split as near the current shares as the bounds and `step`
allow (as `Policy.rebalance` does for a paused campaign, but within `step` of the current
shares rather than the previous timestep's, so that nothing but the change moves them; a
resize is not held by `step`: a removed campaign's share goes to the others at once).

- `resize`: campaigns by position. `keep[i]` is the old position of new campaign i, or None
  for a campaign added: the others keep their statistics untouched, an added one starts from
  the prior the policy pools from the others (it observed nothing) with no share of the
  current timestep, and gets budget from the next decision; a removed one's share goes to
  the others at once. What removed campaigns spent stays spent (`Policy.refold` takes it as
  `retired_spent`).
- `retune`: budget (remaining = new budget - spent; below what is spent: EngineError),
  timesteps (not below the timestep in progress), step, floor and the parameters the policy
  declares safe to change (`Policy.mutable_params`; others: EngineError naming them).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np

from engine.errors import EngineError
from engine.framework import Policy, uniform_target
from engine.settings import check_current_bounds, validate_active, validate_settings

RETUNABLE = ("budget", "timesteps", "step", "floor")
_SPENT_TOLERANCE = 1e-9


def _check_keep(keep: object, n_old: int) -> list[int | None]:
    if isinstance(keep, str | bytes) or not isinstance(keep, Sequence):
        raise EngineError("keep must be a list of old positions or nulls")
    kept = [index for index in keep if index is not None]
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n_old for i in kept):
        raise EngineError(f"keep must hold positions from 0 to {n_old - 1} or nulls")
    if len(set(kept)) != len(kept):
        raise EngineError("keep names a campaign twice")
    return list(keep)


def _repaced(policy: Policy, state: dict, paced: bool = True) -> dict:
    """`state` with its current timestep split anew: what is left over the timesteps left,
    as near the current shares (among active campaigns) as the bounds (and `step`, when
    `paced`) allow."""
    mask = np.array(state["active"], dtype=bool)
    n_campaigns = mask.size
    if state["done"]:
        return state
    if not mask.any():
        nothing = [0.0] * n_campaigns
        state.update(timestep_budget=0.0, shares=nothing, budgets=list(nothing))
        return state
    settings = state["settings"]
    timestep_budget = state["remaining"] / (settings["timesteps"] - state["t"])
    check_current_bounds(settings, timestep_budget)
    current = np.where(mask, np.array(state["shares"], dtype=float), 0.0)
    target = current / current.sum() if current.sum() > 0 else uniform_target(mask)
    # Within `step` of the current split itself: campaigns keep their shares when only the
    # budget or the pacing changes. Unpaced after a resize: a removed campaign's share goes
    # to the others in proportion to theirs, an added one gets only what its bounds demand.
    return policy._replanned(state, mask, timestep_budget, target, current if paced else None)


def resize(
    policy: Policy,
    state: Mapping,
    keep: Sequence[int | None],
    active: list[bool] | None = None,
    min_budget: list[float | None] | None = None,
    max_budget: list[float | None] | None = None,
) -> dict:
    """The state over a new list of campaigns (see the module): `active`, `min_budget` and
    `max_budget` are the new campaigns' (default: the kept ones' as they were, added ones
    active and unbounded)."""
    state = policy._load(state)
    if state["done"]:
        raise EngineError("the run is done: its campaigns can no longer change")
    n_old = len(state["shares"])
    keep = _check_keep(keep, n_old)
    n_new = len(keep)
    policy.check_campaigns(n_new)
    old = state["settings"]

    def moved(values: list, missing: object) -> list:
        return [missing if i is None else values[i] for i in keep]

    settings = {
        **old,
        "min_budget": moved(old["min_budget"], None) if min_budget is None else min_budget,
        "max_budget": moved(old["max_budget"], None) if max_budget is None else max_budget,
    }
    state["settings"] = validate_settings(settings, n_new)
    mask = moved(state["active"], True) if active is None else active
    state["active"] = validate_active(mask, n_new)
    stats = policy.settled_stats(state["stats"], old, n_old)
    state["stats"] = policy.resize_stats(stats, keep, n_old)
    state["shares"] = moved(state["shares"], 0.0)
    state["budgets"] = moved(state["budgets"], 0.0)
    if state["previous_shares"] is not None:
        state["previous_shares"] = moved(state["previous_shares"], 0.0)
    return _repaced(policy, state, paced=False)


def retune(
    policy: Policy,
    state: Mapping,
    changes: Mapping[str, object] | None = None,
    params: Mapping[str, object] | None = None,
) -> tuple[Policy, dict]:
    """The policy with `params` changed, and the state under it with `changes` (budget,
    timesteps, step, floor) applied and the current timestep re-paced (see the module)."""
    changes = dict(changes or {})
    params = dict(params or {})
    unknown = sorted(set(changes) - set(RETUNABLE), key=str)
    if unknown:
        raise EngineError(f"cannot change {unknown} mid-run (allowed: {list(RETUNABLE)})")
    fixed = sorted(set(params) - policy.mutable_params, key=str)
    if fixed:
        safe = sorted(policy.mutable_params) or "none"
        raise EngineError(
            f"parameter(s) {fixed} of policy {policy.name!r} cannot change mid-run "
            f"(those that can: {safe})"
        )
    tuned = type(policy)({**policy.params, **params}) if params else policy
    state = policy._load(state)
    if state["done"]:
        raise EngineError("the run is done: it can no longer change")
    n_campaigns = len(state["shares"])
    old = state["settings"]
    stats = policy.settled_stats(state["stats"], old, n_campaigns)
    settings = validate_settings({**old, **changes}, n_campaigns)
    if settings["timesteps"] <= state["t"]:
        raise EngineError(
            f"timesteps must be above the {state['t']} timesteps finished "
            f"(got {settings['timesteps']})"
        )
    spent = state["spent"]
    if settings["budget"] < spent * (1 - _SPENT_TOLERANCE):
        raise EngineError(
            f"budget {settings['budget']:g} is below what the run has spent already ({spent:g})"
        )
    state.update(
        settings=settings,
        stats=stats,
        params=copy.deepcopy(tuned.params),
        remaining=max(settings["budget"] - spent, 0.0),
    )
    return tuned, _repaced(tuned, state)
