"""Optimization runs ("states") over time: creation, metrics, and exactly-once advancement.

Advancing a timestep writes two things: the history row of the finished timestep, keyed by
(state, timestep) under a unique index, then the state itself by compare-and-set on
`current_time`. A retry after a crash between the two finds the history row already there
and completes the state update; two concurrent advances of one timestep cannot both pass the
compare-and-set, so exactly one wins and the other answers 409.
"""

from __future__ import annotations

import functools
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import orjson

from engine import EngineError, Policy, make_policy
from models.states import MetricsPost, StateCreate
from utils.db import Conflict, Store, as_utc, public, utcnow

logger = logging.getLogger("oktopus.timesteps")

METRIC_FIELDS = ("spend", "impressions", "clicks", "conversions", "revenue")
INACTIVE = ["paused", "stopped"]
_HIDDEN = ("engine", "version")


def _engine_text(engine_state: dict[str, Any]) -> str:
    """The engine's state as stored: one JSON text, so document stores copy one string
    instead of thousands of small lists (mongomock deep-copies every document it touches).
    orjson because this runs twice per timestep and the stdlib encoder is ten times slower."""
    return orjson.dumps(engine_state).decode()


def _engine_state(doc: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(doc["engine"])


def _policy(spec: dict[str, Any]) -> Policy:
    """The state's policy object. Policies hold nothing but their validated parameters and
    what those imply (the curve policy's grid), so one object serves every state using them."""
    return _cached_policy(spec["name"], orjson.dumps(spec["params"], option=orjson.OPT_SORT_KEYS))


@functools.lru_cache(maxsize=256)
def _cached_policy(name: str, params: bytes) -> Policy:
    return make_policy(name, orjson.loads(params))


class StateConflict(Exception):
    """The state cannot be advanced now (completed, paused, or another call won)."""

    def __init__(self, detail: str, current_time: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.current_time = current_time


class InvalidRequest(Exception):
    """The request names things that do not fit this state: the API answers 422."""


def state_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The state document as the API returns it (engine internals left out)."""
    return public(doc, _HIDDEN)


def _due_at(start_at: datetime, hours: float, current_time: int) -> datetime:
    return as_utc(start_at) + timedelta(hours=hours * (current_time + 1))


def _by_campaign(ids: list[str], values: list[float]) -> dict[str, float]:
    return {cid: float(v) for cid, v in zip(ids, values, strict=True)}


def _active_mask(store: Store, client_id: str, campaign_ids: list[str]) -> list[bool]:
    """Which of the campaigns are active. Asks for the inactive ones only, through the
    (client_id, status) index: usually none, so nothing is read."""
    inactive = store.collection("campaigns").find(
        {"client_id": client_id, "status": {"$in": INACTIVE}, "_id": {"$in": campaign_ids}},
        projection={"_id": 1},
    )
    stopped = {c["_id"] for c in inactive}
    return [cid not in stopped for cid in campaign_ids]


def _allocation_fields(engine_state: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    return {
        "allocation": _by_campaign(ids, engine_state["shares"]),
        "budgets": _by_campaign(ids, engine_state["budgets"]),
        "timestep_budget": float(sum(engine_state["budgets"])),
        "remaining": float(engine_state["remaining"]),
    }


def create_state(store: Store, client_id: str, body: StateCreate) -> dict[str, Any]:
    """Validate the run against the tenant's campaigns and the engine, then store it."""
    campaigns = store.collection("campaigns").find(
        {"client_id": client_id, "_id": {"$in": body.campaign_ids}}
    )
    found = {c["_id"]: c for c in campaigns}
    unknown = [cid for cid in body.campaign_ids if cid not in found]
    if unknown:
        raise InvalidRequest(f"Unknown campaign ids: {', '.join(unknown)}")
    ordered = [found[cid] for cid in body.campaign_ids]
    active = [c.get("status", "active") == "active" for c in ordered]
    if sum(active) < 1:
        raise InvalidRequest("At least one of the campaigns must be active")
    seed = body.seed if body.seed is not None else secrets.randbelow(2**63)
    policy = make_policy(body.policy.name, body.policy.params)
    engine_state = policy.init(
        len(ordered),
        {
            "budget": body.budget,
            "timesteps": body.timesteps,
            "step": body.step,
            "floor": body.floor,
            "objective": body.objective,
            "seed": seed,
            "min_budget": [c.get("min_budget") for c in ordered],
            "max_budget": [c.get("max_budget") for c in ordered],
        },
        active,
    )
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
        "engine": _engine_text(engine_state),
        "version": 0,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
        **_allocation_fields(engine_state, body.campaign_ids),
    }
    return store.collection("states").insert(doc)


def record_metrics(store: Store, state: dict[str, Any], body: MetricsPost) -> bool:
    """Store a timestep's metrics (replacing earlier rows of the same campaign).

    Returns True when the timestep was already finished: a late correction, which is also
    written into that timestep's history row. Everything is checked before anything is
    written, so a rejected request stores nothing.
    """
    ids = set(state["campaign_ids"])
    unknown = [row.campaign_id for row in body.metrics if row.campaign_id not in ids]
    if unknown:
        raise InvalidRequest(f"Campaigns not in this state: {', '.join(unknown)}")
    last = min(state["current_time"], state["timesteps"] - 1)
    if body.timestep > last:
        raise InvalidRequest(
            f"timestep {body.timestep} has not started: the current timestep is "
            f"{state['current_time']}"
        )
    now = utcnow()
    store.collection("metrics").upsert(
        {"_id": _timestep_key(state["_id"], body.timestep)},
        {
            "$set": {
                f"rows.{row.campaign_id}": {
                    **row.model_dump(exclude={"campaign_id"}),
                    "recorded_at": now,
                }
                for row in body.metrics
            },
            "$setOnInsert": {
                "state_id": state["_id"],
                "client_id": state["client_id"],
                "timestep": body.timestep,
            },
        },
    )
    correction = body.timestep < state["current_time"]
    if correction:
        rows = metric_rows(store, state, body.timestep)
        store.collection("history").set_if(
            {"_id": _timestep_key(state["_id"], body.timestep)},
            {
                "$set": {
                    "metrics": rows,
                    "unobserved": [cid for cid, r in rows.items() if r is None],
                    "reward": _reward(state["objective"], rows),
                    "corrected_at": now,
                }
            },
        )
    return correction


def _timestep_key(state_id: str, timestep: int) -> str:
    """The `_id` of a state's metrics and history documents of one timestep: the unique
    (state, timestep) key, as the primary key every backend enforces and looks up fastest."""
    return f"{state_id}:{timestep}"


def metric_rows(store: Store, state: dict[str, Any], timestep: int) -> dict[str, Any]:
    """Reported metrics of one timestep per campaign, None where nothing was reported.

    One document per (state, timestep) holds every campaign's row, so reading a timestep is
    one lookup by key and reporting 20 campaigns one write."""
    found = store.collection("metrics").get({"_id": _timestep_key(state["_id"], timestep)})
    reported = found["rows"] if found else {}
    return {
        cid: {k: reported[cid].get(k) for k in METRIC_FIELDS} if cid in reported else None
        for cid in state["campaign_ids"]
    }


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


def advance(
    store: Store, state: dict[str, Any], expected_time: int | None = None
) -> dict[str, Any]:
    """Feed timestep `current_time`'s metrics to the engine and move to the next timestep."""
    t = state["current_time"]
    if state["status"] == "completed":
        raise StateConflict("The state is completed", t)
    if state["status"] == "paused":
        raise StateConflict("The state is paused: resume it first", t)
    if expected_time is not None and expected_time != t:
        raise StateConflict(f"current_time is {t}, not {expected_time}", t)
    ids = state["campaign_ids"]
    rows = metric_rows(store, state, t)
    active = _active_mask(store, state["client_id"], ids)
    if not any(active):
        raise InvalidRequest("Every campaign of this state is paused or stopped")
    policy = _policy(state["policy"])
    engine_state, _ = policy.advance(_engine_state(state), _observations(state, rows), active)
    now = utcnow()
    try:
        store.collection("history").insert(
            {
                "_id": _timestep_key(state["_id"], t),
                "state_id": state["_id"],
                "client_id": state["client_id"],
                "timestep": t,
                "allocation": state["allocation"],
                "budgets": state["budgets"],
                "metrics": rows,
                "unobserved": [cid for cid, r in rows.items() if r is None],
                "reward": _reward(state["objective"], rows),
                "decided_at": now,
                "corrected_at": None,
            }
        )
    except Conflict:
        logger.info("History of state %s timestep %d already written: completing", state["_id"], t)
    done = bool(engine_state.get("done"))
    changes = {
        "engine": _engine_text(engine_state),
        "current_time": t + 1,
        "status": "completed" if done else "active",
        "next_due_at": None if done else _due_at(state["start_at"], state["timestep_hours"], t + 1),
        "completed_at": now if done else None,
        "updated_at": now,
        **_allocation_fields(engine_state, ids),
    }
    advanced = store.collection("states").set_if(
        {"_id": state["_id"], "current_time": t, "status": "active"},
        {"$set": changes, "$inc": {"version": 1}},
    )
    if not advanced:
        current = store.collection("states").get({"_id": state["_id"]})
        now_at = current["current_time"] if current else t
        raise StateConflict(f"Timestep {t} was already advanced; current_time is {now_at}", now_at)
    return {**state, **changes, "version": state["version"] + 1}


def rebalanced_states(
    store: Store, campaign: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every running state using `campaign` (as it is about to be stored), with its current
    timestep re-balanced to the campaign's status and per-timestep bounds. Writes nothing.

    InvalidRequest, naming the states, when the campaign's new bounds cannot hold with a
    state's budget; a state whose campaigns are all paused keeps its allocation.
    """
    client_id, campaign_id = campaign["client_id"], campaign["_id"]
    planned, refused = [], []
    for state in store.collection("states").find(
        {"client_id": client_id, "campaign_ids": campaign_id, "status": {"$ne": "completed"}}
    ):
        index = state["campaign_ids"].index(campaign_id)
        active = _active_mask(store, client_id, state["campaign_ids"])
        active[index] = campaign.get("status", "active") == "active"
        if not any(active):
            continue
        engine_state = _engine_state(state)
        bounds = {key: [*engine_state["settings"][key]] for key in ("min_budget", "max_budget")}
        for key, values in bounds.items():
            values[index] = campaign.get(key)
        policy = _policy(state["policy"])
        try:
            planned.append((state, policy.rebalance(engine_state, active, **bounds)))
        except EngineError as error:
            refused.append(f"state {state.get('name') or state['_id']}: {error}")
    if refused:
        raise InvalidRequest("The campaign's budget bounds cannot hold in " + "; ".join(refused))
    return planned


def save_rebalanced(
    store: Store, campaign: dict[str, Any], planned: list[tuple[dict[str, Any], dict[str, Any]]]
) -> int:
    """Store re-balanced states; one another call changed meanwhile is re-balanced afresh."""
    states = store.collection("states")
    count = 0
    for state, engine_state in planned:
        for _ in range(3):
            updated = states.update(
                {"_id": state["_id"], "version": state["version"]},
                {
                    "$set": {
                        "engine": _engine_text(engine_state),
                        "updated_at": utcnow(),
                        **_allocation_fields(engine_state, state["campaign_ids"]),
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
            state, engine_state = again[0]
    return count


def run_due(store: Store, tenant_filter: dict[str, Any], limit: int = 10_000) -> dict[str, list]:
    """Advance every active state whose current timestep has ended, once each.

    A state another run advanced meanwhile is reported as skipped; one state's failure is
    reported in `errors` and does not stop the others.
    """
    now = utcnow()
    due = store.collection("states").find(
        {**tenant_filter, "status": "active", "next_due_at": {"$lte": now}},
        sort=[("next_due_at", 1)],
        limit=limit,
    )
    outcome: dict[str, list] = {"advanced": [], "skipped": [], "errors": []}
    for state in due:
        t = state["current_time"]
        try:
            # One store call per state: its reads, engine step and writes run together on
            # the embedded store's thread, and other requests get their turn between states.
            updated = store.run(functools.partial(advance, store, state, expected_time=t))
        except StateConflict as conflict:
            outcome["skipped"].append(
                {"id": state["_id"], "timestep": t, "reason": conflict.detail}
            )
        except (EngineError, InvalidRequest) as error:
            outcome["errors"].append({"id": state["_id"], "timestep": t, "detail": str(error)})
        except Exception:
            logger.exception("Advancing state %s failed", state["_id"])
            outcome["errors"].append(
                {"id": state["_id"], "timestep": t, "detail": "internal error"}
            )
        else:
            outcome["advanced"].append(
                {"id": state["_id"], "timestep": t, "status": updated["status"]}
            )
    return outcome
