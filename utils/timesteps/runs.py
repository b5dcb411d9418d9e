"""A run's lifecycle: create a state, pause and resume it (its clock), delete it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from engine import make_policy
from models.states import StateCreate
from utils.crud import campaigns, history, metrics, states
from utils.db import Store, as_utc, public, utcnow
from utils.decisions import Decision, decision_of, engine_text
from utils.priors import PriorError, initial_engine
from utils.timesteps.errors import InvalidRequest

_HIDDEN = ("engine", "events")


def state_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The state document as the API returns it (engine internals left out)."""
    return public(doc, _HIDDEN)


def due_at(start_at: datetime, hours: float, current_time: int, paused_ms: int = 0) -> datetime:
    """When timestep `current_time` ends: the run's clock, stopped while it was paused."""
    return as_utc(start_at) + timedelta(hours=hours * (current_time + 1), milliseconds=paused_ms)


def clock(state: dict[str, Any], stopped: bool, now: datetime) -> dict[str, Any]:
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
        changes["next_due_at"] = due_at(
            state["start_at"], state["timestep_hours"], state["current_time"], paused_ms
        )
    return changes


def active_mask(store: Store, client_id: str, campaign_ids: list[str]) -> list[bool]:
    """Which of the campaigns are active (usually all: nothing is read)."""
    stopped = campaigns.inactive_ids(store, client_id, campaign_ids)
    return [cid not in stopped for cid in campaign_ids]


def allocation_fields(decision: Decision, ids: list[str]) -> dict[str, Any]:
    """A decision as the state document stores it, keyed by campaign id."""
    return {
        "allocation": _by_campaign(ids, decision.shares),
        "budgets": _by_campaign(ids, decision.budgets),
        "timestep_budget": float(sum(decision.budgets)),
        "remaining": decision.remaining,
    }


def _by_campaign(ids: list[str], values: list[float]) -> dict[str, float]:
    return {cid: float(v) for cid, v in zip(ids, values, strict=True)}


def set_paused(store: Store, state: dict[str, Any], paused: bool) -> dict[str, Any] | None:
    """Pause or resume a state by compare-and-set on its version; None if it changed meanwhile.

    A pause stops the run's clock: on resume every due time moves later by the time spent
    paused, so the timestep in progress gets the rest of its time and no timestep ends
    unreported during the pause (cron would otherwise advance each, one run after another,
    counting its whole budget as spent).
    """
    now = utcnow()
    if paused:
        changes: dict[str, Any] = {"status": "paused", **clock(state, stopped=True, now=now)}
    else:
        # Resumed with every campaign paused, its clock stays stopped until one resumes.
        idle = not any(active_mask(store, state["client_id"], state["campaign_ids"]))
        changes = {"status": "active", **clock(state, stopped=idle, now=now)}
    return states.compare_and_update(
        store,
        state["_id"],
        {"status": state["status"], "version": state["version"]},
        {"$set": {**changes, "updated_at": now}, "$inc": {"version": 1}},
    )


def create_state(store: Store, client_id: str, body: StateCreate) -> dict[str, Any]:
    """Validate the run against the tenant's campaigns and the engine, then store it."""
    found = campaigns.usable(store, client_id, body.campaign_ids)
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
        "next_due_at": due_at(start_at, body.timestep_hours, 0),
        "engine": engine_text(initial),
        "prior": prior,
        "version": 0,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
        **allocation_fields(decision_of(initial), body.campaign_ids),
    }
    stored = states.insert(store, doc)
    # A campaign delete may have checked for running states before this run was stored: if
    # one marked (or removed) a campaign since, the run goes again, unseen by anyone.
    left = campaigns.usable(store, client_id, body.campaign_ids)
    gone = [cid for cid in body.campaign_ids if cid not in left]
    if gone:
        states.delete(store, stored["_id"])
        raise InvalidRequest(f"Campaigns deleted meanwhile: {', '.join(gone)}")
    return stored


def delete_state(store: Store, state: dict[str, Any]) -> None:
    """Delete a state with its history and metrics, leaving nothing behind however it
    interleaves with other calls on it.

    The state is marked deleted by compare-and-set first: from then on no `next`, report,
    refold or re-balance can write it, and one that wrote a row of it meanwhile sees it gone
    when it checks and removes that row (see `forget_writes_of`). Then its rows go, then the
    state itself."""
    states.mark_deleted(store, state["_id"])
    forget_writes_of(store, state["_id"])
    states.delete(store, state["_id"])


def forget_writes_of(store: Store, state_id: str) -> None:
    """Remove every history and metrics row of a deleted state."""
    history.delete_of_state(store, state_id)
    metrics.delete_of_state(store, state_id)
