"""Optimization runs ("states") over time: creation, metrics, and exactly-once advancement.

Advancing a timestep writes two things: the history row of the finished timestep, keyed by
(state, timestep) under a unique index, then the state itself by compare-and-set on
`current_time` and its version. A retry after a crash between the two finds the history row
already there and completes the state update; two concurrent advances of one timestep cannot
both pass the compare-and-set, so exactly one wins and the other answers 409. A campaign
update that re-balances the state while its step is decided makes the step be decided again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine import EngineError, make_policy
from models.states import MetricsPost, StateCreate
from utils.crud import campaigns, history, metrics, states
from utils.crud.keys import timestep_key
from utils.db import Store, as_utc, public, utcnow
from utils.decisions import (
    Decision,
    DecisionPool,
    decide,
    decision_of,
    engine_state,
    engine_text,
    policy_for,
    refolded,
)
from utils.priors import PriorError, initial_engine

logger = logging.getLogger("oktopus.timesteps")

METRIC_FIELDS = ("spend", "impressions", "clicks", "conversions", "revenue")
_HIDDEN = ("engine", "events")


class StateConflict(Exception):
    """The state cannot be advanced now (completed, paused, or another call won)."""

    def __init__(self, detail: str, current_time: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.current_time = current_time


class InvalidRequest(Exception):
    """The request names things that do not fit this state: the API answers 422."""


class StateChanged(Exception):
    """The state was changed (re-balanced by a campaign update) between reading a timestep and
    writing its step: the step must be decided again on what is stored now."""


_ATTEMPTS = 3
# A correction's refold loses its compare-and-set only to another write of the state's engine
# in between (a `next`, a campaign re-balance, another correction's refold).
_REFOLD_ATTEMPTS = 10


def state_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The state document as the API returns it (engine internals left out)."""
    return public(doc, _HIDDEN)


def _due_at(start_at: datetime, hours: float, current_time: int, paused_ms: int = 0) -> datetime:
    """When timestep `current_time` ends: the run's clock, stopped while it was paused."""
    return as_utc(start_at) + timedelta(hours=hours * (current_time + 1), milliseconds=paused_ms)


