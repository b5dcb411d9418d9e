"""Late corrections reach a running state's engine: its engine refolded from every finished
timestep's metrics as stored now (engine `Policy.refold`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.states import MetricsPost
from utils.crud import history, metrics, states
from utils.crud.keys import timestep_key
from utils.db import Store, utcnow
from utils.decisions import Decision, DecisionPool
from utils.timesteps.driver import RETRY, read_decide_commit
from utils.timesteps.errors import StateConflict
from utils.timesteps.reports import campaign_rows, observations, store_metrics
from utils.timesteps.runs import allocation_fields

# A correction's refold loses its compare-and-set only to another write of the state's engine
# in between (a `next`, a campaign re-balance, another correction's refold).
_REFOLD_ATTEMPTS = 10


@dataclass(frozen=True)
class PendingRefold:
    """What refolding a state reads from the store: the engine refolds it, anywhere."""

    state: dict[str, Any]
    observations: list[dict[str, list]]
    planned: list[list[float]]
    retired: float = 0.0


async def record_metrics(
    store: Store, pool: DecisionPool, state: dict[str, Any], body: MetricsPost
) -> bool:
    """`store_metrics`, then the refold it calls for; True for a correction."""
    recorded = await store.call(lambda: store_metrics(store, state, body))
    if recorded.refold:
        await refold(store, pool, state)
    return recorded.correction


async def refold(store: Store, pool: DecisionPool, state: dict[str, Any]) -> None:
    """Refold a running state's engine from every finished timestep's metrics as stored now:
    corrected spend re-paces the budget left, corrected numbers are learnt from at the next
    decision. Written by compare-and-set (`commit_refold`); a state whose engine changed
    meanwhile is read again and refolded afresh, so the engine written last was refolded from
    rows read after every correction that came before it. A completed run has nothing left
    to pace or decide, and keeps its engine as it ended."""

    async def decide(pending: PendingRefold) -> Decision:
        s = pending.state
        return await pool.refold(
            s["policy"], s["engine"], pending.observations, pending.planned, pending.retired
        )

    def commit(pending: PendingRefold, decision: Decision) -> Any:
        return True if commit_refold(store, pending, decision) else RETRY

    await read_decide_commit(
        store,
        lambda: pending_refold(store, state["_id"]),
        decide,
        commit,
        _REFOLD_ATTEMPTS,
        lambda pending: _refold_conflict(pending.state if pending else state),
    )


def _refold_conflict(state: dict[str, Any]) -> StateConflict:
    return StateConflict(
        "The metrics are recorded, but the state kept changing while they were folded into "
        "its engine: post the same rows again to retry",
        state["current_time"],
    )


def pending_refold(store: Store, state_id: str) -> PendingRefold | None:
    """The state as it is now (a caller's copy may predate a `next` that finished a timestep)
    and every finished timestep's budgets and metrics; None when there is nothing to refold:
    the state was deleted, has completed, or has finished no timestep."""
    state = states.get(store, state_id)
    if state is None or state["status"] == "completed" or state["current_time"] == 0:
        return None
    finished = state["current_time"]
    decided = history.budgets_by_timestep(store, state_id, finished)
    keys = [timestep_key(state_id, t) for t in range(finished)]
    by_key = metrics.rows_by_key(store, keys)
    ids = state["campaign_ids"]
    if any(not decided.get(t) for t in range(finished)):
        raise StateConflict(
            "The metrics are recorded, but the state's history lacks a finished timestep's "
            "budgets, so they cannot be folded into its engine",
            finished,
        )
    # A timestep's campaigns are those its budgets name: campaigns added later observed
    # nothing then (planned 0), campaigns removed since spent what they spent (`retired`).
    observed, retired = [], 0.0
    for t, key in enumerate(keys):
        rows = {cid: row for cid, row in by_key.get(key, {}).items() if cid in decided[t]}
        observed.append(observations(state, campaign_rows(ids, rows)))
        for cid in set(decided[t]) - set(ids):
            spend = rows.get(cid, {}).get("spend")
            retired += decided[t][cid] if spend is None else spend
    return PendingRefold(
        state=state,
        observations=observed,
        planned=[[decided[t].get(cid, 0.0) for cid in ids] for t in range(finished)],
        retired=retired,
    )


def commit_refold(store: Store, pending: PendingRefold, decision: Decision) -> bool:
    """Write a refolded engine; False when what it was refolded from changed meanwhile.

    The compare-and-set is on what a refold depends on: the finished timesteps
    (`current_time`) and the engine they were folded into, which every other writer of an
    engine (`next`, a re-balance, another refold) changes. Reports for the timestep in
    progress bump the state's version but leave the refold valid. The version is bumped all
    the same, so a `next` that read the state before decides again on the refolded one. An
    engine that comes out as it was (the rows were folded in already) is not written.
    """
    state = pending.state
    fields = allocation_fields(decision, state["campaign_ids"])
    if decision.engine == state["engine"] and all(state.get(k) == v for k, v in fields.items()):
        return True
    return states.compare_and_set(
        store,
        state["_id"],
        {"current_time": state["current_time"], "engine": state["engine"]},
        {
            "$set": {"engine": decision.engine, **fields, "updated_at": utcnow()},
            "$inc": {"version": 1},
        },
    )
