"""`login_failures`: login attempts within the throttle's window (see `utils.throttle`)."""

from __future__ import annotations

from datetime import datetime

from utils.db import Collection, Document, Store

NAME = "login_failures"
INDEXES = [([("username", 1), ("at", 1)], {}), ([("at", 1)], {})]


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def forget_before(store: Store, since: datetime) -> int:
    """Drop the attempts older than `since`: they left every window."""
    return _docs(store).delete_many({"at": {"$lt": since}})


def insert(store: Store, key: str, at: datetime) -> str:
    """Record an attempt for `key`; its id."""
    return _docs(store).insert({"username": key, "at": at})["_id"]


def since(store: Store, key: str, since: datetime) -> list[Document]:
    """The attempts for `key` since `since`, oldest first."""
    return _docs(store).find({"username": key, "at": {"$gte": since}}, sort=[("at", 1)])


def delete(store: Store, attempt: str) -> bool:
    return _docs(store).delete({"_id": attempt})


def mark_failed(store: Store, attempt: str) -> bool:
    return _docs(store).set_if({"_id": attempt}, {"$set": {"failed": True}})


def delete_failed(store: Store, key: str) -> int:
    return _docs(store).delete_many({"username": key, "failed": True})
