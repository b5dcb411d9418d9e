"""Bodies and answers of a living run: edits (PATCH), events, warm-start priors, learnt curves
and forecasts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from models.common import (
    FiniteFloat,
    Id,
    PositiveMoney,
    Share,
    UpdateBody,
    bounded,
)
from models.money import budgets_in_cents, cents, cents_down

MAX_CAMPAIGNS = 200


class PriorIn(UpdateBody):
    """Where a `curve` run's prior comes from: a stored curve fit (`POST /api/optimize/fit`)
    or a ready marketing-mix model (`POST /api/models`), exactly one of them."""

    fit_id: Id | None = Field(
        default=None, description="A stored fit of this client (`POST /api/optimize/fit`)."
    )
    model_id: Id | None = Field(
        default=None,
        description="A ready marketing-mix model of this client (`POST /api/models`): its "
        "channels' posterior-mean curves, matched to the campaigns by name then external_id.",
        examples=["6750c1f2a9e4b3d2c1a0f9e8"],
    )

    @model_validator(mode="after")
    def one_source(self) -> PriorIn:
        if (self.fit_id is None) == (self.model_id is None):
            raise ValueError("give exactly one of fit_id and model_id")
        return self


PriorStrength = bounded(
    float,
    gt=0,
    le=1000,
    allow_inf_nan=False,
    description="How many timesteps of data the prior is worth at the start (it then fades "
    "by half every 4 timesteps). Default 0.5, chosen by benchmarks/warm_start.py.",
)


class StatePatch(UpdateBody):
    """A change to a running state: only the fields sent change."""

    version: bounded(int, ge=0) | None = Field(
        default=None,
        description="Change only if the state's version is still this (409 otherwise, with "
        "the current version). Default: the version read by this request.",
    )
    name: str | None = Field(default=None, max_length=200)
    budget: PositiveMoney | None = Field(
        default=None,
        description="The new total budget: `remaining` becomes it minus what was spent "
        "(422 below that).",
    )
    timesteps: bounded(int, ge=1, le=10_000) | None = Field(
        default=None, description="The new number of timesteps (above those finished)."
    )
    step: bounded(float, gt=0, le=1, allow_inf_nan=False) | None = None
    floor: Share | None = None
    params: dict[str, FiniteFloat | int | str | bool] | None = Field(
        default=None,
        max_length=20,
        description="Policy parameters to change; only those the policy can change mid-run "
        "(curve: prior_weight, amplitude_spread, pooling, draws, scale_spread; the bandits: "
        "all of theirs).",
    )
    campaign_ids: list[Id] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_CAMPAIGNS,
        description="The run's campaigns from now on: ids not in the run are added, ids "
        "left out are removed (their history stays).",
    )

    @field_validator("campaign_ids")
    @classmethod
    def _distinct(cls, ids: list[str] | None) -> list[str] | None:
        if ids is not None and len(set(ids)) != len(ids):
            raise ValueError("campaign_ids must not repeat")
        return ids


PATCH_EXAMPLES = {
    "raise the budget": {"value": {"budget": 45000, "version": 7}},
    "extend and loosen": {"value": {"timesteps": 45, "step": 0.2, "floor": 0.01}},
    "add a campaign": {"value": {"campaign_ids": ["<search id>", "<reels id>", "<new id>"]}},
    "policy parameter": {"value": {"params": {"draws": 32}}},
}


class EventOut(BaseModel):
    id: str
    state_id: str
    at: datetime = Field(description="When the change was made.")
    by: str = Field(description="The user (or API credential's user) who made it.")
    timestep: int = Field(description="The timestep in progress when it was made.")
    version: int = Field(description="The state's version the change created.")
    changes: dict[str, dict[str, Any]] = Field(
        description='What changed: `{"field": {"from": …, "to": …}}`.',
        examples=[{"budget": {"from": 30000, "to": 45000}}],
    )


class Interval(BaseModel):
    mean: float
    low: float = Field(description="10th percentile over posterior draws.")
    high: float = Field(description="90th percentile over posterior draws.")


class CampaignCurve(BaseModel):
    campaign_id: str
    name: str | None = None
    spend: list[float] = Field(description="Spend per timestep, the grid of the curve.")
    mean: list[float] = Field(description="Posterior mean value per timestep at each spend.")
    low: list[float]
    high: list[float]
    budget: float = Field(description="The current timestep's budget.")
    value_at_budget: float
    marginal: float = Field(description="Value of one more unit of spend at the budget.")
    unpaced: float = Field(description="What the policy would give without `step` pacing.")
    active: bool


class CurvesOut(BaseModel):
    state_id: str
    timestep: int
    timestep_budget: float
    band: list[float]
    observed: bool = Field(description="False until some value was reported (or a prior).")
    campaigns: list[CampaignCurve]

    @model_validator(mode="after")
    def _to_the_cent(self) -> CurvesOut:
        """Budgets as the state's answers give them: to the cent, adding up to no more than
        the timestep's budget."""
        budgets = budgets_in_cents(
            {str(i): row.budget for i, row in enumerate(self.campaigns)}, self.timestep_budget
        )
        for i, row in enumerate(self.campaigns):
            row.budget = budgets[str(i)]
            row.unpaced = cents(row.unpaced)
        self.timestep_budget = cents_down(self.timestep_budget)
        return self


class ForecastOut(BaseModel):
    state_id: str
    timestep: int
    timesteps_left: int
    remaining: float
    objective: str
    band: list[float]
    policy: Interval = Field(description="The objective over the rest of the run, this policy.")
    equal_split: Interval = Field(description="The same under an equal split of every timestep.")
    gain: Interval = Field(description="Policy minus equal split, per posterior draw.")
    observed: bool

    @model_validator(mode="after")
    def _to_the_cent(self) -> ForecastOut:
        self.remaining = cents(self.remaining)
        return self


class PriorOut(BaseModel):
    fit_id: str | None = None
    model_id: str | None = None
    strength: float
    matched: dict[str, str] = Field(
        description="Run campaign id -> the fit's campaign or the model's channel name."
    )
