"""States: optimization runs over a timeframe, advanced one timestep at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response, status

from models.common import TENANT_ERRORS, Page, errors
from models.states import (
    CREATE_EXAMPLES,
    BudgetOut,
    HistoryRow,
    MetricsOut,
    MetricsPost,
    NextBody,
    StateCreate,
    StateOut,
)
from utils.bodies import BodyRoute
from utils.crud import states
from utils.db import Store
from utils.deps import DecisionsDep, ReadTenant, StoreDep, Tenant, WriteTenant, found, not_found
from utils.pagination import PageParams
from utils.priors import PriorNotFound, PriorNotReady
from utils.state_reads import budget_answer, history_page, metrics_of
from utils.timesteps import (
    Recorded,
    advance,
    create_state,
    delete_state,
    refold,
    set_paused,
    state_view,
    store_metrics,
)

router = APIRouter(
    route_class=BodyRoute, prefix="/states", tags=["states"], responses=TENANT_ERRORS
)

_CONFLICT = errors(
    409,
    described={
        409: "Completed, paused, or advanced by another call: `detail` holds `message` and "
        "the state's `current_time`"
    },
)
_REFOLD_CONFLICT = errors(
    409,
    described={
        409: "A late correction's rows are recorded, but the state kept changing while they "
        "were folded into its engine: post the same rows again. `detail` holds "
        "`message` and `current_time`"
    },
)
_STATUS_CONFLICT = errors(409, described={409: "The state is not in a status that allows this"})


def _load(store: Store, tenant: Tenant, state_id: str) -> dict:
    return found(states.get_owned(store, tenant.filter, state_id), "State")


@router.post(
    "",
    response_model=StateOut,
    status_code=status.HTTP_201_CREATED,
    summary="Start a state (an optimization run)",
    responses=errors(
        404,
        409,
        described={
            404: "The prior's fit or model was not found",
            409: "The prior's marketing-mix model is still fitting, or its fit failed",
        },
    ),
)
async def create(
    body: Annotated[StateCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    tenant: WriteTenant,
    store: StoreDep,
) -> dict:
    """Start a run: the first allocation is decided at once, for timestep 0 (or, with a
    `prior`, from the stored fit's or marketing-mix model's curves)."""
    client_id = tenant.require_id()
    try:
        return state_view(await store.call(create_state, store, client_id, body))
    except PriorNotFound as error:
        raise not_found("Model" if body.prior.model_id is not None else "Fit") from error
    except PriorNotReady as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error


@router.get("", response_model=Page[StateOut], summary="List states")
async def list_states(tenant: ReadTenant, store: StoreDep, page: PageParams) -> Page[StateOut]:
    return await store.call(
        states.page, store, tenant.filter, page, render=lambda doc: StateOut(**state_view(doc))
    )


@router.get("/{state_id}", response_model=StateOut, summary="Get a state")
async def get_state(state_id: str, tenant: ReadTenant, store: StoreDep) -> dict:
    return state_view(await store.call(_load, store, tenant, state_id))


@router.delete(
    "/{state_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a state and its history",
)
async def delete(state_id: str, tenant: WriteTenant, store: StoreDep) -> Response:
    """Delete a state with its history and metrics."""

    def deleted() -> None:
        delete_state(store, _load(store, tenant, state_id))

    await store.call(deleted)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _set_status(store: Store, tenant: Tenant, state_id: str, old: str, new: str) -> dict:
    doc = _load(store, tenant, state_id)
    if doc["status"] != old:
        raise HTTPException(409, detail=f"The state is {doc['status']}, not {old}")
    updated = set_paused(store, doc, paused=new == "paused")
    if updated is None:
        raise HTTPException(409, detail="The state changed meanwhile: try again")
    return state_view(updated)


@router.post(
    "/{state_id}/pause",
    response_model=StateOut,
    responses=_STATUS_CONFLICT,
    summary="Pause a state",
)
async def pause(state_id: str, tenant: WriteTenant, store: StoreDep) -> dict:
    """Stop advancing (cron skips it; `next` answers 409) until resumed. The run's clock stops
    too: resuming moves `next_due_at` and every later due time on by the time paused."""
    return await store.call(_set_status, store, tenant, state_id, "active", "paused")


@router.post(
    "/{state_id}/resume",
    response_model=StateOut,
    responses=_STATUS_CONFLICT,
    summary="Resume a state",
)
async def resume(state_id: str, tenant: WriteTenant, store: StoreDep) -> dict:
    return await store.call(_set_status, store, tenant, state_id, "paused", "active")


@router.post(
    "/{state_id}/metrics",
    response_model=MetricsOut,
    responses=_REFOLD_CONFLICT,
    summary="Report a timestep's metrics",
)
async def post_metrics(
    state_id: str,
    body: MetricsPost,
    tenant: WriteTenant,
    store: StoreDep,
    decisions: DecisionsDep,
) -> MetricsOut:
    """Record what happened in a timestep; reposting a campaign's row replaces it.

    An earlier timestep is a late correction: its history row shows it, the run's remaining
    budget is re-paced on the corrected spend (the current timestep's budgets shrink if less
    is left than they add up to), and the next decision learns from the corrected numbers
    as if they had come in time (the decisions already taken stand).
    """

    def stored() -> tuple[dict, Recorded]:
        doc = _load(store, tenant, state_id)
        return doc, store_metrics(store, doc, body)

    doc, recorded = await store.call(stored)
    if recorded.refold:
        await refold(store, decisions, doc)
    return MetricsOut(
        state_id=doc["_id"],
        timestep=body.timestep,
        recorded=recorded.written,
        correction=recorded.correction,
    )


@router.get(
    "/{state_id}/metrics",
    response_model=dict[str, dict[str, float | None] | None],
    summary="A timestep's reported metrics",
)
async def get_metrics(
    state_id: str,
    tenant: ReadTenant,
    store: StoreDep,
    timestep: Annotated[
        int | None,
        Query(ge=0, description="Default: the current one (a completed state's last one)."),
    ] = None,
) -> dict:
    """What has been reported for a timestep, per campaign (null: nothing yet); 422 for a
    timestep that has not started or never ran."""
    return await store.call(lambda: metrics_of(store, _load(store, tenant, state_id), timestep))


@router.post(
    "/{state_id}/next",
    response_model=StateOut,
    responses=_CONFLICT,
    summary="Advance to the next timestep",
)
async def next_timestep(
    state_id: str,
    tenant: WriteTenant,
    store: StoreDep,
    decisions: DecisionsDep,
    body: Annotated[NextBody | None, Body()] = None,
) -> dict:
    """Feed timestep `current_time`'s metrics to the policy and advance by one.

    Exactly once: with concurrent calls one answers 200 and the others 409 with the current
    `current_time`. After the last timestep (or when the budget is spent) the state is
    completed and further calls answer 409.
    """
    expected_time = body.expected_time if body else None
    updated = await advance(store, decisions, lambda: _load(store, tenant, state_id), expected_time)
    return state_view(updated)


@router.get(
    "/{state_id}/budget", response_model=BudgetOut, summary="The current timestep's budgets"
)
async def budget(state_id: str, tenant: ReadTenant, store: StoreDep) -> BudgetOut:
    """What to spend on each campaign in the current timestep, to the cent (adding up to no
    more than the timestep's budget): `budgets` maps campaign ids to amounts, `campaigns`
    gives the same amounts with each campaign's name and platform (null for a campaign
    deleted since)."""
    return await store.call(lambda: budget_answer(store, _load(store, tenant, state_id)))


@router.get(
    "/{state_id}/history", response_model=Page[HistoryRow], summary="History of finished timesteps"
)
async def history(
    state_id: str, tenant: ReadTenant, store: StoreDep, page: PageParams
) -> Page[HistoryRow]:
    """One row per finished timestep, oldest first, with the campaigns' names."""
    return await store.call(lambda: history_page(store, _load(store, tenant, state_id), page))
