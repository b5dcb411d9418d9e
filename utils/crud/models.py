"""`models`: a client's marketing-mix models (`POST /models`).

A document: `_id`, `client_id`, `created_at`, `version`, `status` (fitting, ready, failed),
`progress`, `kpi`, `periods`, `channels`, and once ready `summary`, `decomposition`,
`curves` and `model` (the fitted posterior as plain data); `error` when failed. Every write
to a model being fitted is a compare-and-set on its `version` and its `fitting` status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.db import Collection, Document, Store
from utils.pagination import paginate

NAME = "models"
INDEXES = [([("client_id", 1), ("created_at", 1)], {})]
# What a list or a status read needs: the heavy parts stay in the database.
SUMMARY = {"decomposition": 0, "curves": 0, "model": 0}

T = TypeVar("T")


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def insert(store: Store, doc: Document) -> Document:
    return _docs(store).insert(doc)


def get_owned(
    store: Store,
    tenant_filter: Mapping[str, Any],
    model_id: str,
    projection: Mapping[str, Any] | None = None,
) -> Document | None:
    """The tenant's model, with only the `projection`'s fields when given."""
    found = _docs(store).find({**tenant_filter, "_id": model_id}, limit=1, projection=projection)
    return found[0] if found else None


def page(
    store: Store,
    tenant_filter: Mapping[str, Any],
    page: Pagination,
    render: Callable[[Document], T],
) -> Page[T]:
    """The tenant's models, newest first, without their heavy parts."""
    return paginate(
        _docs(store),
        tenant_filter,
        page,
        sort=[("created_at", -1), ("_id", 1)],
        render=render,
        projection=SUMMARY,
    )


def fitting(store: Store) -> list[Document]:
    """Every model still marked as fitting (ids and versions only), of every client."""
    return _docs(store).find({"status": "fitting"}, projection={"_id": 1, "version": 1})


def compare_and_set(
    store: Store, model_id: str, expected: Mapping[str, Any], update: Mapping[str, Any]
) -> bool:
    """Apply `update` if the model still holds every field of `expected`; whether it did."""
    return _docs(store).set_if({"_id": model_id, **expected}, update)


def delete(store: Store, model_id: str) -> bool:
    return _docs(store).delete({"_id": model_id})


def delete_owned(store: Store, tenant_filter: Mapping[str, Any], model_id: str) -> bool:
    return _docs(store).delete({**tenant_filter, "_id": model_id})


def delete_of_client(store: Store, client_id: str) -> int:
    return _docs(store).delete_many({"client_id": client_id})
