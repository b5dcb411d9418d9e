"""`metrics`: what was reported for a state's timestep, one document per (state, timestep)
holding every campaign's row (`rows.<campaign_id>`), keyed by `timestep_key`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from utils.crud.keys import timestep_key
from utils.db import Collection, Document, Store

NAME = "metrics"
# The `_id` is the (state, timestep) key, unique by nature; compound unique indexes on top
# would only make the embedded store's writes slower.
INDEXES = [([("state_id", 1), ("timestep", 1)], {})]


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def rows_of(store: Store, state_id: str, timestep: int) -> dict[str, Any]:
    """The rows reported for one timestep, by campaign id (empty when none): one lookup."""
    found = _docs(store).get({"_id": timestep_key(state_id, timestep)})
    return found.get("rows", {}) if found else {}


def rows_by_key(store: Store, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The rows of several timesteps, by their `timestep_key`, in one query."""
    return {doc["_id"]: doc.get("rows", {}) for doc in _docs(store).find({"_id": {"$in": keys}})}


def save_rows(
    store: Store,
    state: Document,
    timestep: int,
    rows: dict[str, dict[str, Any]],
    recorded_at: datetime,
) -> None:
    """Store campaigns' rows of a timestep, replacing those campaigns' earlier rows."""
    _docs(store).upsert(
        {"_id": timestep_key(state["_id"], timestep)},
        {
            "$set": {
                f"rows.{cid}": {**row, "recorded_at": recorded_at} for cid, row in rows.items()
            },
            "$setOnInsert": {
                "state_id": state["_id"],
                "client_id": state["client_id"],
                "timestep": timestep,
            },
        },
    )


def delete_of_state(store: Store, state_id: str) -> int:
    return _docs(store).delete_many({"state_id": state_id})