def _clock(state: dict[str, Any], stopped: bool, now: datetime) -> dict[str, Any]:
    """Changes that stop or restart a run's clock. It stops while the state is paused or none
    of its campaigns is active (`paused_at`); on restart every due time moves on by the time
    it was stopped after the run began (`paused_ms`)."""
    since = state.get("paused_at")
    if stopped:
        return {} if since is not None else {"paused_at": now}
    if since is None:
        return {}
    since = max(as_utc(since), as_utc(state["start_at"]))
    paused_ms = state.get("paused_ms", 0) + max((now - since) // timedelta(milliseconds=1), 0)
    changes: dict[str, Any] = {"paused_at": None, "paused_ms": paused_ms}
    if state.get("next_due_at") is not None:
        changes["next_due_at"] = _due_at(
            state["start_at"], state["timestep_hours"], state["current_time"], paused_ms
        )
    return changes


def set_paused(store: Store, state: dict[str, Any], paused: bool) -> dict[str, Any] | None:
    """Pause or resume a state by compare-and-set on its version; None if it changed meanwhile.

    A pause stops the run's clock: on resume every due time moves later by the time spent
    paused, so the timestep in progress gets the rest of its time and no timestep ends
    unreported during the pause (cron would otherwise advance each, one run after another,
    counting its whole budget as spent).
    """
    now = utcnow()
    if paused:
        changes: dict[str, Any] = {"status": "paused", **_clock(state, stopped=True, now=now)}
    else:
        # Resumed with every campaign paused, its clock stays stopped until one resumes.
        idle = not any(_active_mask(store, state["client_id"], state["campaign_ids"]))
        changes = {"status": "active", **_clock(state, stopped=idle, now=now)}
    return states.compare_and_update(
        store,
        state["_id"],
        {"status": state["status"], "version": state["version"]},
        {"$set": {**changes, "updated_at": now}, "$inc": {"version": 1}},
    )


def _by_campaign(ids: list[str], values: list[float]) -> dict[str, float]:
    return {cid: float(v) for cid, v in zip(ids, values, strict=True)}


def _active_mask(store: Store, client_id: str, campaign_ids: list[str]) -> list[bool]:
    """Which of the campaigns are active (usually all: nothing is read)."""
    stopped = campaigns.inactive_ids(store, client_id, campaign_ids)
    return [cid not in stopped for cid in campaign_ids]


def _allocation_fields(decision: Decision, ids: list[str]) -> dict[str, Any]:
    return {
        "allocation": _by_campaign(ids, decision.shares),
        "budgets": _by_campaign(ids, decision.budgets),
        "timestep_budget": float(sum(decision.budgets)),
        "remaining": decision.remaining,
    }


def create_state(store: Store, client_id: str, body: StateCreate) -> dict[str, Any]:
    """Validate the run against the tenant's campaigns and the engine, then store it."""
    found = {c["_id"]: c for c in campaigns.of_client(store, client_id, body.campaign_ids)}
    unknown = [cid for cid in body.campaign_ids if cid not in found]
    if unknown:
        raise InvalidRequest(f"Unknown campaign ids: {', '.join(unknown)}")
    ordered = [found[cid] for cid in body.campaign_ids]
    active = [c.get("status", "active") == "active" for c in ordered]
    if sum(active) < 1:
        raise InvalidRequest("At least one of the campaigns must be active")
    seed = body.seed if body.seed is not None else secrets.randbelow(2**63)
    policy = make_policy(body.policy.name, body.policy.params)
    settings = {
        "budget": body.budget,
        "timesteps": body.timesteps,
        "step": body.step,
        "floor": body.floor,
        "objective": body.objective,
        "seed": seed,
        "min_budget": [c.get("min_budget") for c in ordered],
        "max_budget": [c.get("max_budget") for c in ordered],
    }
    try:
        initial, prior = initial_engine(store, client_id, body, ordered, policy, settings, active)
    except PriorError as error:
        raise InvalidRequest(str(error)) from error
    now = utcnow()
    start_at = as_utc(body.start_at) if body.start_at else now
    start_at = start_at.replace(microsecond=start_at.microsecond // 1000 * 1000)
    doc = {
        "client_id": client_id,
        "name": body.name,
        "status": "active",
        "campaign_ids": body.campaign_ids,
        "current_time": 0,
        "timesteps": body.timesteps,
        "timestep_hours": body.timestep_hours,
        "budget": body.budget,
        "policy": {"name": body.policy.name, "params": body.policy.params},
        "objective": body.objective,
        "step": body.step,
        "floor": body.floor,
        "seed": seed,
        "start_at": start_at,
        "next_due_at": _due_at(start_at, body.timestep_hours, 0),
        "engine": engine_text(initial),
        "prior": prior,
        "version": 0,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
        **_allocation_fields(decision_of(initial), body.campaign_ids),
    }
    return states.insert(store, doc)


@dataclass(frozen=True)
class Recorded:
    """What storing a timestep's metrics did: whether they were a late correction, and whether
    the state's engine must be refolded for the engine to have seen them."""

    correction: bool
    refold: bool
    written: int


def record_metrics(store: Store, state: dict[str, Any], body: MetricsPost) -> bool:
    """`store_metrics`, then the refold it calls for, in this thread; True for a correction."""
    recorded = store_metrics(store, state, body)
    if recorded.refold:
        refold_engine(store, state)
    return recorded.correction


def store_metrics(store: Store, state: dict[str, Any], body: MetricsPost) -> Recorded:
    """Store a timestep's metrics (replacing earlier rows of the same campaign).

    A finished timestep's rows are a late correction, which its history row shows from then on
    (history reads metrics where they are stored, see `history_rows`), and which the state's
    engine must be refolded for (`refold_engine`), unless the run is completed or the rows are
    the ones it has seen. Everything is checked before anything is written, so a rejected
    request stores nothing.

    Rows of the current timestep move the state's version on: a `next` deciding it meanwhile
    on the rows it read before then loses its compare-and-set and decides again with these,
    so what is answered as counting (not a correction) reaches the engine. When the timestep
    finished between the state's read and that bump, the rows are a correction after all.
    """
    ids = set(state["campaign_ids"])
    unknown = [row.campaign_id for row in body.metrics if row.campaign_id not in ids]
    if unknown:
        raise InvalidRequest(f"Campaigns not in this state: {', '.join(unknown)}")
    check_timestep_ran(state, body.timestep)
    if body.timestep < state["current_time"] and state.get("events"):
        # A run whose campaigns changed: a finished timestep's rows are those of its campaigns.
        had = history.budgets_at(store, state["_id"], body.timestep) or ids
        outside = [row.campaign_id for row in body.metrics if row.campaign_id not in had]
        if outside:
            raise InvalidRequest(
                f"Campaigns not in this state at timestep {body.timestep}: {', '.join(outside)}"
            )
    now = utcnow()
    rows = {row.campaign_id: row.model_dump(exclude={"campaign_id"}) for row in body.metrics}
    correction = body.timestep < state["current_time"]
    if correction:
        # A finished timestep's row posted again as it was is no correction: history would
        # mark the timestep corrected (by `recorded_at`) although nothing changed.
        stored = metrics.rows_of(store, state["_id"], body.timestep)
        rows = {
            cid: row
            for cid, row in rows.items()
            if {k: v for k, v in stored.get(cid, {}).items() if k != "recorded_at"} != row
        }
        if not rows:
            # Unchanged, yet maybe never folded in: a refold that lost every compare-and-set
            # (409) or a crash after the rows were stored. Posting them again refolds, which
            # writes nothing when the engine had them already.
            return Recorded(correction, state["status"] != "completed", 0)
    metrics.save_rows(store, state, body.timestep, rows, now)
    if not correction:
        correction = not states.compare_and_set(
            store, state["_id"], {"current_time": body.timestep}, {"$inc": {"version": 1}}
        )
    return Recorded(correction, correction and state["status"] != "completed", len(rows))


@dataclass(frozen=True)
class PendingRefold:
    """What refolding a state reads from the store: the engine refolds it, anywhere."""

    state: dict[str, Any]
    observations: list[dict[str, list]]
    planned: list[list[float]]
    retired: float = 0.0


def refold_engine(store: Store, state: dict[str, Any]) -> None:
    """A running state's engine refolded from every finished timestep's metrics as stored now
    (engine `Policy.refold`), in this thread: corrected spend re-paces the budget left,
    corrected numbers are learnt from at the next decision. Written by compare-and-set
    (`commit_refold`); a state whose engine changed meanwhile is read again and refolded
    afresh, so the engine written last was refolded from rows read after every correction
    that came before it. A completed run has nothing left to pace or decide, and keeps its
    engine as it ended."""
    pending = None
    for _ in range(_REFOLD_ATTEMPTS):
        pending = pending_refold(store, state["_id"])
        if pending is None:
            return
        step = pending.state
        decision = refolded(
            step["policy"], step["engine"], pending.observations, pending.planned, pending.retired
        )
        if commit_refold(store, pending, decision):
            return
    raise _refold_conflict(pending.state if pending else state)


async def refold_served(store: Store, pool: DecisionPool, state: dict[str, Any]) -> None:
    """`refold_engine` for an API request: the refold made in the pool's workers between one
    store call that reads and one that writes (or, with no workers, all of it in one store
    call), as `advance_served` does for a decision: a long run's refold holds up no other
    request."""
    if not pool.workers:
        await store.call(lambda: refold_engine(store, state))
        return
    pending = None
    for _ in range(_REFOLD_ATTEMPTS):
        pending = await store.call(functools.partial(pending_refold, store, state["_id"]))
        if pending is None:
            return
        step = pending.state
        decision = await pool.refold(
            step["policy"], step["engine"], pending.observations, pending.planned, pending.retired
        )
        if await store.call(functools.partial(commit_refold, store, pending, decision)):
            return
    raise _refold_conflict(pending.state if pending else state)


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
    reported = {t: by_key.get(key, {}) for t, key in enumerate(keys)}
    ids = state["campaign_ids"]
    if any(not decided.get(t) for t in range(finished)):
        raise StateConflict(
            "The metrics are recorded, but the state's history lacks a finished timestep's "
            "budgets, so they cannot be folded into its engine",
            finished,
        )
    # A timestep's campaigns are those its budgets name: campaigns added later observed
    # nothing then (planned 0), campaigns removed since spent what they spent (`retired`).
    observations, retired = [], 0.0
    for t in range(finished):
        rows = {cid: row for cid, row in reported.get(t, {}).items() if cid in decided[t]}
        observations.append(_observations(state, _campaign_rows(ids, rows)))
        for cid in set(decided[t]) - set(ids):
            spend = rows.get(cid, {}).get("spend")
            retired += decided[t][cid] if spend is None else spend
    return PendingRefold(
        state=state,
        observations=observations,
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
    fields = _allocation_fields(decision, state["campaign_ids"])
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


def check_timestep_ran(state: dict[str, Any], timestep: int) -> None:
    """InvalidRequest unless `timestep` has started (the current one, or a finished one)."""
    if state["status"] == "completed":
        # A run ends after its last timestep or, earlier, when its budget is spent: either
        # way the timesteps it finished are all there is.
        last = state["current_time"] - 1
        if timestep > last:
            raise InvalidRequest(
                f"timestep {timestep} never ran: the state completed after timestep {last}"
            )
    elif timestep > state["current_time"]:
        raise InvalidRequest(
            f"timestep {timestep} has not started: the current timestep is {state['current_time']}"
        )


def metric_rows(store: Store, state: dict[str, Any], timestep: int) -> dict[str, Any]:
    """Reported metrics of one timestep per campaign, None where nothing was reported.

    One document per (state, timestep) holds every campaign's row, so reading a timestep is
    one lookup by key and reporting 20 campaigns one write."""
    return _campaign_rows(state["campaign_ids"], metrics.rows_of(store, state["_id"], timestep))


def _campaign_rows(campaign_ids: list[str], reported: dict[str, Any]) -> dict[str, Any]:
    return {
        cid: {k: reported[cid].get(k) for k in METRIC_FIELDS} if cid in reported else None
        for cid in campaign_ids
    }


def history_rows(
    store: Store, state: dict[str, Any], docs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """History documents with their timesteps' metrics as reported now, in one more query.

    A history document records the decision (shares, budgets, when); the metrics stay where
    they were reported, so a late correction shows in history without rewriting it, and
    advancing writes a small document. A row reported after the decision read its timestep
    (a late correction) sets `corrected_at`.
    """
    events: dict[int, list[dict[str, Any]]] = {}
    for event in state.get("events", []):
        events.setdefault(event["timestep"], []).append(event)
    reported = metrics.rows_by_key(store, [doc["_id"] for doc in docs])
    rows = []
    for doc in docs:
        found = reported.get(doc["_id"], {})
        # The campaigns the timestep had: a campaign removed since stays in its history.
        campaign_rows = _campaign_rows(list(doc.get("budgets") or state["campaign_ids"]), found)
        decided_at = as_utc(doc["decided_at"])
        late = [
            as_utc(row["recorded_at"])
            for row in found.values()
            if row.get("recorded_at") is not None and as_utc(row["recorded_at"]) > decided_at
        ]
        rows.append(
            {
                **doc,
                "metrics": campaign_rows,
                "unobserved": [cid for cid, row in campaign_rows.items() if row is None],
                "reward": _reward(state["objective"], campaign_rows),
                "corrected_at": max(late, default=None),
                "events": events.get(doc["timestep"], []),
            }
        )
    return rows


def _reward(objective: str, rows: dict[str, Any]) -> float | None:
    observed = [r for r in rows.values() if r is not None]
    if objective == "profit":
        values = [r["revenue"] - r["spend"] for r in observed if r.get("revenue") is not None]
    else:
        values = [r[objective] for r in observed if r.get(objective) is not None]
    return float(sum(values)) if values else None


def _observations(state: dict[str, Any], rows: dict[str, Any]) -> dict[str, list]:
    return {
        field: [
            None if rows[cid] is None else rows[cid].get(field) for cid in state["campaign_ids"]
        ]
        for field in METRIC_FIELDS
    }


@dataclass(frozen=True)
class PendingStep:
    """What advancing a state reads from the store: the engine decides on it, anywhere."""

    state: dict[str, Any]
    observations: dict[str, list]
    active: list[bool]
    read_at: datetime


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
    active = _active_mask(store, state["client_id"], state["campaign_ids"])
    if not any(active):
        raise StateConflict("Every campaign of this state is paused or stopped: resume one", t)
    return PendingStep(state, _observations(state, rows), active, read_at)


def commit_step(store: Store, step: PendingStep, decision: Decision) -> dict[str, Any]:
    """Write the finished timestep's history row, then the state by compare-and-set.

    Both writes name the state version the step was decided on. The history row is written
    unless a row from a later version of the state is already there (a plain insert when there
    is none, the usual case and the cheapest write), so a call that read the
    state before a campaign update re-balanced it cannot overwrite the re-balanced shares; the
    compare-and-set fails if the state changed at all, and StateChanged says to decide again
    when it was re-balanced rather than advanced.
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
        else _due_at(state["start_at"], state["timestep_hours"], t + 1, state.get("paused_ms", 0)),
        "completed_at": now if done else None,
        "updated_at": now,
        **_allocation_fields(decision, state["campaign_ids"]),
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
            raise StateConflict("The state was deleted", t)
        if current["current_time"] == t and current["status"] == "active":
            raise StateChanged(f"state {state['_id']} changed while timestep {t} was decided")
        if current["current_time"] == t and current["status"] == "paused":
            raise StateConflict("The state was paused", t)
        now_at = current["current_time"]
        raise StateConflict(f"Timestep {t} was already advanced; current_time is {now_at}", now_at)
    return {**state, **changes, "version": version + 1}


def _decide_on(step: PendingStep) -> Decision:
    state = step.state
    return decide(state["policy"], state["engine"], step.observations, step.active)


def advance(
    store: Store, state: dict[str, Any], expected_time: int | None = None
) -> dict[str, Any]:
    """Feed timestep `current_time`'s metrics to the engine and move to the next timestep."""
    for attempt in range(_ATTEMPTS):
        step = pending_step(store, state, expected_time)
        try:
            return commit_step(store, step, _decide_on(step))
        except StateChanged as error:
            if attempt == _ATTEMPTS - 1:
                raise _changed_too_often(step) from error
            expected_time = step.state["current_time"]
            state = _reloaded(store, step.state)
    raise AssertionError("unreachable")


def _reloaded(store: Store, state: dict[str, Any]) -> dict[str, Any]:
    fresh = states.get_owned(store, {"client_id": state["client_id"]}, state["_id"])
    if fresh is None:
        raise StateConflict("The state was deleted", state["current_time"])
    return fresh


def _changed_too_often(step: PendingStep) -> StateConflict:
    t = step.state["current_time"]
    return StateConflict(f"The state kept changing while timestep {t} was decided: retry", t)


async def advance_served(
    store: Store,
    pool: DecisionPool,
    load: Callable[[], dict[str, Any]],
    expected_time: int | None = None,
) -> dict[str, Any]:
    """`advance` for an API request: the state `load` finds, advanced with its decision made
    in the pool's workers between one store call that reads and one that writes (or, with no
    workers, all of it in one store call)."""
    if not pool.workers:
        return await store.call(lambda: advance(store, load(), expected_time))
    for attempt in range(_ATTEMPTS):
        step = await store.call(functools.partial(_read_step, store, load, expected_time))
        state = step.state
        decision = await pool.decide(
            state["policy"], state["engine"], step.observations, step.active
        )
        try:
            return await store.call(functools.partial(commit_step, store, step, decision))
        except StateChanged as error:
            if attempt == _ATTEMPTS - 1:
                raise _changed_too_often(step) from error
            expected_time = state["current_time"]
    raise AssertionError("unreachable")


def _read_step(
    store: Store, load: Callable[[], dict[str, Any]], expected_time: int | None
) -> PendingStep:
    return pending_step(store, load(), expected_time)


def rebalanced_states(
    store: Store, campaign: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every running state using `campaign` (as it is about to be stored), with its current
    timestep re-balanced to the campaign's status and per-timestep bounds. Writes nothing.

    InvalidRequest, naming the states, when the campaign's new bounds cannot hold with a
    state's budget. A state none of whose campaigns is active any more spends nothing until
    one is resumed.
    """
    client_id, campaign_id = campaign["client_id"], campaign["_id"]
    planned, refused = [], []
    for state in states.running_with(store, client_id, campaign_id):
        index = state["campaign_ids"].index(campaign_id)
        active = _active_mask(store, client_id, state["campaign_ids"])
        active[index] = campaign.get("status", "active") == "active"
        stored = engine_state(state["engine"])
        bounds = {key: [*stored["settings"][key]] for key in ("min_budget", "max_budget")}
        for key, values in bounds.items():
            values[index] = campaign.get(key)
        policy = policy_for(state["policy"])
        try:
            planned.append((state, policy.rebalance(stored, active, **bounds)))
        except EngineError as error:
            refused.append(f"state {state.get('name') or state['_id']}: {error}")
    if refused:
        raise InvalidRequest("The campaign's budget bounds cannot hold in " + "; ".join(refused))
    return planned


def save_rebalanced(
    store: Store,
    campaign: dict[str, Any],
    planned: list[tuple[dict[str, Any], dict[str, Any]]],
) -> int:
    """Store re-balanced states; one another call changed meanwhile is re-balanced afresh.
    A running state left with no active campaign stops its clock until one is resumed."""
    count = 0
    for state, rebalanced in planned:
        for _ in range(3):
            now = utcnow()
            idle = not any(rebalanced["active"]) or state["status"] == "paused"
            updated = states.compare_and_update(
                store,
                state["_id"],
                {"version": state["version"]},
                {
                    "$set": {
                        "engine": engine_text(rebalanced),
                        "updated_at": now,
                        **_allocation_fields(decision_of(rebalanced), state["campaign_ids"]),
                        **_clock(state, stopped=idle, now=now),
                    },
                    "$inc": {"version": 1},
                },
            )
            if updated is not None:
                count += 1
                break
            fresh = rebalanced_states(store, campaign)
            again = [pair for pair in fresh if pair[0]["_id"] == state["_id"]]
            if not again:
                break
            state, rebalanced = again[0]
    return count


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


def _outcome(rows: list[tuple[str, dict[str, Any]]]) -> dict[str, list]:
    outcome: dict[str, list] = {"advanced": [], "skipped": [], "errors": []}
    for key, row in rows:
        outcome[key].append(row)
    return outcome


def run_due(store: Store, tenant_filter: dict[str, Any], limit: int = 10_000) -> dict[str, list]:
    """Advance every active state whose current timestep has ended, once each.

    A state another run advanced meanwhile is reported as skipped; one state's failure is
    reported in `errors` and does not stop the others.
    """
    rows = []
    for due in _due(store, tenant_filter, limit):
        t = due["current_time"]
        try:
            # One store call per state: its reads, engine step and writes run together on
            # the embedded store's thread, and other requests get their turn between states.
            updated = store.run(lambda due=due, t=t: advance(store, _load_due(store, due), t))
        except Exception as error:
            rows.append(_outcome_row(due, t, None, error))
        else:
            rows.append(_outcome_row(due, t, updated, None))
    return _outcome(rows)


async def run_due_served(
    store: Store, pool: DecisionPool, tenant_filter: dict[str, Any], limit: int = 10_000
) -> dict[str, list]:
    """`run_due` for the API: with decision workers, states advance side by side (eight per
    worker: enough to hide the hand-overs' latency), so the workers decide some while the
    store's thread reads and writes others, and the API process keeps serving requests in
    between."""
    due = await store.call(lambda: _due(store, tenant_filter, limit))
    slots = asyncio.Semaphore(8 * pool.workers or 1)

    async def attempt(state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        t = state["current_time"]
        async with slots:
            try:
                load = functools.partial(_load_due, store, state)
                updated = await advance_served(store, pool, load, expected_time=t)
            except Exception as error:
                return _outcome_row(state, t, None, error)
        return _outcome_row(state, t, updated, None)

    return _outcome(list(await asyncio.gather(*(attempt(state) for state in due))))
