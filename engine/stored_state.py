"""A run state read back: checked, copied and brought to the current version before a step.

A state is a JSON-able dict its caller keeps between steps, so every step loads it again: a
corrupted one fails with EngineError rather than a wrong allocation, and the copy shares nothing
mutable with the caller's. A version 1 state kept every observation; loading folds them into the
policy's statistics instead, one timestep after the other, the same folding a refold of late
corrections runs (`StoredState._folded`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from engine.errors import EngineError
from engine.settings import METRICS, validate_progress, validate_settings

STATE_VERSION = 2
_STATE_KEYS = frozenset(
    {"version", "policy", "params", "settings", "t", "remaining", "spent", "shares", "budgets"}
    | {"timestep_budget", "active", "previous_shares", "done", "rng", "stats"}
)


def _finite_numbers(values: object) -> bool:
    """Whether `values` are all finite numbers (fsum: one C loop, where a check per item
    would triple what loading a state costs)."""
    try:
        return math.isfinite(math.fsum(values))
    except (TypeError, ValueError, OverflowError):
        return False


def _copied(state: Mapping) -> dict:
    """A copy of a state sharing nothing mutable with it (cheaper than copy.deepcopy)."""
    copied = dict(state)
    for key in ("shares", "budgets", "active"):
        copied[key] = list(state[key])
    if state["previous_shares"] is not None:
        copied["previous_shares"] = list(state["previous_shares"])
    copied["rng"] = dict(state["rng"])
    return copied


class StoredState:
    """Mixin of `Policy` (engine.framework): loading a stored state, and folding recorded
    timesteps into the policy's statistics. Relies on the policy's `initial_stats`,
    `update_stats` and `_context`."""

    name: ClassVar[str]
    params: dict

    def _load(self, state: Mapping) -> dict:
        """A deep copy of a state checked enough that a corrupted one fails with EngineError."""
        if not isinstance(state, Mapping):
            raise EngineError("state must be an object")
        if state.get("version") == 1:
            state = self._from_version_1(state)
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
        state["t"], state["spent"], state["remaining"] = validate_progress(
            state["t"], state["spent"], state["remaining"], state["settings"]
        )
        state["params"] = copy.deepcopy(self.params)
        for key in ("budgets", "previous_shares"):
            if state[key] is not None and len(state[key]) != n_campaigns:
                raise EngineError(f"state shares and {key} have different lengths")
        for key in ("shares", "budgets", "previous_shares"):
            if state[key] is not None and not _finite_numbers(state[key]):
                raise EngineError(f"state {key} must hold finite numbers only")
        for key in ("shares", "previous_shares"):
            if state[key] is not None and not all(0.0 <= x <= 1.0 + 1e-9 for x in state[key]):
                raise EngineError(f"state {key} must lie between 0 and 1")
        if min(state["budgets"], default=0.0) < 0:
            raise EngineError("state budgets must not be negative")
        return state

    def _from_version_1(self, state: Mapping) -> dict:
        """A version 1 state (which kept every observation) with its observations folded into
        this policy's statistics instead, one timestep after the other, as if learned live."""
        try:
            n_campaigns = len(state["shares"])
            settings = validate_settings(state["settings"], n_campaigns)
            rows = {
                metric: np.array(state["history"][metric], dtype=float)
                for metric in (*METRICS, "planned")
            }
            shares = np.array(state["shares"], dtype=float)
            stats = self._folded(rows, int(state["t"]), settings, shares)
        except EngineError:
            raise
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EngineError(f"version 1 state is malformed: {exc!r}") from exc
        kept = {key: value for key, value in state.items() if key != "history"}
        return {**kept, "version": STATE_VERSION, "stats": stats}

    def _folded(
        self,
        table: Mapping[str, np.ndarray],
        timesteps: int,
        settings: dict,
        shares: np.ndarray,
        base: dict | None = None,
    ) -> dict | None:
        """This policy's statistics of the first `timesteps` rows of `table` (metric -> (T, K)),
        folded one timestep after the other from `base` (default `initial_stats`), as if
        learned live. `update_stats` reads only the observations, so the bounds and shares its
        context also holds are placeholders."""
        n_campaigns = shares.size
        stats = self.initial_stats(n_campaigns, settings) if base is None else base
        mask = np.full(n_campaigns, True)
        lower, upper = np.zeros(n_campaigns), np.ones(n_campaigns)
        for t in range(timesteps):
            observed = {metric: rows[t].copy() for metric, rows in table.items()}
            learned = {"t": t + 1, "settings": settings}
            context = self._context(learned, observed, mask, shares.copy(), lower, upper, 0.0)
            stats = self.update_stats(stats, context)
        return stats
