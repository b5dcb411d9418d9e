"""`fits`: a client's stored curve fits (`POST /optimize/fit`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from utils.db import Collection, Document, Store

NAME = "fits"
INDEXES = [([("client_id", 1), ("created_at", 1)], {})]


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def insert(store: Store, doc: Document) -> Document:
    return _docs(store).insert(doc)


def get_owned(store: Store, tenant_filter: Mapping[str, Any], fit_id: str) -> Document | None:
    return _docs(store).get({**tenant_filter, "_id": fit_id})


def delete(store: Store, fit_id: str) -> bool:
    return _docs(store).delete({"_id": fit_id})


def delete_of_client(store: Store, client_id: str) -> int:
    return _docs(store).delete_many({"client_id": client_id})
