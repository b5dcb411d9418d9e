"""Bodies and answers of the state (optimization run) and timestep endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from engine import POLICY_NAMES
from models.common import (
    CreateBody,
    FiniteFloat,
    Id,
    Integer,
    Money,
    PositiveMoney,
    Share,
    bounded,
)
from models.living import EventOut, PriorIn, PriorOut, PriorStrength
from models.money import budgets_in_cents, cents, cents_down

Objective = Literal["revenue", "conversions", "profit"]
StateStatus = Literal["active", "paused", "completed"]
MAX_CAMPAIGNS = 200


class PolicySpec(CreateBody):
    name: str = Field(
        default="curve",
        max_length=40,
        description=f"One of {', '.join(POLICY_NAMES)}: curve is the default, rps takes exactly "
        "two campaigns, uniform and step_thompson are baselines.",
    )
    params: dict[str, FiniteFloat | int | str | bool] = Field(
        default_factory=dict,
        max_length=20,
        description='Policy parameters, e.g. {"epsilon": 0.1} for epsilon_greedy.',
    )


class StateCreate(CreateBody):
    name: str | None = Field(default=None, max_length=200)
    campaign_ids: list[Id] = Field(min_length=2, max_length=MAX_CAMPAIGNS)
    budget: PositiveMoney = Field(description="Total budget b of the run.", examples=[10000])
    timesteps: Integer = Field(default=30, ge=1, le=10_000, description="Number of timesteps n.")
    timestep_hours: FiniteFloat = Field(
        default=24, gt=0, le=24 * 366, description="Length of one timestep."
    )
    start_at: AwareDatetime | None = Field(
        default=None, description="Start of timestep 0 (ISO 8601 with zone); default now."
    )
    policy: PolicySpec = Field(default_factory=PolicySpec)
    objective: Objective = "revenue"
    step: FiniteFloat = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Most a campaign's share may move in one timestep, in absolute share "
        "points (1.0 = no pacing).",
    )
    floor: Share = Field(default=0.02, description="Least share of every active campaign.")
    seed: bounded(int, ge=0, lt=2**63) | None = Field(
        default=None, description="RNG seed; default random."
    )
    prior: PriorIn | None = Field(
        default=None,
        description="Start a `curve` run from a stored curve fit of this client instead of an "
        "equal split (campaigns matched by name, then external_id).",
    )
    prior_strength: PriorStrength | None = None

    @field_validator("campaign_ids")
    @classmethod
    def _distinct(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("campaign_ids must not repeat")
        return ids

    @model_validator(mode="after")
    def _ends_in_a_calendar(self) -> StateCreate:
        """Every timestep's due time must be a date: a run ending past the year 9999 would be
        accepted, then fail at the timestep whose due time cannot be written."""
        start = self.start_at or datetime.now(UTC)
        room = datetime.max.replace(tzinfo=UTC) - start
        if timedelta(hours=self.timestep_hours * self.timesteps) >= room:
            raise ValueError(
                "the run would end after the year 9999 (start_at + timesteps x timestep_hours)"
            )
        return self


CREATE_EXAMPLES = {
    "cold start": {
        "value": {
            "name": "Autumn",
            "campaign_ids": ["<search id>", "<reels id>"],
            "budget": 30000,
            "timesteps": 30,
            "policy": {"name": "curve"},
        }
    },
    "warm start from a stored fit": {
        "value": {
            "campaign_ids": ["<search id>", "<reels id>"],
            "budget": 30000,
            "timesteps": 30,
            "prior": {"fit_id": "<id from POST /api/optimize/fit>"},
            "prior_strength": 1,
        }
    },
    "warm start from a marketing-mix model": {
        "value": {
            "campaign_ids": ["<tv id>", "<search id>"],
            "budget": 30000,
            "timesteps": 30,
            "prior": {"model_id": "<id from POST /api/models>"},
        }
    },
}


class MetricRow(CreateBody):
    campaign_id: Id
    spend: Money
    impressions: Money | None = None
    clicks: Money | None = None
    conversions: Money | None = None
    revenue: Money | None = None

    @model_validator(mode="after")
    def _funnel(self) -> MetricRow:
        if (
            self.clicks is not None
            and self.conversions is not None
            and self.conversions > self.clicks
        ):
            raise ValueError("conversions cannot exceed clicks")
        if (
            self.impressions is not None
            and self.clicks is not None
            and self.clicks > self.impressions
        ):
            raise ValueError("clicks cannot exceed impressions")
        return self


class MetricsPost(CreateBody):
    timestep: Integer = Field(
        ge=0, description="The current timestep, or an earlier one (a late correction)."
    )
    metrics: list[MetricRow] = Field(min_length=1, max_length=MAX_CAMPAIGNS)

    @field_validator("metrics")
    @classmethod
    def _one_row_per_campaign(cls, rows: list[MetricRow]) -> list[MetricRow]:
        ids = [row.campaign_id for row in rows]
        if len(set(ids)) != len(ids):
            raise ValueError("one row per campaign_id")
        return rows


class NextBody(CreateBody):
    expected_time: bounded(int, ge=0) | None = Field(
        default=None,
        description="Advance only if current_time equals this (409 otherwise): safe retries.",
    )


class StateOut(BaseModel):
    id: str
    client_id: str
    name: str | None
    status: StateStatus
    campaign_ids: list[str]
    current_time: int = Field(description="Index of the timestep now being spent, from 0.")
    timesteps: int
    timestep_hours: float
    budget: float
    remaining: float
    timestep_budget: float
    allocation: dict[str, float] = Field(description="Share per campaign for current_time.")
    budgets: dict[str, float] = Field(description="Amount per campaign for current_time.")
    policy: dict[str, Any]
    objective: Objective
    step: float
    floor: float
    seed: int
    start_at: datetime
    next_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    version: int = Field(
        default=0, description="Moves on at every change; `PATCH` compares-and-sets on it."
    )
    prior: PriorOut | None = Field(default=None, description="The warm start, if any.")
    paused_at: datetime | None = Field(
        default=None,
        description="When the run's clock stopped: the state was paused, or none of its "
        "campaigns is active. On restart every due time moves on by the time stopped. Null "
        "while the clock runs.",
    )

    @model_validator(mode="after")
    def _to_the_cent(self) -> StateOut:
        """Money to the cent; the budgets add up to no more than the timestep's budget."""
        self.budgets = budgets_in_cents(self.budgets, self.timestep_budget)
        self.timestep_budget = cents_down(self.timestep_budget)
        self.remaining = cents(self.remaining)
        self.budget = cents(self.budget)
        return self


