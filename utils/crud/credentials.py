"""`credentials`: a user's API credentials (client_credentials grant), secrets hashed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.db import Collection, Document, Store
from utils.pagination import paginate

NAME = "credentials"
INDEXES = [([("username", 1)], {})]

T = TypeVar("T")


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def get(store: Store, credential_id: str) -> Document | None:
    """A credential by its id (its `client_id`), whoever owns it: for logging in with it."""
    return _docs(store).get({"_id": credential_id})


def get_of(store: Store, credential_id: str, username: str) -> Document | None:
    """The credential `credential_id` if `username` owns it."""
    return _docs(store).get({"_id": credential_id, "username": username})


def insert(store: Store, doc: Document) -> Document:
    return _docs(store).insert(doc)


def page_of(
    store: Store, username: str, page: Pagination, render: Callable[[Document], T]
) -> Page[T]:
    """A user's credentials, oldest first."""
    return paginate(
        _docs(store),
        {"username": username},
        page,
        sort=[("created_at", 1), ("_id", 1)],
        render=render,
    )


def update_of(
    store: Store, credential_id: str, username: str, update: Mapping[str, Any]
) -> Document | None:
    return _docs(store).update({"_id": credential_id, "username": username}, update)


def delete_of(store: Store, credential_id: str, username: str) -> bool:
    return _docs(store).delete({"_id": credential_id, "username": username})


def delete_all_of(store: Store, username: str) -> int:
    return _docs(store).delete_many({"username": username})
