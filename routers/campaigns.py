"""Campaigns of a client: what budgets are spread over."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from models.campaigns import CampaignCreate, CampaignOut, CampaignUpdate
from models.common import TENANT_ERRORS, Page, errors
from utils.bodies import BodyRoute
from utils.crud import campaigns, states
from utils.db import Conflict, Store, public, utcnow
from utils.deps import ReadTenant, StoreDep, Tenant, WriteTenant, found, not_found
from utils.pagination import PageParams
from utils.timesteps import rebalanced_states, save_rebalanced

router = APIRouter(
    route_class=BodyRoute, prefix="/campaigns", tags=["campaigns"], responses=TENANT_ERRORS
)
_NAME_TAKEN = errors(409, described={409: "A campaign of this name exists for the client"})


def _duplicate(name: str) -> HTTPException:
    return HTTPException(409, detail=f"A campaign named {name!r} already exists for this client")


@router.post(
    "",
    response_model=CampaignOut,
    status_code=status.HTTP_201_CREATED,
    responses=_NAME_TAKEN,
    summary="Create a campaign",
)
async def create_campaign(
    body: CampaignCreate, tenant: WriteTenant, store: StoreDep
) -> CampaignOut:
    """Create a campaign (status active). Names are unique within a client."""
    now = utcnow()
    doc = {
        "client_id": tenant.require_id(),
        **body.model_dump(),
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    try:
        await store.call(campaigns.insert, store, doc)
    except Conflict as error:
        raise _duplicate(body.name) from error
    return CampaignOut(**public(doc))


@router.get("", response_model=Page[CampaignOut], summary="List campaigns")
async def list_campaigns(
    tenant: ReadTenant, store: StoreDep, page: PageParams
) -> Page[CampaignOut]:
    return await store.call(
        campaigns.page, store, tenant.filter, page, render=lambda doc: CampaignOut(**public(doc))
    )


@router.get("/{campaign_id}", response_model=CampaignOut, summary="Get a campaign")
async def get_campaign(campaign_id: str, tenant: ReadTenant, store: StoreDep) -> CampaignOut:
    doc = await store.call(campaigns.get_owned, store, tenant.filter, campaign_id)
    return CampaignOut(**public(found(doc, "Campaign")))


def _update(store: Store, tenant: Tenant, campaign_id: str, body: CampaignUpdate) -> dict:
    current = found(campaigns.get_owned(store, tenant.filter, campaign_id), "Campaign")
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "platform", "status"):
        if key in changes and changes[key] is None:
            raise HTTPException(422, detail=f"{key} cannot be null")
    low = changes.get("min_budget", current.get("min_budget"))
    high = changes.get("max_budget", current.get("max_budget"))
    if low is not None and high is not None and low > high:
        raise HTTPException(422, detail="min_budget must not exceed max_budget")
    touches_states = any(
        key in changes and changes[key] != current.get(key)
        for key in ("status", "min_budget", "max_budget")
    )
    # Checked against every running state before anything is stored (InvalidRequest: 422).
    planned = rebalanced_states(store, {**current, **changes}) if touches_states else []
    try:
        doc = campaigns.update_owned(
            store, tenant.filter, campaign_id, {"$set": {**changes, "updated_at": utcnow()}}
        )
    except Conflict as error:
        raise _duplicate(changes["name"]) from error
    if doc is None:
        raise not_found("Campaign")
    if touches_states:
        save_rebalanced(store, doc, planned)
    return doc


@router.patch(
    "/{campaign_id}",
    response_model=CampaignOut,
    responses=_NAME_TAKEN,
    summary="Change a campaign (re-balances running states)",
)
async def update_campaign(
    campaign_id: str, body: CampaignUpdate, tenant: WriteTenant, store: StoreDep
) -> CampaignOut:
    """Rename, re-bound or pause/stop/resume a campaign.

    A change of status or of `min_budget`/`max_budget` re-balances the current timestep of
    every running state using the campaign at once, and holds for the rest of their runs:
    paused and stopped campaigns get nothing. Bounds that cannot hold with a running state's
    budget answer 422 and nothing is stored.
    """
    return CampaignOut(**public(await store.call(_update, store, tenant, campaign_id, body)))


def _delete(store: Store, tenant: Tenant, campaign_id: str) -> None:
    doc = found(campaigns.get_owned(store, tenant.filter, campaign_id), "Campaign")
    client_id = doc["client_id"]
    # Mark, then check, then delete; state creation stores, then checks for a mark. Whichever
    # order their steps take on a server, one of the two sees the other: no run is left on a
    # deleted campaign.
    if not campaigns.mark_deleting(store, client_id, campaign_id):
        raise not_found("Campaign")
    if states.count_running_with(store, client_id, campaign_id):
        campaigns.unmark_deleting(store, client_id, campaign_id)
        raise HTTPException(409, detail="A running state uses this campaign: stop or delete it")
    campaigns.delete(store, client_id, campaign_id)


@router.delete(
    "/{campaign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409, described={409: "An active or paused state uses the campaign"}),
    summary="Delete a campaign",
)
async def delete_campaign(campaign_id: str, tenant: WriteTenant, store: StoreDep) -> Response:
    """Delete a campaign no running (active or paused) state uses (409 otherwise).

    The delete marks the campaign before it checks, and state creation checks for a mark
    after it stores the run (undoing it when it finds one), so no run is made on a deleted
    campaign on any backend, a MongoDB server's concurrent calls included."""
    await store.call(_delete, store, tenant, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
