"""Curve-fit optimizers: fit response curves, allocate a budget exactly, plan several periods.

/fit stores its result per tenant (so it needs the `write` scope), and /allocate and /plan,
which only read, can take its `fit_id` instead of curves. Bad data or settings answer 422
naming the campaign and the problem.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.datasets import Dataset, parse_csv, parse_rows
from engine.ensemble import curves_from_fit, fit_dataset
from engine.errors import EngineError
from engine.response import ResponseCurves
from engine.scenarios import optimize_allocation
from engine.specs import curves_from_specs
from models.common import errors, inline_refs
from models.optimize import CurveSource
from models.optimize_allocate import CurveAllocateOut, CurveAllocateRequest
from models.optimize_fit import MAX_FIT_CAMPAIGNS, FitOut, FitRequest, FitSettings
from models.optimize_plan import PlanRequest, PlanResponse
from utils import model_budgets
from utils.bodies import BodyRoute, validate_body, validate_model
from utils.crud import clients, fits
from utils.db import Store, utcnow
from utils.deps import ReadTenant, StoreDep, Tenant, WriteTenant, not_found

router = APIRouter(
    route_class=BodyRoute, prefix="/optimize", tags=["optimize"], responses=errors(401, 403, 503)
)

INVALID = errors(422, described={422: "Invalid data or settings; the detail names the campaign."})
NO_CLIENT = "An admin's client_id names no client"
FIT_NOT_FOUND = errors(404, described={404: f"No such fit for this client, or: {NO_CLIENT}"})
SOURCE_NOT_FOUND = errors(
    404,
    409,
    described={
        404: f"No such fit or model for this client, or: {NO_CLIENT}",
        409: "The model named by model_id is still fitting, or its fit failed",
    },
)
FLIGHTING_SECONDS = 20.0  # a larger plan answers with its certified gap after this long
FORM_FIELDS = ("models", "metric", "holdout_share", "adstock", "spend_ranges", "downstream")


FIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": inline_refs(FitRequest.model_json_schema()),
                "example": {
                    "rows": [
                        {"date": "2024-01-01", "campaign": "search", "spend": 120, "revenue": 410},
                        {"date": "2024-01-02", "campaign": "search", "spend": 80, "revenue": 300},
                    ],
                    "holdout_share": 0.25,
                },
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "CSV"},
                        "models": {"type": "string", "description": "comma-separated, each once"},
                        "metric": {"type": "string", "enum": ["auto", "conversions", "revenue"]},
                        "holdout_share": {"type": "number"},
                        "adstock": {"type": "boolean"},
                        "spend_ranges": {"type": "string", "description": "JSON object"},
                        "downstream": {"type": "string", "description": "JSON object"},
                    },
                }
            },
        },
    }
}


def _form_settings(form: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for field in FORM_FIELDS:
        value = form.get(field)
        if value is None or isinstance(value, UploadFile):
            continue
        if field == "models":
            settings[field] = [name.strip() for name in value.split(",") if name.strip()]
        elif field in ("spend_ranges", "downstream"):
            try:
                settings[field] = json.loads(value)
            except json.JSONDecodeError:
                raise HTTPException(422, detail=f"{field} must be a JSON object") from None
        else:
            settings[field] = value
    unknown = sorted(set(form) - {*FORM_FIELDS, "file"})
    if unknown:
        raise HTTPException(422, detail=f"unknown form fields: {', '.join(unknown)}")
    return settings


async def _read_fit_request(request: Request) -> tuple[Dataset, FitSettings]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=len(FORM_FIELDS))
        except StarletteHTTPException as error:
            if error.status_code == 413:
                raise
            # Starlette answers 400 for a form over its limits or malformed; it is bad input
            # like an unknown field, answered 422 with what the form takes.
            raise HTTPException(
                422,
                detail=f"the form could not be read ({error.detail}); it takes the field "
                f"'file' and, once each, {', '.join(FORM_FIELDS)}",
            ) from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, detail="upload the CSV as the form field 'file'")
        # The whole upload is within MAX_UPLOAD_BYTES (utils.bodies.BodyLimit answered 413).
        raw = await upload.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(422, detail="the CSV must be UTF-8 text") from None
        settings = validate_model(FitSettings, _form_settings(form))
        return await run_in_threadpool(parse_csv, text, settings.metric), settings
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPException(422, detail="the body must be JSON rows or a CSV upload") from None
    body = await validate_body(request, FitRequest, payload)
    return await run_in_threadpool(parse_rows, body.rows, body.metric), body


def _finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(item) for item in value)
    return not isinstance(value, float) or bool(np.isfinite(value))


def _checked(result: dict) -> dict:
    """Refuse answers that overflowed (JSON has no infinities): 422 instead of a failure."""
    if not _finite(result):
        raise EngineError(
            "the figures overflow at this scale: express spend and response in larger units"
        )
    return result


def _fit_out(doc: dict) -> FitOut:
    return FitOut(id=doc["_id"], **doc["fit"])


@router.post(
    "/fit",
    response_model=FitOut,
    status_code=status.HTTP_201_CREATED,
    summary="Fit response curves per campaign and store them",
    responses={**INVALID, **errors(404, described={404: NO_CLIENT})},
    openapi_extra=FIT_BODY,
)
async def fit(request: Request, tenant: WriteTenant, store: StoreDep) -> FitOut:
    """Fit negative-exponential, Michaelis-Menten, Hill and local-slope curves per campaign
    (adstock decay fitted too), score them on the latest dates, and weight them into an
    ensemble. Send JSON `rows` or upload a CSV as `file` (form fields for the settings).
    The fit is stored, so this needs the `write` scope; allocate and plan only read."""
    client_id = tenant.require_id()
    dataset, settings = await _read_fit_request(request)
    if len(dataset.campaigns) > MAX_FIT_CAMPAIGNS:
        raise EngineError(
            f"the data has {len(dataset.campaigns)} campaigns; fit at most {MAX_FIT_CAMPAIGNS}"
        )
    result = await run_in_threadpool(
        fit_dataset,
        dataset,
        settings.models,
        holdout_share=settings.holdout_share,
        adstock=settings.adstock,
        spend_ranges=settings.spend_ranges,
        downstream={name: d.model_dump() for name, d in settings.downstream.items()},
    )
    doc = {"client_id": client_id, "created_at": utcnow(), "fit": _checked(result)}
    await store.call(fits.insert, store, doc)
    # Deleting a client removes the client, then its fits: one deleted while this fit ran
    # either took it along or is seen gone here, so no fit outlives its client.
    if not await store.call(clients.exists, store, client_id):
        await store.call(fits.delete, store, doc["_id"])
        raise not_found("Client")
    return _fit_out(doc)


@router.get(
    "/fits/{fit_id}",
    response_model=FitOut,
    summary="A stored fit",
    responses={**FIT_NOT_FOUND, **errors(422)},
)
async def get_fit(fit_id: str, tenant: ReadTenant, store: StoreDep) -> FitOut:
    doc = await store.call(fits.get_owned, store, tenant.filter, fit_id)
    if doc is None:
        raise not_found("Fit")
    return _fit_out(doc)


async def _stored_fit(body: CurveSource, tenant: Tenant, store: Store) -> dict | None:
    """The stored fit `body` names (404 when the tenant has none of that id), or None when
    it gives its curves inline or a model."""
    if body.fit_id is None:
        return None
    doc = await store.call(fits.get_owned, store, tenant.filter, body.fit_id)
    if doc is None:
        raise not_found("Fit")
    return doc


def _resolve_curves(
    body: CurveSource, doc: dict | None, *, steady_state: bool
) -> tuple[list[str], ResponseCurves, dict[str, np.ndarray]]:
    """Names, curves and per-campaign arrays (min, max, current, value, theta)."""
    if body.curves is not None:
        names, curves = curves_from_specs([curve.model_dump() for curve in body.curves])
        rows = [curve.model_dump() for curve in body.curves]
        fitted_values = [None] * len(rows)
        thetas = [row.get("theta", 0.0) for row in rows]
    else:
        names, curves = curves_from_fit(doc["fit"], body.model, steady_state=steady_state)
        unknown = sorted(set(body.campaigns) - set(names))
        if unknown:
            raise EngineError(f"campaign {unknown[0]!r} is not in fit {body.fit_id}")
        rows = [
            body.campaigns[name].model_dump() if name in body.campaigns else {} for name in names
        ]
        fitted_values = [c.get("value_per_response") for c in doc["fit"]["campaigns"]]
        thetas = [c["theta"] for c in doc["fit"]["campaigns"]]

    def column(key: str, missing: float, fallback: list | None = None) -> np.ndarray:
        values = []
        for position, row in enumerate(rows):
            value = row.get(key)
            if value is None and fallback is not None:
                value = fallback[position]
            values.append(missing if value is None else value)
        return np.array(values, dtype=float)

    arrays = {
        "lower": column("min", 0.0),
        "upper": column("max", np.inf),
        "current": column("current", np.nan),
        "value": column("value", 1.0, fitted_values),
        "theta": np.array(thetas, dtype=float),
    }
    return names, curves, arrays


@router.post(
    "/allocate",
    response_model=CurveAllocateOut,
    summary="Allocate a budget exactly over response curves",
    responses={**INVALID, **SOURCE_NOT_FOUND},
)
async def allocate(
    body: CurveAllocateRequest, tenant: ReadTenant, store: StoreDep
) -> CurveAllocateOut:
    """The optimum (KKT, bisection on the Lagrange multiplier; exact for concave curves) of a
    fixed budget, a
    flexible budget (spend while marginal ROI >= `target_mroi`, or while an extra unit still
    pays for itself under `objective: net_profit`), or a target efficiency (most response
    with overall ROAS >= `target_roas` or CPA <= `target_cpa`); `capacity` caps the total
    response; `target_kpi` finds the least spend reaching `target`; `groups` keep the total of
    groups of campaigns within bounds (fixed_budget and target_kpi). S-shaped Hill curves are
    optimized through their concave envelopes, a campaign
    left partway up an envelope's straight stretch then tried at both of its ends.
    With `model_id` the channels of a marketing-mix model are the campaigns: the allocation
    maximizes the posterior-mean KPI and `expected_kpi` gives it with its 90% interval
    (scenarios fixed_budget with bounds and groups, flexible_budget, target_efficiency)."""
    if body.model_id is not None:
        stored = await store.call(model_budgets.ready_doc, store, tenant.filter, body.model_id)
        report = await run_in_threadpool(model_budgets.allocate, body, stored)
        return CurveAllocateOut(**_checked(report))
    doc = await _stored_fit(body, tenant, store)
    return await run_in_threadpool(_allocate, body, doc)


def _allocate(body: CurveAllocateRequest, doc: dict | None) -> CurveAllocateOut:
    names, curves, arrays = _resolve_curves(body, doc, steady_state=True)
    current = arrays["current"] if np.any(~np.isnan(arrays["current"])) else None
    report = optimize_allocation(
        curves,
        body.budget,
        body.scenario,
        objective=body.objective,
        values=arrays["value"],
        lower=arrays["lower"],
        upper=arrays["upper"],
        current=current,
        capacity=body.capacity,
        target_mroi=body.target_mroi,
        target_roas=body.target_roas,
        target_cpa=body.target_cpa,
        target=body.target,
        groups=[group.model_dump() for group in body.groups],
        names=names,
    )
    return CurveAllocateOut(**_checked(report), fit_id=body.fit_id)


@router.post(
    "/plan",
    response_model=PlanResponse,
    summary="Plan several periods: sequential with carry-over, and one static weight vector",
    responses={**INVALID, **SOURCE_NOT_FOUND},
)
async def plan(body: PlanRequest, tenant: ReadTenant, store: StoreDep) -> PlanResponse:
    """Allocate each period's budget month by month with adstock carried over (each curve is
    f(adstock), theta per campaign), and, for comparison, the single weight vector that does
    best when applied to every period's budget. Both totals are reported. `initial_stock`
    carries in the adstock of spend made before the plan. With `total_budget` (and
    `periods`, optionally `period_bounds`) the plan also chooses how much each period spends
    (flighting), solved jointly with a certified optimality gap. With `model_id` the plan
    runs on a marketing-mix model's posterior-mean curves, its adstock carried over, and
    `expected_kpi` gives each plan's total KPI with its 90% interval."""
    if body.model_id is not None:
        stored = await store.call(model_budgets.ready_doc, store, tenant.filter, body.model_id)
        result = await run_in_threadpool(model_budgets.plan, body, stored, FLIGHTING_SECONDS)
        return PlanResponse(**_checked(result))
    doc = await _stored_fit(body, tenant, store)
    return await run_in_threadpool(_plan, body, doc)


def _plan(body: PlanRequest, doc: dict | None) -> PlanResponse:
    names, curves, arrays = _resolve_curves(body, doc, steady_state=False)
    initial = model_budgets.initial_stock(body, names)
    result = model_budgets.run_plan(
        body,
        curves,
        names,
        arrays["theta"],
        arrays["lower"],
        arrays["upper"],
        initial,
        FLIGHTING_SECONDS,
    )
    return PlanResponse(**_checked(result), fit_id=body.fit_id)
