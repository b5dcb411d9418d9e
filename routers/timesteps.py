"""The scheduler's endpoint: advance every state whose current timestep has ended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from models.common import errors
from models.states import RunOutcome
from utils.deps import CronPrincipal, DecisionsDep, StoreDep
from utils.timesteps import run_due_served

router = APIRouter(prefix="/timesteps", tags=["timesteps"], responses=errors(401, 403, 422, 503))


@router.post("/run", response_model=RunOutcome)
async def run(
    principal: CronPrincipal,
    store: StoreDep,
    decisions: DecisionsDep,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Most states per run.")] = 10_000,
) -> dict:
    """Advance each due active state once (`next_due_at <= now`).

    Admin tokens cover every client; a `cron` user covers its own client. Overlapping runs
    advance each due timestep at most once: the loser reports it under `skipped`.
    """
    tenant_filter = {} if principal.is_admin else {"client_id": principal.client_id}
    return await run_due_served(store, decisions, tenant_filter, limit)
