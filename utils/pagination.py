"""`?limit=&offset=` query parameters shared by every list endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from models.common import MAX_OFFSET, Pagination


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


PageParams = Annotated[Pagination, Depends(page_params)]
