"""Data access for the `models` collection: marketing-mix models of each tenant.

A document: `_id`, `client_id`, `created_at`, `version`, `status` (fitting, ready, failed),
`progress`, `kpi`, `periods`, `channels`, and once ready `summary`, `decomposition`,
`curves` and `model` (the fitted posterior as plain data); `error` when failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.mmm import MMMData
from utils.db import Store, utcnow

NAME = "models"
# What a list or a status read needs: the heavy parts stay in the database.
SUMMARY_FIELDS = {"decomposition": 0, "curves": 0, "model": 0}


def insert_fitting(store: Store, client_id: str, data: MMMData) -> dict:
    """A new model, fitting, of `data` for the tenant."""
    doc = {
        "client_id": client_id,
        "created_at": utcnow(),
        "version": 0,
        "status": "fitting",
        "progress": 0.0,
        "kpi": data.kpi,
        "periods": data.periods,
        "channels": list(data.channels),
    }
    return store.collection(NAME).insert(doc)


def set_progress(store: Store, model_id: str, progress: float) -> bool:
    """Record a fitting model's progress (nothing when it was deleted or has finished)."""
    return store.collection(NAME).set_if(
        {"_id": model_id, "status": "fitting"},
        {"$set": {"progress": progress}, "$inc": {"version": 1}},
    )


def finish(store: Store, model_id: str, fields: Mapping[str, Any]) -> bool:
    """Write a fit's outcome, once, if the model still exists and is fitting."""
    doc = get(store, {"_id": model_id}, projection={"version": 1, "status": 1})
    if doc is None or doc["status"] != "fitting":
        return False
    return store.collection(NAME).set_if(
        {"_id": model_id, "version": doc["version"], "status": "fitting"},
        {"$set": dict(fields), "$inc": {"version": 1}},
    )


def get(
    store: Store, filter: Mapping[str, Any], projection: Mapping[str, Any] | None = None
) -> dict | None:
    """One model matching `filter` (which carries the tenant), or None."""
    found = store.collection(NAME).find(filter, limit=1, projection=projection)
    return found[0] if found else None


def collection(store: Store):
    """The collection, for paginated lists."""
    return store.collection(NAME)


def delete(store: Store, filter: Mapping[str, Any]) -> bool:
    return store.collection(NAME).delete(filter)


def delete_for_client(store: Store, client_id: str) -> int:
    """Every model of a client (when the client is deleted)."""
    return store.collection(NAME).delete_many({"client_id": client_id})
