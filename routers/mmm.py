"""Marketing-mix models: fit a joint Bayesian model of a KPI from spend history, then read
its summary, decomposition over time and response curves.

POST stores the model (`write` scope) and fits it off the event loop: 201 with the model
when the fit ends within a few seconds, else 202 with the job to poll at GET /models/{id}
(`status`, `progress`). Bad data answers 422 naming the column and the row, and stores
nothing. Another client's model answers 404 like a missing one.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.common import TENANT_ERRORS, Page, errors, inline_refs
from models.mmm import (
    MAX_CSV_BYTES,
    CurvesOut,
    DecompositionOut,
    ModelOut,
    ModelRequest,
    ModelSettings,
    RoiPriorChoice,
)
from utils import marketing_mix
from utils.bodies import BodyRoute, validate_body
from utils.crud import models as model_docs
from utils.db import Store
from utils.deps import ReadTenant, StoreDep, Tenant, WriteTenant, not_found
from utils.pagination import PageParams

router = APIRouter(
    route_class=BodyRoute, prefix="/models", tags=["models"], responses=TENANT_ERRORS
)

INVALID = errors(422, described={422: "Invalid data or settings; the detail names the column "
                                      "and the row."})  # fmt: skip
NOT_FOUND = errors(404, described={404: "No such model for this client"})
NOT_READY = errors(409, described={409: "The model is still fitting, or its fit failed"})
FORM_FIELDS = (
    "kpi", "date", "controls", "priors", "saturation", "max_lag", "holdout", "roi_prior",
)  # fmt: skip
EXAMPLE_ROWS = [
    {"date": "2024-01-01", "revenue": 120500, "tv": 15000, "search": 4200, "price": 9.9},
    {"date": "2024-01-08", "revenue": 131800, "tv": 18000, "search": 3900, "price": 9.7},
]


BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": inline_refs(ModelRequest.model_json_schema()),
                "example": {
                    "rows": EXAMPLE_ROWS,
                    "kpi": "revenue",
                    "controls": ["price"],
                    "priors": [{"channel": "tv", "roi_mean": 2.1, "roi_sd": 0.4}],
                    "roi_prior": "auto",
                },
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "CSV"},
                        "kpi": {"type": "string"},
                        "date": {"type": "string"},
                        "controls": {"type": "string", "description": "comma-separated"},
                        "priors": {"type": "string", "description": "JSON list of priors"},
                        "saturation": {"type": "string", "enum": ["hill", "negexp"]},
                        "max_lag": {"type": "integer"},
                        "holdout": {"type": "number"},
                        "roi_prior": {"type": "string", "enum": list(get_args(RoiPriorChoice))},
                    },
                }
            },
        },
    }
}


def _validated(model: type, data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None


def _form_settings(form: Any) -> dict[str, Any]:
    unknown = sorted(set(form) - {*FORM_FIELDS, "file"})
    if unknown:
        raise HTTPException(422, detail=f"unknown form fields: {', '.join(unknown)}")
    settings: dict[str, Any] = {}
    for field in FORM_FIELDS:
        value = form.get(field)
        if value is None or isinstance(value, UploadFile) or value == "":
            continue
        if field == "controls":
            settings[field] = [name.strip() for name in value.split(",") if name.strip()]
        elif field == "priors":
            try:
                settings[field] = json.loads(value)
            except json.JSONDecodeError:
                raise HTTPException(422, detail="priors must be a JSON list") from None
        else:
            settings[field] = value
    return settings


async def _read(request: Request) -> tuple[list[dict] | str, ModelSettings]:
    """Rows from a JSON body or CSV text from a multipart upload, with the settings."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=len(FORM_FIELDS))
        except StarletteHTTPException as error:
            raise HTTPException(
                422, detail=f"the form could not be read ({error.detail})"
            ) from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, detail="upload the CSV as the form field 'file'")
        raw = await upload.read(MAX_CSV_BYTES + 1)
        if len(raw) > MAX_CSV_BYTES:
            raise HTTPException(422, detail=f"the CSV is larger than {MAX_CSV_BYTES} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise HTTPException(422, detail="the CSV must be UTF-8 text") from None
        return text, _validated(ModelSettings, _form_settings(form))
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPException(422, detail="the body must be JSON rows or a CSV upload") from None
    body = await validate_body(request, ModelRequest, payload)
    return body.rows, body


@router.post(
    "",
    response_model=ModelOut,
    status_code=status.HTTP_201_CREATED,
    summary="Fit a marketing-mix model and store it",
    responses={
        202: {"model": ModelOut, "description": "Still fitting: poll GET /models/{id}"},
        **INVALID,
        **errors(404, described={404: "An admin's client_id names no client"}),
    },
    openapi_extra=BODY,
)
async def create_model(
    request: Request, response: Response, tenant: WriteTenant, store: StoreDep
) -> dict:
    """KPI = baseline + trend + seasonality + controls + each channel's saturated adstocked
    spend + noise, fitted jointly with honest 90% intervals. Send JSON `rows` or upload a
    CSV as `file` (the settings as form fields, `controls` comma-separated)."""
    client_id = tenant.require_id()
    source, settings = await _read(request)
    data, model = await run_in_threadpool(marketing_mix.prepare, source, settings)
    # The fits under way, held so they are not garbage-collected before they end.
    jobs = getattr(request.app.state, "mmm_jobs", None)
    if jobs is None:
        jobs = request.app.state.mmm_jobs = set()
    doc, done = await marketing_mix.create(store, client_id, data, model, jobs)
    if not done:
        response.status_code = status.HTTP_202_ACCEPTED
    return marketing_mix.render(doc)


@router.get("", response_model=Page[ModelOut], summary="The client's models")
async def list_models(tenant: ReadTenant, store: StoreDep, page: PageParams) -> Page[ModelOut]:
    def render(doc: dict) -> ModelOut:
        return ModelOut(**marketing_mix.render(doc))

    return await store.call(model_docs.page, store, tenant.filter, page, render)


async def _owned(store: Store, tenant: Tenant, model_id: str, projection: dict) -> dict:
    doc = await store.call(model_docs.get_owned, store, tenant.filter, model_id, projection)
    if doc is None:
        raise not_found("Model")
    return doc


def _ready(doc: dict) -> dict:
    if doc["status"] != "ready":
        raise HTTPException(409, detail=f"the model is {doc['status']}, not ready")
    return doc


@router.get("/{model_id}", response_model=ModelOut, summary="A model", responses=NOT_FOUND)
async def get_model(model_id: str, tenant: ReadTenant, store: StoreDep) -> dict:
    """The model's summary, or while it fits its `status` and `progress`."""
    return marketing_mix.render(await _owned(store, tenant, model_id, model_docs.SUMMARY))


@router.get(
    "/{model_id}/decomposition",
    response_model=DecompositionOut,
    summary="The KPI decomposed over time",
    responses={**NOT_FOUND, **NOT_READY},
)
async def get_decomposition(model_id: str, tenant: ReadTenant, store: StoreDep) -> dict:
    """Baseline, trend, seasonality, controls and each channel per period (posterior mean)."""
    doc = _ready(await _owned(store, tenant, model_id, {"decomposition": 1, "status": 1}))
    return {"id": doc["_id"], **doc["decomposition"]}


@router.get(
    "/{model_id}/curves",
    response_model=CurvesOut,
    summary="Response curves with 90% bands",
    responses={**NOT_FOUND, **NOT_READY},
)
async def get_curves(model_id: str, tenant: ReadTenant, store: StoreDep) -> dict:
    """Each channel's KPI per period at a steady spend per period: mean and 90% band."""
    doc = _ready(await _owned(store, tenant, model_id, {"curves": 1, "status": 1}))
    return {"id": doc["_id"], **doc["curves"]}


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a model (a fit under way is dropped)",
    responses=NOT_FOUND,
)
async def delete_model(model_id: str, tenant: WriteTenant, store: StoreDep) -> Response:
    if not await store.call(model_docs.delete_owned, store, tenant.filter, model_id):
        raise not_found("Model")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
