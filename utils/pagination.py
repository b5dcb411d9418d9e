"""`?limit=&offset=` query parameters shared by every list endpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from models.common import MAX_OFFSET, Page, Pagination
from utils.db import Collection

T = TypeVar("T")


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


PageParams = Annotated[Pagination, Depends(page_params)]


def paginate(
    collection: Collection,
    filter: Mapping[str, Any],
    page: Pagination,
    sort: list[tuple[str, int]],
    render: Callable[[dict], T],
    projection: Mapping[str, Any] | None = None,
    join: Callable[[list[dict]], list[dict]] | None = None,
) -> Page[T]:
    """One page of the documents matching `filter`, each rendered for the API, with the total.

    `join` completes the page's documents (say, with data kept in another collection)."""
    docs = collection.find(
        filter, sort=sort, skip=page.offset, limit=page.limit, projection=projection
    )
    if join is not None:
        docs = join(docs)
    return Page(
        items=[render(doc) for doc in docs],
        total=collection.count(filter),
        limit=page.limit,
        offset=page.offset,
    )
