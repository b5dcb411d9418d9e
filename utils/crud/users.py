"""`users`: accounts, by unique username; a client user carries its `client_id`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.db import Collection, Document, Store
from utils.pagination import paginate

NAME = "users"
INDEXES = [
    ([("username", 1)], {"unique": True}),
    ([("client_id", 1)], {}),
]

T = TypeVar("T")


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def by_name(store: Store, username: str) -> Document | None:
    return _docs(store).get({"username": username})


def insert(store: Store, doc: Document) -> Document:
    """Store a new user; `Conflict` when the username is taken."""
    return _docs(store).insert(doc)


def page(store: Store, page: Pagination, render: Callable[[Document], T]) -> Page[T]:
    """Every user, by name."""
    return paginate(_docs(store), {}, page, sort=[("username", 1)], render=render)


def update(store: Store, user_id: str, update: Mapping[str, Any]) -> Document | None:
    """Apply `update` to the account `user_id`; the document after, or None if it is gone."""
    return _docs(store).update({"_id": user_id}, update)


def update_by_name(store: Store, username: str, update: Mapping[str, Any]) -> Document | None:
    return _docs(store).update({"username": username}, update)


def delete_by_name(store: Store, username: str) -> bool:
    return _docs(store).delete({"username": username})


def count_in_client(store: Store, client_id: str) -> int:
    return _docs(store).count({"client_id": client_id})
