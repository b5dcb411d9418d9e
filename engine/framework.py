"""The budget-step framework shared by every policy: pacing, constraints, state and determinism.

A run splits a total budget `b` over `n` timesteps. The budget of the coming timestep is
`remaining / timesteps_left`, so under- or over-spend reported for a timestep is re-planned over
the rest, and cumulative reported spend (clamped at `b`) plus the current timestep budget never
exceeds `b`. A policy only proposes target shares from the observation history; the framework
projects them onto the constraints (engine.constraints), turns shares into budgets and keeps the
state a JSON-able dict. Randomness comes from `default_rng([seed, counter])`, the counter being
the number of decisions taken, so equal inputs always give equal allocations.

With a fully spent timestep budget every objective ranks allocations like its value metric:
profit (revenue - spend) differs from revenue by the fixed timestep spend, so policies learn
revenue for both and conversions for `conversions`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

import numpy as np

from engine.constraints import project_shares, share_bounds
from engine.errors import EngineError
from engine.params import Anything, Number, validate_params
from engine.settings import (
    METRICS,
    validate_active,
    validate_observations,
    validate_settings,
)

STATE_VERSION = 1
_EXHAUSTED = 1e-9
_VALUE_METRIC = {"revenue": "revenue", "profit": "revenue", "conversions": "conversions"}
_STATE_KEYS = frozenset(
    {"version", "policy", "params", "settings", "t", "remaining", "spent", "shares", "budgets"}
    | {"timestep_budget", "active", "previous_shares", "done", "rng", "history", "stats"}
)


class History(Mapping):
    """Observation rows as read-only (t, K) float arrays, NaN where unobserved.

    Converted on first access, so a policy pays only for the metrics it reads.
    """

    def __init__(self, rows: Mapping[str, list], n_campaigns: int) -> None:
        self._rows = rows
        self._n_campaigns = n_campaigns
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, metric: str) -> np.ndarray:
        if metric not in self._arrays:
            rows = self._rows[metric]
            array = np.array(rows, dtype=float) if rows else np.empty((0, self._n_campaigns))
            array.flags.writeable = False
            self._arrays[metric] = array
        return self._arrays[metric]

    def latest(self, metric: str) -> np.ndarray:
        """The last row of one metric (K,), without converting the whole history."""
        return np.array(self._rows[metric][-1], dtype=float)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@dataclass(frozen=True)
class Context:
    """What a policy sees when it decides the coming timestep (arrays are read-only).

    `history[metric]` has shape (t, K) with NaN where unobserved, metrics being those of
    engine.settings.METRICS plus `planned` (the budgets the framework planned). `lower` and
    `upper` are the share bounds of the coming timestep and `budget` the amount to split.
    `stats` is what the policy's `update_stats` made of the history (None if it keeps none).
    """

    t: int
    history: History
    previous: np.ndarray
    active: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    budget: float
    settings: dict
    params: dict
    stats: dict | None = None

    @property
    def n_campaigns(self) -> int:
        """K, the number of campaigns (arms)."""
        return self.active.size

    @cached_property
    def spend(self) -> np.ndarray:
        """Reported spend, with unreported spend taken to be the planned budget."""
        reported = self.history["spend"]
        spend = np.where(np.isnan(reported), self.history["planned"], reported)
        spend.flags.writeable = False
        return spend

    @property
    def value_metric(self) -> str:
        """The metric policies learn: conversions, or revenue for revenue and profit."""
        return _VALUE_METRIC[self.settings["objective"]]

    @property
    def value(self) -> np.ndarray:
        """The objective's value metric over the whole history."""
        return self.history[self.value_metric]

    def latest_spend(self) -> np.ndarray:
        """Spend of the timestep just finished (planned budget where unreported)."""
        reported = self.history.latest("spend")
        return np.where(np.isnan(reported), self.history.latest("planned"), reported)


def uniform_target(active: np.ndarray) -> np.ndarray:
    """Equal shares over the active campaigns."""
    count = max(int(active.sum()), 1)
    return active / count


def _amount_array(amounts: list[float | None], missing: float) -> np.ndarray:
    return np.array([missing if amount is None else amount for amount in amounts], dtype=float)


def _copied(state: Mapping) -> dict:
    """A copy of a state sharing nothing mutable with it (cheaper than copy.deepcopy)."""
    copied = dict(state)
    for key in ("shares", "budgets", "active"):
        copied[key] = list(state[key])
    if state["previous_shares"] is not None:
        copied["previous_shares"] = list(state["previous_shares"])
    copied["rng"] = dict(state["rng"])
    history = state["history"]
    if isinstance(history, Mapping):
        copied["history"] = {
            metric: [list(row) for row in rows] for metric, rows in history.items()
        }
    return copied


def _as_list(values: np.ndarray) -> list[float]:
    return [float(value) for value in values]