class CampaignBudget(BaseModel):
    campaign_id: str
    name: str | None = Field(description="Null when the campaign has been deleted since.")
    platform: str | None = Field(description="Null when the campaign has been deleted since.")
    budget: float = Field(description="Amount to spend in the current timestep, to the cent.")


BUDGET_EXAMPLE = {
    "state_id": "6750c1f2a9e4b3d2c1a0f9e8",
    "timestep": 3,
    "timestep_budget": 1000.0,
    "budgets": {"6750c1f2a9e4b3d2c1a0f9e1": 612.5, "6750c1f2a9e4b3d2c1a0f9e2": 387.5},
    "campaigns": [
        {
            "campaign_id": "6750c1f2a9e4b3d2c1a0f9e1",
            "name": "search",
            "platform": "google",
            "budget": 612.5,
        },
        {
            "campaign_id": "6750c1f2a9e4b3d2c1a0f9e2",
            "name": "reels",
            "platform": "meta",
            "budget": 387.5,
        },
    ],
}


class BudgetOut(BaseModel):
    """The current timestep's budgets, by id (for scripts) and with names (for people)."""

    model_config = {"json_schema_extra": {"examples": [BUDGET_EXAMPLE]}}

    state_id: str
    timestep: int = Field(description="The timestep these budgets are for: `current_time`.")
    timestep_budget: float = Field(description="The timestep's budget, rounded down to the cent.")
    budgets: dict[str, float] = Field(
        description="Amount per campaign id, to the cent, adding up to no more than "
        "`timestep_budget`."
    )
    campaigns: list[CampaignBudget] = Field(
        description="The same amounts with each campaign's name and platform, in the state's "
        "campaign order."
    )


class MetricsOut(BaseModel):
    state_id: str
    timestep: int
    recorded: int = Field(
        description="Rows written: a finished timestep's rows equal to the ones stored are not "
        "written again, so reposting them answers 0."
    )
    correction: bool = Field(description="True when the timestep was already finished.")


class HistoryRow(BaseModel):
    timestep: int
    names: dict[str, str] = Field(
        default_factory=dict, description="The campaigns' names by id, to read the row by."
    )
    allocation: dict[str, float]
    budgets: dict[str, float]
    metrics: dict[str, dict[str, float | None] | None] = Field(
        description="Per campaign: what was reported, or null when nothing was (unobserved)."
    )
    unobserved: list[str]
    reward: float | None = Field(description="The objective's value over observed campaigns.")
    decided_at: datetime
    corrected_at: datetime | None = None
    events: list[EventOut] = Field(
        default_factory=list, description="Edits made while this timestep was in progress."
    )

    @model_validator(mode="after")
    def _to_the_cent(self) -> HistoryRow:
        self.budgets = budgets_in_cents(self.budgets, sum(self.budgets.values()))
        return self


class RunOutcome(BaseModel):
    advanced: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    errors: list[dict[str, Any]]
