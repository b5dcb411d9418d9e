"""`states`: a client's optimization runs. Every change to a running state is a
compare-and-set on fields it must still hold (its `version` at least).

Deleting a state first marks it `deleted` (`mark_deleted`): every read here leaves such a
state out, and no compare-and-set can match it any more, so nothing is written to it while
its rows are removed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.db import Collection, Document, Store
from utils.pagination import paginate

NAME = "states"
INDEXES = [
    ([("client_id", 1), ("created_at", 1)], {}),
    ([("status", 1), ("next_due_at", 1)], {}),
]

T = TypeVar("T")

DELETED = "deleted"
_LIVE = {"status": {"$ne": DELETED}}
_RUNNING = {"status": {"$nin": ["completed", DELETED]}}


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def insert(store: Store, doc: Document) -> Document:
    return _docs(store).insert(doc)


def get(store: Store, state_id: str) -> Document | None:
    """A state by id, whatever its tenant: for code that got the id from a scoped read."""
    return _docs(store).get({"_id": state_id, **_LIVE})


def get_owned(store: Store, tenant_filter: Mapping[str, Any], state_id: str) -> Document | None:
    return _docs(store).get({**tenant_filter, "_id": state_id, **_LIVE})


def page(
    store: Store,
    tenant_filter: Mapping[str, Any],
    page: Pagination,
    render: Callable[[Document], T],
) -> Page[T]:
    """The tenant's states, newest first, without their engines and events."""
    return paginate(
        _docs(store),
        {**tenant_filter, **_LIVE},
        page,
        sort=[("created_at", -1), ("_id", 1)],
        render=render,
        projection={"engine": 0, "events": 0},
    )


def compare_and_set(
    store: Store, state_id: str, expected: Mapping[str, Any], update: Mapping[str, Any]
) -> bool:
    """Apply `update` if the state still holds every field of `expected` (and is not being
    deleted); whether it did."""
    return _docs(store).set_if({"_id": state_id, **_LIVE, **expected}, update)


def compare_and_update(
    store: Store, state_id: str, expected: Mapping[str, Any], update: Mapping[str, Any]
) -> Document | None:
    """`compare_and_set`, answering the state after the update (None when it did not apply)."""
    return _docs(store).update({"_id": state_id, **_LIVE, **expected}, update)


def mark_deleted(store: Store, state_id: str) -> bool:
    """The first step of a deletion: the state is left out of every read and write from now
    on. False when it is gone or marked already."""
    return _docs(store).set_if(
        {"_id": state_id, **_LIVE}, {"$set": {"status": DELETED}, "$inc": {"version": 1}}
    )


def is_live(store: Store, state_id: str) -> bool:
    """Whether the state exists and is not being deleted."""
    return _docs(store).count({"_id": state_id, **_LIVE}) == 1


def delete(store: Store, state_id: str) -> bool:
    return _docs(store).delete({"_id": state_id})


def running_with(store: Store, client_id: str, campaign_id: str) -> list[Document]:
    """The client's states not completed that use the campaign."""
    return _docs(store).find({"client_id": client_id, "campaign_ids": campaign_id, **_RUNNING})


def count_running_with(store: Store, client_id: str, campaign_id: str) -> int:
    return _docs(store).count({"client_id": client_id, "campaign_ids": campaign_id, **_RUNNING})


def count_in_client(store: Store, client_id: str) -> int:
    return _docs(store).count({"client_id": client_id})


def due(
    store: Store, tenant_filter: Mapping[str, Any], now: datetime, limit: int
) -> list[Document]:
    """Ids and current timesteps of the active states due by `now`, most overdue first."""
    return _docs(store).find(
        {**tenant_filter, "status": "active", "next_due_at": {"$lte": now}},
        sort=[("next_due_at", 1)],
        limit=limit,
        projection={"_id": 1, "current_time": 1},
    )
