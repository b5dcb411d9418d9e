"""Liveness and readiness: the server answers and its database does too."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from models.common import errors
from utils.bodies import BodyRoute
from utils.db import StoreUnavailable
from utils.deps import StoreDep
from utils.version import VERSION

router = APIRouter(route_class=BodyRoute, tags=["health"])


@router.get(
    "/health",
    summary="Health check",
    responses=errors(503),
)
async def health(store: StoreDep) -> JSONResponse:
    """`{"status": "ok", "backend", "version"}` after pinging the database, else 503."""
    body = {"backend": store.backend, "version": VERSION}
    try:
        await store.call(store.ping)
    except StoreUnavailable:
        return JSONResponse({"status": "unavailable", **body}, status_code=503)
    return JSONResponse({"status": "ok", **body})
