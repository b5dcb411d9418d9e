"""Due runs for cron: advance every active state whose current timestep has ended, once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from engine import EngineError
from utils.crud import states
from utils.db import Store, as_utc, utcnow
from utils.decisions import DecisionPool
from utils.timesteps.advancing import advance
from utils.timesteps.errors import InvalidRequest, StateConflict

logger = logging.getLogger("oktopus.timesteps")

# States advanced side by side per decision worker: enough to hide the hand-overs' latency.
_PER_WORKER = 8


async def run_due(
    store: Store, pool: DecisionPool, tenant_filter: dict[str, Any], limit: int = 10_000
) -> dict[str, list]:
    """Advance every active state whose current timestep has ended, once each.

    A state another run advanced meanwhile is reported as skipped; one state's failure is
    reported in `errors` and does not stop the others. With decision workers, states advance
    side by side, so the workers decide some while the store reads and writes others, and
    the API process keeps serving requests in between; with none, one after another.
    """
    due = await store.call(lambda: _due(store, tenant_filter, limit))
    slots = asyncio.Semaphore(_PER_WORKER * pool.workers or 1)

    async def attempt(listed: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        t = listed["current_time"]
        async with slots:
            try:
                updated = await advance(
                    store, pool, lambda: _load_due(store, listed), expected_time=t
                )
            except Exception as error:
                return _outcome_row(listed, t, None, error)
        return _outcome_row(listed, t, updated, None)

    rows = await asyncio.gather(*(attempt(listed) for listed in due))
    outcome: dict[str, list] = {"advanced": [], "skipped": [], "errors": []}
    for key, row in rows:
        outcome[key].append(row)
    return outcome


def _due(store: Store, tenant_filter: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Ids and timesteps of the due states, most overdue first: each state's document is
    read only at its turn, so a run over thousands of states never holds them all."""
    return states.due(store, tenant_filter, utcnow(), limit)


def _load_due(store: Store, due: dict[str, Any]) -> dict[str, Any]:
    """A due state read again at its turn in a cron run, which may come long after the run
    listed it: one paused and resumed meanwhile got its stopped time back and is not due."""
    state = states.get(store, due["_id"])
    if state is None:
        raise StateConflict("The state was deleted", due["current_time"])
    next_due_at = state.get("next_due_at")
    same_step = state["status"] == "active" and state["current_time"] == due["current_time"]
    if same_step and next_due_at is not None and as_utc(next_due_at) > utcnow():
        raise StateConflict(
            "Its timestep is no longer due: the run's clock was stopped meanwhile",
            state["current_time"],
        )
    return state


def _outcome_row(
    state: dict[str, Any], t: int, updated: dict[str, Any] | None, error: Exception | None
) -> tuple[str, dict[str, Any]]:
    """Where a state's attempt goes in a cron run's answer, and what it says there."""
    row = {"id": state["_id"], "timestep": t}
    if error is None and updated is not None:
        return "advanced", {**row, "status": updated["status"]}
    if isinstance(error, StateConflict):
        return "skipped", {**row, "reason": error.detail}
    if isinstance(error, EngineError | InvalidRequest):
        return "errors", {**row, "detail": str(error)}
    logger.error("Advancing state %s failed", state["_id"], exc_info=error)
    return "errors", {**row, "detail": "internal error"}
