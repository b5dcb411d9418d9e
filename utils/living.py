"""Living runs: edit a running state (PATCH), its events, and its learnt curves.

An edit is one compare-and-set on the state's version, writing the new engine (resized and
retuned by engine.amend, its current timestep re-paced at once), the new settings and the
event that records it, all in one document update: a lost race (another edit, a `next`, a
campaign update, a late correction) answers 409 with the current version and writes nothing.
Events live in the state document (`events`), listed newest first and shown in history.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from engine import EngineError, Policy
from engine.amend import RETUNABLE, resize, retune
from models.living import StatePatch
from utils.crud import campaigns, states
from utils.db import Store, new_id, utcnow
from utils.decisions import (
    READOUTS,
    DecisionPool,
    decision_of,
    engine_state,
    engine_text,
    policy_for,
)
from utils.timesteps.errors import InvalidRequest, StateConflict
from utils.timesteps.runs import active_mask, allocation_fields, clock


class VersionConflict(Exception):
    """The state is not (or no longer) at the version the edit was made on: 409."""

    def __init__(self, detail: str, version: int | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.version = version


def _changed(old: Any, new: Any) -> dict[str, Any]:
    return {"from": old, "to": new}


def amend_state(store: Store, state: dict[str, Any], body: StatePatch, by: str) -> dict[str, Any]:
    """The state with `body` applied, written by compare-and-set with the event recording it
    (see the module). InvalidRequest (422) for what the run cannot take, VersionConflict or
    StateConflict (409) for a state that moved on or completed."""
    version = state["version"]
    if state["status"] == "completed":
        raise StateConflict(
            "The state is completed: it can no longer change", state["current_time"]
        )
    if body.version is not None and body.version != version:
        raise VersionConflict(f"The state is at version {version}, not {body.version}", version)
    sent = body.model_dump(exclude_unset=True, exclude={"version"})
    nulls = sorted(key for key, value in sent.items() if value is None and key != "name")
    if nulls:
        raise InvalidRequest(f"These fields cannot be null: {', '.join(nulls)}")
    if not sent:
        raise InvalidRequest("Nothing to change: send at least one field")
    policy = policy_for(state["policy"])
    engine = engine_state(state["engine"])
    ids = state["campaign_ids"]
    changes: dict[str, dict[str, Any]] = {}
    fields: dict[str, Any] = {}
    new_ids = sent.get("campaign_ids", ids)
    try:
        if new_ids != ids:
            engine = _resized(store, state, policy, engine, new_ids)
            changes["campaign_ids"] = _changed(ids, new_ids)
            fields["campaign_ids"] = new_ids
        settings = {key: sent[key] for key in RETUNABLE if key in sent and sent[key] != state[key]}
        old_params = state["policy"].get("params", {})
        params = {k: v for k, v in sent.get("params", {}).items() if policy.params.get(k) != v}
        if settings or params:
            _check_calendar(state, settings.get("timesteps", state["timesteps"]))
            policy, engine = retune(policy, engine, settings, params)
    except EngineError as error:
        raise InvalidRequest(str(error)) from error
    for key, value in settings.items():
        changes[key] = _changed(state[key], value)
        fields[key] = value
    if params:
        changes["params"] = _changed({k: old_params.get(k) for k in params}, params)
        fields["policy"] = {**state["policy"], "params": {**old_params, **params}}
    if "name" in sent and sent["name"] != state.get("name"):
        changes["name"] = _changed(state.get("name"), sent["name"])
        fields["name"] = sent["name"]
    if not changes:
        return state
    now = utcnow()
    if "campaign_ids" in fields:
        idle = not any(engine["active"]) or state["status"] == "paused"
        fields.update(clock(state, stopped=idle, now=now))
    fields.update(
        engine=engine_text(engine),
        updated_at=now,
        **allocation_fields(decision_of(engine), new_ids),
    )
    event = {
        "id": new_id(),
        "state_id": state["_id"],
        "at": now,
        "by": by,
        "timestep": state["current_time"],
        "version": version + 1,
        "changes": changes,
    }
    written = states.compare_and_set(
        store,
        state["_id"],
        {"version": version, "status": {"$ne": "completed"}},
        {"$set": fields, "$inc": {"version": 1}, "$push": {"events": event}},
    )
    if not written:
        current = states.get(store, state["_id"])
        now_at = current["version"] if current else None
        raise VersionConflict(
            f"The state changed meanwhile (now version {now_at}): read it again and retry",
            now_at,
        )
    return {
        **state,
        **fields,
        "version": version + 1,
        "events": [*state.get("events", []), event],
    }


def _resized(
    store: Store,
    state: dict[str, Any],
    policy: Policy,
    engine: dict[str, Any],
    new_ids: list[str],
) -> dict[str, Any]:
    """The engine over `new_ids`: kept campaigns keep what was learnt, added ones start from
    the policy's pooled prior, removed ones' shares go to the others at once."""
    client_id = state["client_id"]
    found = campaigns.usable(store, client_id, new_ids)
    unknown = [cid for cid in new_ids if cid not in found]
    if unknown:
        raise InvalidRequest(f"Unknown campaign ids: {', '.join(unknown)}")
    old = state["campaign_ids"]
    keep = [old.index(cid) if cid in old else None for cid in new_ids]
    active = active_mask(store, client_id, new_ids)
    return resize(
        policy,
        engine,
        keep,
        active,
        [found[cid].get("min_budget") for cid in new_ids],
        [found[cid].get("max_budget") for cid in new_ids],
    )


def _check_calendar(state: dict[str, Any], timesteps: int) -> None:
    """InvalidRequest when the run would end past the year 9999 (as at creation)."""
    start = state["start_at"]
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    room = datetime.max.replace(tzinfo=UTC) - start
    if timedelta(hours=state["timestep_hours"] * timesteps) >= room:
        raise InvalidRequest("timesteps: the run would end after the year 9999")


def state_events(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The state's events, newest first."""
    return sorted(state.get("events", []), key=lambda event: event["version"], reverse=True)


async def readout_served(
    store: Store, pool: DecisionPool, state: dict[str, Any], task: str
) -> dict[str, Any]:
    """Learnt curves or forecast (`task`) of a stored state, computed in the decision workers
    (with none, in a worker thread): never on the event loop."""
    if pool.workers:
        return await pool.readout(task, state["policy"], state["engine"])
    compute = functools.partial(READOUTS[task], state["policy"], state["engine"])
    return await run_in_threadpool(compute)
