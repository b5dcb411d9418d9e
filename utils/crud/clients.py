"""`clients`: the advertisers (tenants), by unique name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.db import Collection, Document, Store
from utils.pagination import paginate

NAME = "clients"
INDEXES = [([("name", 1)], {"unique": True})]

T = TypeVar("T")


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def get(store: Store, client_id: str) -> Document | None:
    return _docs(store).get({"_id": client_id})


def exists(store: Store, client_id: str) -> bool:
    return get(store, client_id) is not None


def insert(store: Store, doc: Document) -> Document:
    """Store a new client; `Conflict` when the name is taken."""
    return _docs(store).insert(doc)


def page(store: Store, page: Pagination, render: Callable[[Document], T]) -> Page[T]:
    """Every client, by name."""
    return paginate(_docs(store), {}, page, sort=[("name", 1)], render=render)


def update(store: Store, client_id: str, update: Mapping[str, Any]) -> Document | None:
    return _docs(store).update({"_id": client_id}, update)


def delete(store: Store, client_id: str) -> bool:
    return _docs(store).delete({"_id": client_id})
