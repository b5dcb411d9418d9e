"""Allocations and plans on a stored marketing-mix model (`model_id` of /optimize).

The model's channels are the campaigns; `campaigns` bounds and values are keyed by channel.
Allocation maximizes the posterior-mean KPI and adds the expected KPI with its 90%
interval; plans carry adstock over at each channel's posterior-mean decay (for the model's
`max_lag` periods when it has one), decide on the mean of PLAN_DRAWS posterior draws and
are scored on all of them: responses, totals and each plan's total KPI with its interval
(engine.mmm.allocation).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from fastapi import HTTPException

from engine.errors import EngineError
from engine.flighting import plan_total_budget
from engine.mmm import MarketingMixModel
from engine.mmm.allocation import (
    PLAN_DRAWS,
    allocate_on_model,
    mean_theta,
    posterior_curves,
    score_plans,
)
from engine.planning import plan_budgets
from engine.response import ResponseCurves
from models.optimize import CurveSource
from models.optimize_allocate import CurveAllocateRequest
from models.optimize_plan import PlanRequest
from utils.crud import models as model_docs
from utils.db import Store
from utils.deps import not_found


def ready_doc(store: Store, tenant_filter: Mapping, model_id: str) -> dict:
    """The tenant's fitted model as stored (404 when it has none of that id, 409 while it
    is fitting or when its fit failed)."""
    doc = model_docs.get_owned(store, tenant_filter, model_id, {"status": 1, "model": 1})
    if doc is None:
        raise not_found("Model")
    if doc["status"] != "ready":
        raise HTTPException(409, detail=f"the model is {doc['status']}, not ready")
    return doc["model"]


def _bounds(body: CurveSource, names: list[str]) -> dict[str, np.ndarray]:
    unknown = sorted(set(body.campaigns) - set(names))
    if unknown:
        raise EngineError(
            f"campaigns: {unknown[0]!r} is not a channel of model {body.model_id} "
            f"(its channels: {', '.join(names)})"
        )
    rows = [body.campaigns[name].model_dump() if name in body.campaigns else {} for name in names]

    def column(key: str, missing: float) -> np.ndarray:
        return np.array([missing if row.get(key) is None else row[key] for row in rows], float)

    return {
        "lower": column("min", 0.0),
        "upper": column("max", np.inf),
        "current": column("current", np.nan),
        "value": column("value", 1.0),
    }


def allocate(body: CurveAllocateRequest, stored: Mapping) -> dict:
    """The /optimize/allocate answer on the stored model's posterior (worker thread)."""
    model = MarketingMixModel.from_dict(stored)
    names = list(model.data.channels)
    arrays = _bounds(body, names)
    current = arrays["current"] if np.any(~np.isnan(arrays["current"])) else None
    report = allocate_on_model(
        model,
        body.budget,
        body.scenario,
        lower=arrays["lower"],
        upper=arrays["upper"],
        current=current,
        values=arrays["value"],
        groups=[group.model_dump() for group in body.groups],
        objective=body.objective,
        target_mroi=body.target_mroi,
        target_roas=body.target_roas,
        target_cpa=body.target_cpa,
    )
    return {**report, "model_id": body.model_id}


def initial_stock(body: PlanRequest, names: list[str]) -> np.ndarray:
    """The plan's carried-in adstock per campaign, in `names`' order (EngineError for a name
    that is not among them)."""
    unknown = sorted(set(body.initial_stock) - set(names))
    if unknown:
        raise EngineError(f"initial_stock: campaign {unknown[0]!r} is not among the curves")
    return np.array([body.initial_stock.get(name, 0.0) for name in names], dtype=float)


def run_plan(
    body: PlanRequest,
    curves: ResponseCurves,
    names: list[str],
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    initial: np.ndarray,
    time_limit: float,
    max_lag: int | None = None,
) -> dict:
    """A plan on given curves: the periods' `budgets` as given, or a `total_budget` whose
    split across periods is chosen too (flighting, stopped after `time_limit` seconds with
    its certified gap); `max_lag` cuts the carry-over after that many periods."""
    if body.total_budget is None:
        return plan_budgets(
            curves,
            body.budgets,
            theta,
            lower,
            upper,
            initial_stock=initial,
            names=names,
            max_lag=max_lag,
        )
    bounds = body.period_bounds or []
    return plan_total_budget(
        curves,
        body.total_budget,
        body.periods,
        theta,
        lower,
        upper,
        period_min=[b.min or 0.0 for b in bounds] if bounds else None,
        period_max=[np.inf if b.max is None else b.max for b in bounds] if bounds else None,
        initial_stock=initial,
        names=names,
        time_limit=time_limit,
        max_lag=max_lag,
    )


def plan(body: PlanRequest, stored: Mapping, time_limit: float) -> dict:
    """The /optimize/plan answer on the stored model's posterior-mean curves (worker
    thread); a flighting plan stops with its certified gap after `time_limit` seconds."""
    model = MarketingMixModel.from_dict(stored)
    names = list(model.data.channels)
    arrays = _bounds(body, names)
    initial = initial_stock(body, names)
    theta = mean_theta(model)
    curves = posterior_curves(model, theta, PLAN_DRAWS)
    result = run_plan(
        body,
        curves,
        names,
        theta,
        arrays["lower"],
        arrays["upper"],
        initial,
        time_limit,
        max_lag=model.max_lag,
    )
    return {**score_plans(model, result, theta, initial), "model_id": body.model_id}
