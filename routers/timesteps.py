"""The scheduler's endpoint: advance every state whose current timestep has ended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from models.common import errors
from models.states import RunOutcome
from utils.bodies import BodyRoute
from utils.deps import CronPrincipal, DecisionsDep, StoreDep
from utils.timesteps import run_due

router = APIRouter(
    route_class=BodyRoute,
    prefix="/timesteps",
    tags=["timesteps"],
    responses=errors(401, 403, 422, 503),
)


@router.post("/run", response_model=RunOutcome, summary="Advance every due state (cron)")
async def run(
    principal: CronPrincipal,
    store: StoreDep,
    decisions: DecisionsDep,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Most states per run.")] = 10_000,
) -> dict:
    """Advance each due active state once (`next_due_at <= now`).

    An admin's tokens and credentials (also those narrowed to `cron`) cover every client; a
    `cron` user covers its own client. Overlapping runs advance each due timestep at most
    once: the loser reports it under `skipped`.
    """
    if principal.every_client:
        tenant_filter: dict = {}
    elif principal.client_id is not None:
        tenant_filter = {"client_id": principal.client_id}
    else:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="User belongs to no client.")
    return await run_due(store, decisions, tenant_filter, limit)
