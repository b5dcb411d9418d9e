"""Metrics reported for a run's timesteps, late corrections, and history as it reads now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.settings import METRICS, VALUE_METRIC
from models.states import MetricsPost
from utils.crud import history, metrics, states
from utils.db import Store, as_utc, utcnow
from utils.timesteps.errors import InvalidRequest, StateConflict
from utils.timesteps.runs import forget_writes_of


@dataclass(frozen=True)
class Recorded:
    """What storing a timestep's metrics did: whether they were a late correction, and whether
    the state's engine must be refolded for the engine to have seen them."""

    correction: bool
    refold: bool
    written: int


def store_metrics(store: Store, state: dict[str, Any], body: MetricsPost) -> Recorded:
    """Store a timestep's metrics (replacing earlier rows of the same campaign).

    A finished timestep's rows are a late correction, which its history row shows from then on
    (history reads metrics where they are stored, see `history_rows`), and which the state's
    engine must be refolded for (`refolds.refold`), unless the run is completed or the rows
    are the ones it has seen. Everything is checked before anything is written, so a rejected
    request stores nothing.

    Rows of the current timestep move the state's version on: a `next` deciding it meanwhile
    on the rows it read before then loses its compare-and-set and decides again with these,
    so what is answered as counting (not a correction) reaches the engine. When the timestep
    finished between the state's read and that bump, the rows are a correction after all.
    Rows written for a state deleted meanwhile are removed again (StateConflict).
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
    if correction and not states.is_live(store, state["_id"]):
        forget_writes_of(store, state["_id"])
        raise StateConflict("The state was deleted", state["current_time"])
    return Recorded(correction, correction and state["status"] != "completed", len(rows))


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
    return campaign_rows(state["campaign_ids"], metrics.rows_of(store, state["_id"], timestep))


def campaign_rows(campaign_ids: list[str], reported: dict[str, Any]) -> dict[str, Any]:
    """Each campaign's reported row (its metrics only), None where it reported nothing."""
    return {
        cid: {k: reported[cid].get(k) for k in METRICS} if cid in reported else None
        for cid in campaign_ids
    }


def observations(state: dict[str, Any], rows: dict[str, Any]) -> dict[str, list]:
    """A timestep's rows as the engine takes them: one list per metric, in campaign order."""
    return {
        field: [
            None if rows[cid] is None else rows[cid].get(field) for cid in state["campaign_ids"]
        ]
        for field in METRICS
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
        by_campaign = campaign_rows(list(doc.get("budgets") or state["campaign_ids"]), found)
        decided_at = as_utc(doc["decided_at"])
        late = [
            as_utc(row["recorded_at"])
            for row in found.values()
            if row.get("recorded_at") is not None and as_utc(row["recorded_at"]) > decided_at
        ]
        rows.append(
            {
                **doc,
                "metrics": by_campaign,
                "unobserved": [cid for cid, row in by_campaign.items() if row is None],
                "reward": _reward(state["objective"], by_campaign),
                "corrected_at": max(late, default=None),
                "events": events.get(doc["timestep"], []),
            }
        )
    return rows


def _reward(objective: str, rows: dict[str, Any]) -> float | None:
    """What the timestep earned by the run's objective: its value metric summed over the
    campaigns that reported it, less their spend for profit; None when none did."""
    metric = VALUE_METRIC[objective]
    costs = objective == "profit"
    values = [
        r[metric] - (r["spend"] if costs else 0.0)
        for r in rows.values()
        if r is not None and r.get(metric) is not None
    ]
    return float(sum(values)) if values else None