class Policy:
    """A decision maker: subclasses set `name`, `param_specs` and implement `propose`."""

    name: ClassVar[str] = ""
    param_specs: ClassVar[Mapping[str, Number | Anything]] = {}
    max_campaigns: ClassVar[int | None] = None

    def __init__(self, params: Mapping | None = None) -> None:
        self.params = validate_params(self.name, self.param_specs, params)

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """Target shares for the coming timestep (projected onto the constraints afterwards)."""
        raise NotImplementedError

    def update_stats(self, stats: dict | None, context: Context) -> dict | None:
        """Sufficient statistics after the timestep just recorded (JSON-able), kept in the state.

        Policies whose learning is cheaper from running sums than from the whole history
        override this; `context.stats` is then the updated value. Default: none.
        """
        return None

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
            "shares": _as_list(shares),
            "budgets": _as_list(shares * spendable),
            "active": mask.tolist(),
            "previous_shares": None,
            "done": False,
            "rng": {"seed": clean["seed"], "counter": 0},
            "history": {metric: [] for metric in (*METRICS, "planned")},
            "stats": None,
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
        spend_row = [
            plan if spend is None else spend
            for spend, plan in zip(observed["spend"], planned, strict=True)
        ]
        spent = state["spent"] + sum(spend_row)
        remaining = max(settings["budget"] - spent, 0.0)
        if remaining <= _EXHAUSTED * settings["budget"]:
            remaining = 0.0
        history = state["history"]
        for metric in METRICS:
            history[metric].append(observed[metric])
        history["planned"].append(list(planned))
        t = state["t"] + 1
        previous = np.array(state["shares"], dtype=float)
        done = t >= settings["timesteps"] or remaining == 0.0
        state.update(t=t, spent=spent, remaining=remaining, done=done, active=mask.tolist())
        state["previous_shares"] = _as_list(previous)

        if done:
            state.update(timestep_budget=0.0, budgets=[0.0] * n_campaigns)
            return state, self._allocation(state)
        lower, upper, spendable = self._bounds(
            settings, mask, remaining / (settings["timesteps"] - t)
        )
        context = self._context(state, mask, previous, lower, upper, spendable)
        state["stats"] = self.update_stats(state["stats"], context)
        context = replace(context, stats=state["stats"])
        rng = np.random.default_rng([state["rng"]["seed"], state["rng"]["counter"]])
        state["rng"]["counter"] += 1
        target = self.propose(context, rng) if spendable > 0 else previous
        shares = project_shares(target, lower, upper, previous, settings["step"])
        state.update(
            timestep_budget=spendable,
            shares=_as_list(shares),
            budgets=_as_list(shares * spendable),
        )
        return state, self._allocation(state)

    def rebalance(self, state: Mapping, active: list[bool]) -> dict:
        """Re-apply the constraints of the current timestep to a new active mask, without learning.

        Paused campaigns' shares go to the active ones in proportion to their current shares,
        within `step` of the previous timestep's shares (widened only as far as needed).
        """
        state = self._load(state)
        settings = state["settings"]
        n_campaigns = len(state["shares"])
        mask = np.array(validate_active(active, n_campaigns), dtype=bool)
        state["active"] = mask.tolist()
        if state["done"]:
            return state
        timesteps_left = settings["timesteps"] - state["t"]
        lower, upper, spendable = self._bounds(settings, mask, state["remaining"] / timesteps_left)
        current = np.where(mask, np.array(state["shares"], dtype=float), 0.0)
        target = current / current.sum() if current.sum() > 0 else uniform_target(mask)
        previous = state["previous_shares"]
        previous = None if previous is None else np.array(previous, dtype=float)
        shares = project_shares(target, lower, upper, previous, settings["step"])
        state.update(
            timestep_budget=spendable,
            shares=_as_list(shares),
            budgets=_as_list(shares * spendable),
        )
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

    def _context(
        self,
        state: dict,
        mask: np.ndarray,
        previous: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        spendable: float,
    ) -> Context:
        for array in (previous, mask, lower, upper):
            array.flags.writeable = False
        return Context(
            t=state["t"],
            history=History(state["history"], mask.size),
            previous=previous,
            active=mask,
            lower=lower,
            upper=upper,
            budget=spendable,
            settings=state["settings"],
            params=self.params,
        )

    def _load(self, state: Mapping) -> dict:
        """A deep copy of a state checked enough that a corrupted one fails with EngineError."""
        if not isinstance(state, Mapping):
            raise EngineError("state must be an object")
        missing = sorted(_STATE_KEYS - set(state))
        if missing:
            raise EngineError(f"state is missing {missing}")
        if state["version"] != STATE_VERSION:
            raise EngineError(
                f"state version {state['version']!r} is not supported (expected {STATE_VERSION})"
            )
        if state["policy"] != self.name:
            raise EngineError(f"state belongs to policy {state['policy']!r}, not {self.name!r}")
        try:
            state = _copied(state)
        except (TypeError, ValueError, KeyError) as exc:
            raise EngineError(f"state is malformed: {exc}") from exc
        if not {"seed", "counter"} <= set(state["rng"]):
            raise EngineError("state rng must hold 'seed' and 'counter'")
        n_campaigns = len(state["shares"])
        state["settings"] = validate_settings(state["settings"], n_campaigns)
        state["params"] = copy.deepcopy(self.params)
        history = state["history"]
        if not isinstance(history, Mapping) or set(history) != {*METRICS, "planned"}:
            raise EngineError("state history must hold one list per metric and 'planned'")
        if any(len(rows) != state["t"] for rows in history.values()):
            raise EngineError("state history length does not match its timestep counter")
        if len(state["budgets"]) != n_campaigns:
            raise EngineError("state shares and budgets have different lengths")
        return state
