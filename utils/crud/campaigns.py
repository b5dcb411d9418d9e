"""`campaigns`: a client's campaigns, by unique (client, name)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.db import Collection, Document, Store, as_utc, utcnow
from utils.pagination import paginate

NAME = "campaigns"
INDEXES = [
    ([("client_id", 1), ("name", 1)], {"unique": True}),
    ([("client_id", 1), ("created_at", 1)], {}),
    ([("client_id", 1), ("status", 1)], {}),
]
# Statuses of a campaign that gets no budget.
INACTIVE = ["paused", "stopped"]
# A delete marks its campaign before it checks that no running state uses it; a mark older
# than this was left by a delete that never finished (a crash) and no longer counts.
DELETE_MARK_SECONDS = 60

T = TypeVar("T")


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def insert(store: Store, doc: Document) -> Document:
    """Store a new campaign; `Conflict` when the client has one of that name."""
    return _docs(store).insert(doc)


def get_owned(store: Store, tenant_filter: Mapping[str, Any], campaign_id: str) -> Document | None:
    return _docs(store).get({**tenant_filter, "_id": campaign_id})


def page(
    store: Store,
    tenant_filter: Mapping[str, Any],
    page: Pagination,
    render: Callable[[Document], T],
) -> Page[T]:
    """The tenant's campaigns, oldest first."""
    return paginate(
        _docs(store), tenant_filter, page, sort=[("created_at", 1), ("_id", 1)], render=render
    )


def update_owned(
    store: Store, tenant_filter: Mapping[str, Any], campaign_id: str, update: Mapping[str, Any]
) -> Document | None:
    """Apply `update` to the tenant's campaign; the document after, or None if it is gone.
    `Conflict` when a rename takes a name in use."""
    return _docs(store).update({**tenant_filter, "_id": campaign_id}, update)


def delete(store: Store, client_id: str, campaign_id: str) -> bool:
    return _docs(store).delete({"_id": campaign_id, "client_id": client_id})


def mark_deleting(store: Store, client_id: str, campaign_id: str) -> bool:
    """Mark the client's campaign as being deleted (False when it is gone)."""
    return _docs(store).set_if(
        {"_id": campaign_id, "client_id": client_id}, {"$set": {"deleting_at": utcnow()}}
    )


def unmark_deleting(store: Store, client_id: str, campaign_id: str) -> None:
    _docs(store).set_if(
        {"_id": campaign_id, "client_id": client_id}, {"$unset": {"deleting_at": ""}}
    )


def usable(store: Store, client_id: str, campaign_ids: list[str]) -> dict[str, Document]:
    """The client's campaigns among `campaign_ids` by id, leaving out any a delete under way
    has marked: a run must not start on, or take in, a campaign about to be deleted."""
    since = utcnow() - timedelta(seconds=DELETE_MARK_SECONDS)
    return {
        doc["_id"]: doc
        for doc in of_client(store, client_id, campaign_ids)
        if not (doc.get("deleting_at") and as_utc(doc["deleting_at"]) >= since)
    }


def of_client(store: Store, client_id: str, campaign_ids: list[str]) -> list[Document]:
    """The client's campaigns among `campaign_ids` (in no particular order)."""
    return _docs(store).find({"client_id": client_id, "_id": {"$in": campaign_ids}})


def inactive_ids(store: Store, client_id: str, campaign_ids: list[str]) -> set[str]:
    """Which of the client's campaigns are paused or stopped. Asks for the inactive ones only,
    through the (client_id, status) index: usually none, so nothing is read."""
    found = _docs(store).find(
        {"client_id": client_id, "status": {"$in": INACTIVE}, "_id": {"$in": campaign_ids}},
        projection={"_id": 1},
    )
    return {doc["_id"] for doc in found}


def count_in_client(store: Store, client_id: str) -> int:
    return _docs(store).count({"client_id": client_id})
