"""Insights: what a performance analyst and a budget strategist read in a state's history."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from engine.insight_inputs import CampaignInfo, RunInfo
from engine.insights import analyze
from models.common import TENANT_ERRORS
from models.insights import InsightsOut
from utils.bodies import BodyRoute
from utils.crud import campaigns, history, states
from utils.db import Store
from utils.deps import ReadTenant, SettingsDep, StoreDep, Tenant, found
from utils.narration import narrate
from utils.timesteps import history_rows, state_view

router = APIRouter(
    route_class=BodyRoute, prefix="/states", tags=["insights"], responses=TENANT_ERRORS
)


def _campaign_infos(store: Store, state: dict) -> list[CampaignInfo]:
    """The state's campaigns in its order; a campaign deleted since shows by id, inactive."""
    listed = campaigns.of_client(store, state["client_id"], state["campaign_ids"])
    by_id = {doc["_id"]: doc for doc in listed}
    infos = []
    for cid in state["campaign_ids"]:
        doc = by_id.get(cid)
        if doc is None:
            infos.append(CampaignInfo(cid, cid, active=False))
            continue
        infos.append(
            CampaignInfo(
                cid,
                doc["name"],
                min_budget=doc.get("min_budget"),
                max_budget=doc.get("max_budget"),
                active=doc.get("status", "active") == "active",
            )
        )
    return infos


def _read(store: Store, tenant: Tenant, state_id: str) -> tuple[dict, list, list]:
    """The state, its finished timesteps' rows, and its campaigns, in one store call."""
    doc = found(states.get_owned(store, tenant.filter, state_id), "State")
    rows = history_rows(store, doc, history.rows_for(store, doc))
    return doc, rows, _campaign_infos(store, doc)


@router.get("/{state_id}/insights", response_model=InsightsOut, summary="Analyse a state's history")
async def insights(
    state_id: str, tenant: ReadTenant, store: StoreDep, settings: SettingsDep
) -> InsightsOut:
    """Trends, anomalies, saturation, learning status, recommendations and warnings.

    Computed by Oktopus from the state's history. When LLM_API_KEY is set, a language model
    also narrates the analysis (`narrative`); when it is not, or the call fails or times out,
    `narrative_error` says why and the analysis is returned alone.
    """
    doc, rows, infos = await store.call(_read, store, tenant, state_id)
    state = state_view(doc)
    run = RunInfo(
        budget=state["budget"],
        remaining=state["remaining"],
        timesteps=state["timesteps"],
        current_time=state["current_time"],
        floor=state["floor"],
        step=state["step"],
        budgets=state["budgets"] if state["status"] != "completed" else None,
    )
    analysis = await run_in_threadpool(analyze, rows, infos, state["objective"], run)
    narrative, narrative_error = await run_in_threadpool(narrate, analysis, settings)
    return InsightsOut(
        state_id=state["id"], **analysis, narrative=narrative, narrative_error=narrative_error
    )
