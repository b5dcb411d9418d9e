"""Request and response shapes of /optimize/fit: observations in, fitted curves out.

The settings are shared by JSON bodies and CSV uploads; the answer gives every campaign's
fitted models, their scores and the ensemble's grid, under an id /allocate and /plan take.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from models.common import CreateBody, FiniteFloat, Name, PositiveMoney, bounded

MAX_ROWS = 100_000
MAX_FIT_CAMPAIGNS = 200
FitModel = Literal["negexp", "mm", "hill", "local_slope"]
Cell = FiniteFloat | str | None


class Downstream(BaseModel):
    """What one unit of response is worth: conversion rate downstream x value per transaction."""

    conversion_rate: bounded(float, ge=0, allow_inf_nan=False) = 1.0
    value_per_transaction: bounded(float, ge=0, allow_inf_nan=False)


class FitSettings(CreateBody):
    """How to fit; shared by JSON bodies and CSV uploads (as form fields)."""

    models: list[FitModel] = Field(
        default=["negexp", "mm", "hill", "local_slope"],
        min_length=1,
        max_length=4,
        json_schema_extra={"uniqueItems": True},
        description="The models to fit, each named once.",
    )
    metric: Literal["auto", "conversions", "revenue"] = Field(
        default="auto", description="Response column: revenue if present, else conversions."
    )
    holdout_share: bounded(float, ge=0, lt=1, allow_inf_nan=False) = Field(
        default=0.25, description="Share of the latest dates held out to score forecasts."
    )
    adstock: bool = Field(default=True, description="Fit a geometric adstock decay per campaign.")
    spend_ranges: dict[Name, PositiveMoney] = Field(
        default_factory=dict,
        max_length=MAX_FIT_CAMPAIGNS,
        description="Per campaign, the spend range to optimize over (default: twice the "
        "largest observed spend).",
    )
    downstream: dict[Name, Downstream] = Field(
        default_factory=dict,
        max_length=MAX_FIT_CAMPAIGNS,
        description="Per campaign, downstream figures for the net-profit grids.",
    )

    @field_validator("models")
    @classmethod
    def each_model_once(cls, models: list[str]) -> list[str]:
        """The fit keeps one result per model: a repeated name would be fitted twice and
        weighted twice in the ensemble."""
        repeated = sorted({name for name in models if models.count(name) > 1})
        if repeated:
            raise ValueError(f"name each model once: {', '.join(repeated)} repeated")
        return models


class FitRequest(FitSettings):
    """Observations as JSON rows, long (date, campaign, spend, conversions and/or revenue;
    also day, segment_key, spent, conv) or wide monthly (Month_Year, one column per
    channel, gmv)."""

    rows: list[dict[Annotated[str, Field(max_length=200)], Cell]] = Field(
        min_length=1, max_length=MAX_ROWS
    )


class Metrics(BaseModel):
    rmse: float
    mape: float | None
    r2: float
    points: int | None = None


class Confidence(BaseModel):
    fit: float = Field(description="Akaike weight of the in-sample fit among the models.")
    forecast: float | None = Field(description="1 / (1 + holdout RMSE / mean response).")
    support: float = Field(description="Share of the optimized spend range the model covers.")


class ModelFit(BaseModel):
    params: dict[str, float | list[float]]
    train: Metrics
    holdout: Metrics | None
    confidence: Confidence
    weight: float


class EnsembleGrid(BaseModel):
    spend: list[float]
    response: list[float]
    marginal: list[float]
    net_profit: list[float] | None = None
    marginal_net_profit: list[float] | None = None


class CampaignFit(BaseModel):
    campaign: str
    observations: int
    theta: float = Field(description="Fitted adstock decay: A_t = x_t + theta * A_(t-1).")
    max_spend: float
    spend_range: float
    best_model: str
    models: dict[str, ModelFit]
    ensemble: EnsembleGrid = Field(description="Per-period response at steady state.")
    value_per_response: float | None


class FitOut(BaseModel):
    id: str = Field(description="Give it to /optimize/allocate or /optimize/plan as fit_id.")
    metric: str
    layout: str
    models: list[str]
    campaigns: list[CampaignFit]
