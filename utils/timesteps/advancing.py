"""Advancing a run by one timestep (`next`), exactly once.

Advancing writes two things: the history row of the finished timestep, keyed by
(state, timestep), then the state itself by compare-and-set on `current_time` and its
version. A retry after a crash between the two finds the history row already there and
completes the state update; two concurrent advances of one timestep cannot both pass the
compare-and-set, so exactly one wins and the other answers 409. A campaign update that
re-balances the state while its step is decided makes the step be decided again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from utils.crud import history, states
from utils.db import Store, utcnow
from utils.decisions import Decision, DecisionPool
from utils.timesteps.driver import RETRY, read_decide_commit
from utils.timesteps.errors import StateChanged, StateConflict
from utils.timesteps.reports import metric_rows, observations
from utils.timesteps.runs import active_mask, allocation_fields, due_at, forget_writes_of

logger = logging.getLogger("oktopus.timesteps")

_ATTEMPTS = 3


@dataclass(frozen=True)
class PendingStep:
    """What advancing a state reads from the store: the engine decides on it, anywhere."""

    state: dict[str, Any]
    observations: dict[str, list]
    active: list[bool]
    read_at: datetime


async def advance(
    store: Store,
    pool: DecisionPool,
    load: Callable[[], dict[str, Any]],
    expected_time: int | None = None,
) -> dict[str, Any]:
    """Feed the current timestep's metrics of the state `load` reads to its engine, and move
    it to the next timestep; the state as stored after.

    `load` runs in the read's store call, each attempt: a step the commit finds re-balanced
    meanwhile is decided again on the state as stored then, for the same timestep.
    """
    expected = [expected_time]

    def read() -> PendingStep:
        return pending_step(store, load(), expected[0])

    async def decide(step: PendingStep) -> Decision:
        s = step.state
        return await pool.decide(s["policy"], s["engine"], step.observations, step.active)

    def commit(step: PendingStep, decision: Decision) -> Any:
        try:
            return commit_step(store, step, decision)
        except StateChanged:
            expected[0] = step.state["current_time"]
            return RETRY

    def changed_too_often(step: PendingStep | None) -> StateConflict:
        t = step.state["current_time"] if step else -1
        return StateConflict(f"The state kept changing while timestep {t} was decided: retry", t)

    return await read_decide_commit(store, read, decide, commit, _ATTEMPTS, changed_too_often)


def pending_step(
    store: Store, state: dict[str, Any], expected_time: int | None = None
) -> PendingStep:
    """Check that the state can advance now, and read its current timestep's metrics."""
    t = state["current_time"]
    if state["status"] == "completed":
        raise StateConflict("The state is completed", t)
    if state["status"] == "paused":
        raise StateConflict("The state is paused: resume it first", t)
    if expected_time is not None and expected_time != t:
        raise StateConflict(f"current_time is {t}, not {expected_time}", t)
    read_at = utcnow()
    rows = metric_rows(store, state, t)
    active = active_mask(store, state["client_id"], state["campaign_ids"])
    if not any(active):
        raise StateConflict("Every campaign of this state is paused or stopped: resume one", t)
    return PendingStep(state, observations(state, rows), active, read_at)


def commit_step(store: Store, step: PendingStep, decision: Decision) -> dict[str, Any]:
    """Write the finished timestep's history row, then the state by compare-and-set.

    Both writes name the state version the step was decided on. The history row is written
    unless a row from a later version of the state is already there, so a call that read the
    state before a campaign update re-balanced it cannot overwrite the re-balanced shares; the
    compare-and-set fails if the state changed at all, and StateChanged says to decide again
    when it was re-balanced rather than advanced. A state deleted meanwhile loses the row
    written for it (StateConflict).
    """
    state, t, version = step.state, step.state["current_time"], step.state["version"]
    decided = {
        "allocation": state["allocation"],
        "budgets": state["budgets"],
        "decided_at": step.read_at,
        "version": version,
    }
    # A retry, or a step decided again after a re-balance, rewrites the row unless a later
    # version of the state wrote it.
    if not history.write_decided(store, state, t, decided):
        logger.info("History of state %s timestep %d is of a later version", state["_id"], t)
    now = utcnow()
    done = decision.done
    changes = {
        "engine": decision.engine,
        "current_time": t + 1,
        "status": "completed" if done else "active",
        "next_due_at": None
        if done
        else due_at(state["start_at"], state["timestep_hours"], t + 1, state.get("paused_ms", 0)),
        "completed_at": now if done else None,
        "updated_at": now,
        **allocation_fields(decision, state["campaign_ids"]),
    }
    advanced = states.compare_and_set(
        store,
        state["_id"],
        {"current_time": t, "status": "active", "version": version},
        {"$set": changes, "$inc": {"version": 1}},
    )
    if not advanced:
        current = states.get(store, state["_id"])
        if current is None:
            forget_writes_of(store, state["_id"])
            raise StateConflict("The state was deleted", t)
        if current["current_time"] == t and current["status"] == "active":
            raise StateChanged(f"state {state['_id']} changed while timestep {t} was decided")
        if current["current_time"] == t and current["status"] == "paused":
            raise StateConflict("The state was paused", t)
        now_at = current["current_time"]
        raise StateConflict(f"Timestep {t} was already advanced; current_time is {now_at}", now_at)
    return {**state, **changes, "version": version + 1}
