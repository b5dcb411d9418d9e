"""The budget-step framework shared by every policy: pacing, constraints, state and determinism.

A run splits a total budget `b` over `n` timesteps. The budget of the coming timestep is
`remaining / timesteps_left`, so under- or over-spend reported for a timestep is re-planned over
the rest, and cumulative reported spend (clamped at `b`) plus the current timestep budget never
exceeds `b`. A policy folds each finished timestep's observations into sufficient statistics of
its own (running sums), and proposes target shares from them; the framework projects those onto
the constraints (engine.constraints), turns shares into budgets and keeps the state a JSON-able
dict. The state keeps no raw observation history, so its size does not grow with the run.
What a policy sees of a step is an engine.context.Context; how a stored state is checked and
loaded again (and its statistics folded from recorded timesteps) is engine.stored_state.
Randomness comes from `default_rng([seed, counter])`, the counter being the number of decisions
taken, so equal inputs always give equal allocations.

With a fully spent timestep budget every objective ranks allocations like its value metric:
profit (revenue - spend) differs from revenue by the fixed timestep spend, so policies learn
revenue for both and conversions for `conversions`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import ClassVar

import numpy as np

from engine.constraints import project_shares, share_amounts, share_bounds
from engine.context import Context
from engine.errors import EngineError
from engine.params import Anything, Choice, Number, validate_params
from engine.settings import (
    METRICS,
    check_current_bounds,
    validate_active,
    validate_observations,
    validate_settings,
)
from engine.stored_state import STATE_VERSION, StoredState, _finite_numbers

_EXHAUSTED = 1e-9


def _spent_in(spend: list[float | None], planned: list[float]) -> float:
    """What a finished timestep spent: its reported spend, its planned budget where none was."""
    pairs = zip(spend, planned, strict=True)
    return sum(plan if amount is None else amount for amount, plan in pairs)


def _remaining(budget: float, spent: float) -> float:
    """The budget left after `spent`, 0 once only rounding is left."""
    remaining = max(budget - spent, 0.0)
    return 0.0 if remaining <= _EXHAUSTED * budget else remaining


def uniform_target(active: np.ndarray) -> np.ndarray:
    """Equal shares over the active campaigns."""
    count = max(int(active.sum()), 1)
    return active / count


def _amount_array(amounts: list[float | None], missing: float) -> np.ndarray:
    return np.array([missing if amount is None else amount for amount in amounts], dtype=float)


class Policy(StoredState):
    """A decision maker: subclasses set `name`, `param_specs` and implement `propose`."""

    name: ClassVar[str] = ""
    param_specs: ClassVar[Mapping[str, Number | Anything | Choice]] = {}
    max_campaigns: ClassVar[int | None] = None
    # Parameters that may change mid-run: those the statistics do not depend on.
    mutable_params: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, params: Mapping | None = None) -> None:
        self.params = validate_params(self.name, self.param_specs, params)

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """Target shares for the coming timestep (projected onto the constraints afterwards)."""
        raise NotImplementedError

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict | None:
        """Sufficient statistics before any observation (JSON-able). Default: none kept."""
        return None

    def update_stats(self, stats: dict | None, context: Context) -> dict | None:
        """`stats` with the finished timestep (`context.observed`) folded in, as a new value.

        What a learning policy keeps of the run instead of its raw observations: running sums,
        so the state and a step's cost stay the same however long the run. `context.stats`
        is the updated value when `propose` runs. Must not modify `stats`, and must read
        nothing of `context` but its observations (`observed`, `spend`, `value`), `t`,
        `settings`, `params` and `n_campaigns`: `refold` folds finished timesteps again
        without their bounds, shares or active campaigns.
        """
        return None

    def learn(self, stats: dict | None, context: Context) -> tuple[dict | None, Mapping | None]:
        """`update_stats`, and whatever of that work `propose` may reuse (`context.learned`).

        Default: nothing to reuse. A policy whose statistics are costly to decode overrides
        it to hand them over decoded, so that a step decodes them once.
        """
        return self.update_stats(stats, context), None

    def resize_stats(
        self, stats: dict | None, keep: Sequence[int | None], n_old: int
    ) -> dict | None:
        """`stats` for a new set of campaigns: `keep[i]` is the old index (of `n_old`) of new
        campaign i, None for an added one. Default: every list of one number per old campaign
        is reindexed, an added campaign starting at 0 (nothing observed: the policy's pooled
        prior); other values are kept. Policies whose statistics are shaped otherwise override
        it."""
        if stats is None:
            return None
        resized = {}
        for key, value in stats.items():
            if isinstance(value, list) and len(value) == n_old and key != "signature":
                resized[key] = [0.0 if i is None else value[i] for i in keep]
            else:
                resized[key] = copy.deepcopy(value)
        return resized

    def settled_stats(self, stats: dict | None, settings: Mapping, n_campaigns: int) -> dict | None:
        """`stats` made independent of the run's budget, timesteps and campaign count, before
        one of them changes mid-run. Default: statistics that never depended on them."""
        return stats

    def refold_base(self, stats: dict | None, n_campaigns: int, settings: Mapping) -> dict | None:
        """The statistics a refold starts folding from. Default: `initial_stats`; a policy
        whose statistics carry something besides the observations (a prior) keeps it."""
        return self.initial_stats(n_campaigns, settings)

    def initial_target(self, active: np.ndarray) -> np.ndarray:
        """Shares of the first timestep, before any observation: equal over active campaigns."""
        return uniform_target(active)

    def check_campaigns(self, n_campaigns: int) -> None:
        """Reject campaign counts the policy cannot handle."""
        if self.max_campaigns is not None and n_campaigns > self.max_campaigns:
            raise EngineError(
                f"policy {self.name!r} handles at most {self.max_campaigns} campaigns "
                f"(got {n_campaigns})"
            )

    def init(self, n_campaigns: int, settings: Mapping, active: list[bool] | None = None) -> dict:
        """A fresh run state whose shares and budgets are those of timestep 0."""
        clean = validate_settings(settings, n_campaigns)
        self.check_campaigns(n_campaigns)
        mask = np.array(validate_active(active, n_campaigns), dtype=bool)
        budget = clean["budget"]
        lower, upper, spendable = self._bounds(clean, mask, budget / clean["timesteps"])
        shares = project_shares(self.initial_target(mask), lower, upper)
        return {
            "version": STATE_VERSION,
            "policy": self.name,
            "params": copy.deepcopy(self.params),
            "settings": clean,
            "t": 0,
            "remaining": budget,
            "spent": 0.0,
            "timestep_budget": spendable,
            "shares": shares.tolist(),
            "budgets": self._amounts(clean, shares, spendable),
            "active": mask.tolist(),
            "previous_shares": None,
            "done": False,
            "rng": {"seed": clean["seed"], "counter": 0},
            "stats": self.initial_stats(n_campaigns, clean),
        }

    def advance(
        self, state: Mapping, observations: Mapping, active: list[bool] | None = None
    ) -> tuple[dict, dict]:
        """Record the finished timestep's observations and decide the next timestep."""
        state = self._load(state)
        if state["done"]:
            raise EngineError("the run is done: no timestep is left to allocate")
        settings = state["settings"]
        n_campaigns = len(state["shares"])
        observed = validate_observations(observations, n_campaigns)
        mask = np.array(validate_active(active, n_campaigns), dtype=bool)

        planned = state["budgets"]
        spent = state["spent"] + _spent_in(observed["spend"], planned)
        remaining = _remaining(settings["budget"], spent)
        # One array for every metric's row; None (unobserved) becomes NaN.
        metric_rows = np.array([observed[metric] for metric in METRICS], dtype=float)
        observed_rows = dict(zip(METRICS, metric_rows, strict=True)) | {
            "planned": np.array(planned, dtype=float)
        }
        t = state["t"] + 1
        previous = np.array(state["shares"], dtype=float)
        done = t >= settings["timesteps"] or remaining == 0.0
        state.update(t=t, spent=spent, remaining=remaining, done=done, active=mask.tolist())
        state["previous_shares"] = previous.tolist()

        if done:
            state.update(timestep_budget=0.0, budgets=[0.0] * n_campaigns)
            return state, self._allocation(state)
        lower, upper, spendable = self._bounds(
            settings, mask, remaining / (settings["timesteps"] - t)
        )
        context = self._context(state, observed_rows, mask, previous, lower, upper, spendable)
        try:
            state["stats"], learned = self.learn(state["stats"], context)
        except EngineError:
            raise
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EngineError(f"state statistics are malformed: {exc!r}") from exc
        context = replace(context, stats=state["stats"], learned=learned)
        rng = np.random.default_rng([state["rng"]["seed"], state["rng"]["counter"]])
        state["rng"]["counter"] += 1
        target = self.propose(context, rng) if spendable > 0 else previous
        shares = project_shares(target, lower, upper, previous, settings["step"])
        state.update(
            timestep_budget=spendable,
            shares=shares.tolist(),
            budgets=self._amounts(settings, shares, spendable),
        )
        return state, self._allocation(state)

    def rebalance(
        self,
        state: Mapping,
        active: list[bool],
        min_budget: list[float | None] | None = None,
        max_budget: list[float | None] | None = None,
    ) -> dict:
        """Re-apply the constraints of the current timestep, without learning, to a new active
        mask and, where given, new per-campaign min/max budgets for the rest of the run.

        Paused campaigns' shares go to the active ones in proportion to their current shares,
        within `step` of the previous timestep's shares (widened only as far as needed). With
        no campaign active nothing is allocated (shares and budgets 0) until one is again.
        New bounds are checked as at `init`, and their minimums against the current timestep's
        budget too (EngineError if they cannot hold).
        """
        state = self._load(state)
        n_campaigns = len(state["shares"])
        bounds = {"min_budget": min_budget, "max_budget": max_budget}
        changed = {key: value for key, value in bounds.items() if value is not None}
        before = state["settings"]
        if changed:
            state["settings"] = validate_settings({**before, **changed}, n_campaigns)
        settings = state["settings"]
        mask = np.array(validate_active(active, n_campaigns), dtype=bool)
        state["active"] = mask.tolist()
        if state["done"]:
            return state
        timesteps_left = settings["timesteps"] - state["t"]
        if any(settings[key] != before[key] for key in changed):
            check_current_bounds(settings, state["remaining"] / timesteps_left)
        if not mask.any():
            nothing = [0.0] * n_campaigns
            state.update(timestep_budget=0.0, shares=nothing, budgets=list(nothing))
            return state
        current = np.where(mask, np.array(state["shares"], dtype=float), 0.0)
        target = current / current.sum() if current.sum() > 0 else uniform_target(mask)
        previous = state["previous_shares"]
        previous = None if previous is None else np.array(previous, dtype=float)
        return self._replanned(state, mask, state["remaining"] / timesteps_left, target, previous)

    def _replanned(
        self,
        state: dict,
        mask: np.ndarray,
        timestep_budget: float,
        target: np.ndarray,
        previous: np.ndarray | None = None,
    ) -> dict:
        """`state` with the current timestep split anew: `target` projected onto the bounds of
        `timestep_budget` (and within `step` of `previous`, when given)."""
        settings = state["settings"]
        lower, upper, spendable = self._bounds(settings, mask, timestep_budget)
        shares = project_shares(target, lower, upper, previous, settings["step"])
        state.update(
            timestep_budget=spendable,
            shares=shares.tolist(),
            budgets=self._amounts(settings, shares, spendable),
        )
        return state

    def refold(
        self,
        state: Mapping,
        observations: Sequence[Mapping],
        planned: Sequence[Sequence[float]],
        retired_spent: float = 0.0,
    ) -> dict:
        """The state with what it spent and learnt recomputed from every finished timestep.

        For a late correction: `observations[i]` and `planned[i]` are timestep i's metrics as
        reported now and the budgets it was given, for each of the state's `t` finished
        timesteps. Spend corrected up or down re-paces the budget left over the timesteps to
        come, and the policy's statistics are folded again from the first timestep, so the next
        decision learns from the corrected numbers as if they had come in time. The current
        timestep's budgets stand (they were handed out already) unless the corrected spend
        leaves less than they add up to: then what is left is split anew, as near the shares
        as the campaigns' bounds allow, so the run never plans beyond its budget.
        `retired_spent` is what campaigns removed from the run (engine.amend.resize) spent in
        the finished timesteps: it counts as spent, but no longer as anyone's observations.
        """
        state = self._load(state)
        n_campaigns = len(state["shares"])
        if len(observations) != state["t"] or len(planned) != state["t"]:
            raise EngineError(
                f"refolding needs the {state['t']} finished timesteps' observations and budgets "
                f"(got {len(observations)} and {len(planned)})"
            )
        rows = [validate_observations(row, n_campaigns) for row in observations]
        budgets = [[float(x) for x in row] for row in planned]
        if any(len(row) != n_campaigns or not _finite_numbers(row) for row in budgets):
            raise EngineError(f"every timestep's budgets must be {n_campaigns} finite numbers")
        settings = state["settings"]
        retired = retired_spent if isinstance(retired_spent, int | float) else math.nan
        if isinstance(retired, bool) or not (math.isfinite(retired) and retired >= 0):
            raise EngineError(f"retired_spent must be a finite number >= 0 (got {retired_spent!r})")
        pairs = zip(rows, budgets, strict=True)
        spent = retired + sum(_spent_in(row["spend"], plan) for row, plan in pairs)
        shape = (len(rows), n_campaigns)  # (0, n) before the first timestep
        table = {
            metric: np.array([row[metric] for row in rows], dtype=float).reshape(shape)
            for metric in METRICS
        } | {"planned": np.array(budgets, dtype=float).reshape(shape)}
        remaining = _remaining(settings["budget"], spent)
        shares = np.array(state["shares"], dtype=float)
        base = self.refold_base(state["stats"], n_campaigns, settings)
        state.update(
            spent=spent,
            remaining=remaining,
            stats=self._folded(table, state["t"], settings, shares, base),
        )
        if state["timestep_budget"] > remaining:
            mask = np.array(state["active"], dtype=bool)
            return self._replanned(state, mask, remaining, np.array(state["shares"], dtype=float))
        return state

    @staticmethod
    def _allocation(state: dict) -> dict:
        return {
            "shares": list(state["shares"]),
            "budgets": list(state["budgets"]),
            "timestep_budget": state["timestep_budget"],
        }

    @staticmethod
    def _bounds(
        settings: dict, mask: np.ndarray, timestep_budget: float
    ) -> tuple[np.ndarray, np.ndarray, float]:
        return share_bounds(
            mask,
            timestep_budget,
            settings["floor"],
            _amount_array(settings["min_budget"], 0.0),
            _amount_array(settings["max_budget"], np.inf),
        )

    @staticmethod
    def _amounts(settings: dict, shares: np.ndarray, spendable: float) -> list[float]:
        return share_amounts(
            shares,
            spendable,
            _amount_array(settings["min_budget"], 0.0),
            _amount_array(settings["max_budget"], np.inf),
        ).tolist()

    def _context(
        self,
        state: dict,
        observed: dict[str, np.ndarray],
        mask: np.ndarray,
        previous: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        spendable: float,
    ) -> Context:
        for array in (previous, mask, lower, upper, *observed.values()):
            array.flags.writeable = False
        return Context(
            t=state["t"],
            observed=observed,
            previous=previous,
            active=mask,
            lower=lower,
            upper=upper,
            budget=spendable,
            settings=state["settings"],
            params=self.params,
        )
