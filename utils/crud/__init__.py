"""Data access, one module per collection: the only code that names a collection.

Each module follows one pattern, in the spirit of the `crud.py` of FastAPI's full-stack
template, so that a new collection is one more module written like the others:

- `NAME`, the collection's name, and `INDEXES`, its indexes as `(keys, options)` pairs that
  `Store.ensure_indexes` creates at start-up (gathered in `INDEXES` below);
- `_docs(store)`, the collection, private to the module;
- named functions taking the store first, then the tenant's filter (`tenant_filter`, the
  `{"client_id": …}` every query of a client's data carries; `{}` for an admin acting on
  every client) where the collection holds a client's data, and returning plain dicts.

Compare-and-set writes take the fields the document must still hold (`expected`) and say
whether they applied; nothing here decides what a write means for the API.
"""

from __future__ import annotations

from typing import Any

from utils.crud import (
    campaigns,
    clients,
    credentials,
    fits,
    history,
    login_failures,
    metrics,
    states,
    users,
)

MODULES = (users, credentials, clients, campaigns, states, metrics, history, fits, login_failures)

# Every collection's indexes, by collection name: what `Store.ensure_indexes` creates.
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    module.NAME: module.INDEXES for module in MODULES
}
