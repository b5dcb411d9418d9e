"""`history`: the decision of each finished timestep of a state (its allocation, budgets, when,
on which state version), one document per (state, timestep) keyed by `timestep_key`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from models.common import Page, Pagination
from utils.crud.keys import timestep_key
from utils.db import Collection, Conflict, Document, Store
from utils.pagination import paginate

NAME = "history"
# The `_id` is the (state, timestep) key, unique by nature (see `metrics`).
INDEXES = [([("state_id", 1), ("timestep", 1)], {})]

T = TypeVar("T")


def _docs(store: Store) -> Collection:
    return store.collection(NAME)


def finished(state: Document) -> dict[str, Any]:
    """The filter of a state's rows of finished timesteps. A row of the timestep in progress
    can exist: written by a `next` that then lost its compare-and-set (the state was paused
    or advanced meanwhile) or crashed; the retry that finishes the timestep rewrites it."""
    return {"state_id": state["_id"], "timestep": {"$lt": state["current_time"]}}


def rows_for(store: Store, state: Document) -> list[Document]:
    """Every finished timestep's row, oldest first."""
    return _docs(store).find(finished(state), sort=[("timestep", 1)])


def page_for(
    store: Store,
    state: Document,
    page: Pagination,
    render: Callable[[Document], T],
    join: Callable[[list[Document]], list[Document]],
) -> Page[T]:
    """One page of the finished timesteps' rows, oldest first, completed by `join`."""
    return paginate(
        _docs(store), finished(state), page, sort=[("timestep", 1)], render=render, join=join
    )


def budgets_by_timestep(store: Store, state_id: str, timesteps: int) -> dict[int, Any]:
    """The budgets decided for each of the first `timesteps` timesteps that has a row."""
    keys = [timestep_key(state_id, t) for t in range(timesteps)]
    found = _docs(store).find({"_id": {"$in": keys}}, projection={"timestep": 1, "budgets": 1})
    return {doc["timestep"]: doc["budgets"] for doc in found}


def budgets_at(store: Store, state_id: str, timestep: int) -> dict[str, float] | None:
    """The budgets decided for one timestep, None when it has no row."""
    found = _docs(store).get({"_id": timestep_key(state_id, timestep)})
    return None if found is None else found["budgets"]


def write_decided(store: Store, state: Document, timestep: int, decided: Document) -> bool:
    """Write a timestep's row, unless a row from a later version of the state is there.

    A plain insert when there is none (the usual case and the cheapest write); a retry, or a
    step decided again after a re-balance, rewrites the row only if its `version` is not
    later than `decided["version"]`. False when a later version's row was kept."""
    key = timestep_key(state["_id"], timestep)
    try:
        _docs(store).insert(
            {"_id": key, "state_id": state["_id"], "client_id": state["client_id"]}
            | {"timestep": timestep}
            | decided
        )
    except Conflict:
        return _docs(store).set_if(
            {"_id": key, "version": {"$lte": decided["version"]}}, {"$set": decided}
        )
    return True


def delete_row(store: Store, state_id: str, timestep: int) -> bool:
    return _docs(store).delete({"_id": timestep_key(state_id, timestep)})


def delete_of_state(store: Store, state_id: str) -> int:
    return _docs(store).delete_many({"state_id": state_id})
