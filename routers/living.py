"""Living runs: edit a running state, list its events, read what it has learnt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException

from engine import EngineError
from engine.readout import NoCurves
from models.common import TENANT_ERRORS, Page, errors
from models.living import PATCH_EXAMPLES, CurvesOut, EventOut, ForecastOut, StatePatch
from models.states import StateOut
from utils.bodies import BodyRoute
from utils.crud import campaigns, states
from utils.deps import (
    DecisionsDep,
    ReadTenant,
    StoreDep,
    WritePrincipal,
    WriteTenant,
    found,
)
from utils.living import amend_state, readout_served, state_events
from utils.pagination import PageParams
from utils.timesteps import state_view

router = APIRouter(
    route_class=BodyRoute, prefix="/states", tags=["states"], responses=TENANT_ERRORS
)

_VERSION_CONFLICT = errors(
    409,
    described={
        409: "The state is completed, or changed since it was read (another edit, a `next`, "
        "a campaign update or a late correction): `detail` holds `message` and the current "
        "`version`; nothing was written"
    },
)
_NO_CURVES = errors(
    404, described={404: "State not found, or its policy learns no curves (the message says)"}
)


@router.patch(
    "/{state_id}",
    response_model=StateOut,
    responses=_VERSION_CONFLICT,
    summary="Change a running state (budget, timesteps, policy parameters, bounds)",
)
async def patch_state(
    state_id: str,
    body: Annotated[StatePatch, Body(openapi_examples=PATCH_EXAMPLES)],
    tenant: WriteTenant,
    principal: WritePrincipal,
    store: StoreDep,
) -> dict:
    """Change a running state: budget (`remaining` becomes it minus what was spent),
    timesteps, step, floor, name, policy parameters that may change mid-run, and its
    campaigns (`campaign_ids`: added ones start from the prior the policy pooled from the
    others and get budget from the next decision; removed ones' shares go to the others at
    once, their history stays). The current timestep is re-paced at once, and the change is
    recorded as an event. A compare-and-set on the state's version: send `version` to change
    only the state you read."""

    def amended() -> dict:
        doc = found(states.get_owned(store, tenant.filter, state_id), "State")
        return amend_state(store, doc, body, principal.username)

    return state_view(await store.call(amended))


@router.get("/{state_id}/events", response_model=Page[EventOut], summary="A state's change events")
async def events(
    state_id: str, tenant: ReadTenant, store: StoreDep, page: PageParams
) -> Page[EventOut]:
    """Who changed what and when (`PATCH`), newest first."""
    doc = found(await store.call(states.get_owned, store, tenant.filter, state_id), "State")
    listed = state_events(doc)
    chosen = listed[page.offset : page.offset + page.limit]
    return Page(
        items=[EventOut(**event) for event in chosen],
        total=len(listed),
        limit=page.limit,
        offset=page.offset,
    )


async def _readout(
    state_id: str, tenant: ReadTenant, store: StoreDep, decisions: DecisionsDep, task: str
) -> dict:
    doc = found(await store.call(states.get_owned, store, tenant.filter, state_id), "State")
    try:
        result = await readout_served(store, decisions, doc, task)
    except NoCurves as error:
        raise HTTPException(404, detail=str(error)) from error
    except EngineError as error:
        raise HTTPException(409, detail=str(error)) from error
    return {
        "state_id": doc["_id"],
        **result,
        "client_id": doc["client_id"],
        "campaign_ids": doc["campaign_ids"],
    }


@router.get(
    "/{state_id}/curves",
    response_model=CurvesOut,
    responses=_NO_CURVES,
    summary="The response curves a state has learnt",
)
async def curves(
    state_id: str, tenant: ReadTenant, store: StoreDep, decisions: DecisionsDep
) -> CurvesOut:
    """What a `curve` run has learnt: per campaign, the posterior response curve on a spend
    grid (mean and an 80% band), the current budget on it, the marginal return there, and
    what the policy would give without `step` pacing. Computed in the decision workers."""
    result = await _readout(state_id, tenant, store, decisions, "curves")
    ids = result["campaign_ids"]
    named = await store.call(lambda: campaigns.of_client(store, result["client_id"], ids))
    names = {c["_id"]: c.get("name") for c in named}
    for cid, row in zip(result["campaign_ids"], result["campaigns"], strict=True):
        row.update(campaign_id=cid, name=names.get(cid))
    return CurvesOut(**result)


@router.get(
    "/{state_id}/forecast",
    summary="Forecast of the rest of the run",
    response_model=ForecastOut,
    responses={**_NO_CURVES, **errors(409, described={409: "The state is completed"})},
)
async def forecast(
    state_id: str, tenant: ReadTenant, store: StoreDep, decisions: DecisionsDep
) -> ForecastOut:
    """The objective over the rest of the run under the current policy, with an 80%
    interval simulated from the posterior, and the same for an equal split: what the
    optimization is worth. Computed in the decision workers."""
    return ForecastOut(**await _readout(state_id, tenant, store, decisions, "forecast"))
