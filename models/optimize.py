"""Request and response shapes of the curve-fit optimizers: /optimize/fit, /allocate, /plan."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from models.common import CreateBody, FiniteFloat, Id, Money, Name, PositiveMoney, bounded
from models.constraints import GroupIn, GroupOut, PeriodBounds

MAX_ROWS = 100_000
MAX_FIT_CAMPAIGNS = 200
MAX_CURVES = 5_000
MAX_GRID_POINTS = 1_000
MAX_GRID_VALUES = 1_000_000
MAX_PERIODS = 120
MAX_FLIGHTING_CELLS = 120_000

MAX_GROUPS = 100
Scenario = Literal["fixed_budget", "flexible_budget", "target_efficiency", "target_kpi"]
Objective = Literal["response", "net_profit"]
Family = Literal["negexp", "mm", "hill", "logistic", "local_slope", "ensemble"]
FitModel = Literal["negexp", "mm", "hill", "local_slope"]
Positive = bounded(float, gt=0, allow_inf_nan=False)
Cell = FiniteFloat | str | None
Grid = Annotated[list[FiniteFloat], Field(min_length=2, max_length=MAX_GRID_POINTS)]
ParamValue = FiniteFloat | Grid


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


def _check_bounds(low: float, high: float | None, where: str = "") -> None:
    """A campaign's spend bounds, refused in the request (its place in the body in the loc)."""
    if high is not None and low > high:
        raise ValueError(f"{where}min {low:g} exceeds max {high:g}")


class CurveIn(BaseModel):
    """One campaign's response curve and its spend bounds."""

    model_config = {"extra": "forbid"}

    campaign: Name
    family: Family
    params: dict[Annotated[str, Field(max_length=20)], ParamValue] = Field(
        max_length=3,
        description='negexp {"alpha", "mu"}; mm {"vmax", "k"}; hill {"vmax", "k", "n"}; '
        'logistic {"beta", "lam"}: beta * (1 - exp(-lam x)) / (1 + exp(-lam x)), '
        "PyMC-Marketing's default saturation; "
        'local_slope {"spend": [...], "response": [...]}; ensemble {"spend": [...], '
        '"marginal": [...]} as /fit answers them.',
    )
    min: Money = 0.0
    max: Money | None = None
    current: Money | None = None
    value: Money | None = Field(default=None, description="Worth of one unit of response.")

    @model_validator(mode="after")
    def min_within_max(self) -> CurveIn:
        _check_bounds(self.min, self.max, f"campaign {self.campaign!r}: ")
        return self


class CampaignBounds(CreateBody):
    """Bounds and value of one campaign of a stored fit."""

    min: Money = 0.0
    max: Money | None = None
    current: Money | None = None
    value: Money | None = None

    @model_validator(mode="after")
    def min_within_max(self) -> CampaignBounds:
        _check_bounds(self.min, self.max)
        return self


class CurveSource(CreateBody):
    """Curves given inline, a stored fit, or a marketing-mix model (with optional bounds per
    campaign or channel)."""

    curves: list[CurveIn] | None = Field(default=None, min_length=1, max_length=MAX_CURVES)
    fit_id: Id | None = None
    model_id: Id | None = Field(
        default=None,
        description="A ready marketing-mix model (POST /models): its channels are the "
        "campaigns and the allocation maximizes the posterior-mean KPI.",
        examples=["6750c1f2a9e4b3d2c1a0f9e8"],
    )
    model: Literal["ensemble", "negexp", "mm", "hill", "local_slope"] = Field(
        default="ensemble", description="Which model of the stored fit to allocate on."
    )
    campaigns: dict[Name, CampaignBounds] = Field(default_factory=dict, max_length=MAX_CURVES)

    @model_validator(mode="after")
    def one_source(self) -> CurveSource:
        sources = [self.curves, self.fit_id, self.model_id]
        if sum(source is not None for source in sources) != 1:
            raise ValueError("give exactly one of curves, fit_id and model_id")
        if self.curves is not None and self.campaigns:
            raise ValueError(
                "campaigns settings go with fit_id or model_id; put bounds in each curve"
            )
        if self.model_id is not None and "model" in self.model_fields_set:
            raise ValueError("model picks a stored fit's curves; a model_id has its own")
        if self.curves is not None:
            points = sum(
                len(value)
                for curve in self.curves
                for value in curve.params.values()
                if isinstance(value, list)
            )
            if points > MAX_GRID_VALUES:
                raise ValueError(f"curves hold {points} grid values, more than {MAX_GRID_VALUES}")
        return self


ALLOCATE_EXAMPLE = {
    "curves": [
        {"campaign": "search", "family": "negexp", "params": {"alpha": 1000, "mu": 0.002}},
        {"campaign": "meta", "family": "logistic", "params": {"beta": 900, "lam": 0.003}},
        {"campaign": "tiktok", "family": "logistic", "params": {"beta": 600, "lam": 0.004}},
        {"campaign": "tv", "family": "hill", "params": {"vmax": 700, "k": 500, "n": 1.5}},
    ],
    "budget": 2000,
    "groups": [{"name": "social", "campaigns": ["meta", "tiktok"], "max_share": 0.4}],
}
TARGET_EXAMPLE = {**ALLOCATE_EXAMPLE, "scenario": "target_kpi", "target": 1500}
MODEL_EXAMPLE = {
    "model_id": "6750c1f2a9e4b3d2c1a0f9e8",
    "budget": 30000,
    "campaigns": {"tv": {"max": 15000}},
    "groups": [{"name": "digital", "campaigns": ["search", "social"], "max_share": 0.6}],
}


class CurveAllocateRequest(CurveSource):
    model_config = {
        "json_schema_extra": {"examples": [ALLOCATE_EXAMPLE, TARGET_EXAMPLE, MODEL_EXAMPLE]}
    }

    budget: Money = Field(description="The budget; a ceiling for all but fixed_budget.")
    scenario: Scenario = "fixed_budget"
    objective: Objective = "response"
    target_mroi: Positive | None = None
    target_roas: Positive | None = None
    target_cpa: Positive | None = None
    target: Positive | None = Field(
        default=None,
        description="target_kpi: the KPI (total value; total response without values) to "
        "reach with the least spend.",
    )
    capacity: Positive | None = Field(default=None, description="Maximum total response.")
    groups: list[GroupIn] = Field(
        default_factory=list,
        max_length=MAX_GROUPS,
        description="Group constraints (fixed_budget and target_kpi), solved exactly.",
    )

    @model_validator(mode="after")
    def model_scenarios(self) -> CurveAllocateRequest:
        """A model's posterior-mean curves are solved for fixed_budget (bounds, groups),
        flexible_budget and target_efficiency; the least spend reaching a target and a
        capacity on the mean are not defined on the posterior here."""
        if self.model_id is not None:
            if self.scenario == "target_kpi":
                raise ValueError("model_id does not take the scenario target_kpi")
            if self.capacity is not None:
                raise ValueError("model_id does not take capacity")
        return self


class Interval(BaseModel):
    """A posterior mean and 90% credible interval (5th and 95th percentiles)."""

    mean: float
    low: float
    high: float


class CurveAllocationRow(BaseModel):
    campaign: str
    spend: float
    share: float
    response: float
    value: float
    roi: float | None = Field(description="value / spend at the optimum (None at zero spend).")
    mroi: float | None = Field(description="Value of the next unit of spend at the optimum.")
    change: float | None = Field(description="spend - current, when current is given.")


class CurveAllocateOut(BaseModel):
    scenario: str
    objective: str
    allocation: list[CurveAllocationRow]
    total_spend: float
    total_response: float
    total_value: float
    net_profit: float
    roi: float | None
    marginal_roi: float | None = Field(
        description="Value of the next unit of spend at the optimum, the common mROI of the "
        "campaigns not held at a bound; null when it differs between them (a CPA target with "
        "values: see each campaign's mroi)."
    )
    capacity_binding: bool
    groups: list[GroupOut] | None = Field(
        default=None, description="Per group: its total, bounds at this total and which binds."
    )
    fit_id: str | None = None
    model_id: str | None = None
    expected_kpi: Interval | None = Field(
        default=None,
        description="With model_id: the KPI (times each channel's value) expected at this "
        "allocation, its posterior mean and 90% interval.",
        examples=[{"mean": 41250.0, "low": 29100.0, "high": 52900.0}],
    )


class PlanCurveIn(CurveIn):
    theta: bounded(float, ge=0, lt=1, allow_inf_nan=False) = Field(
        default=0.0, description="Adstock decay; the curve is f(adstocked spend)."
    )


PLAN_EXAMPLE = {
    "curves": [
        {"campaign": "search", "family": "negexp", "params": {"alpha": 1000, "mu": 0.002}},
        {
            "campaign": "tv",
            "family": "logistic",
            "params": {"beta": 1500, "lam": 0.002},
            "theta": 0.6,
        },
    ],
    "budgets": [1000, 1000, 1000],
    "initial_stock": {"tv": 800},
}
FLIGHTING_EXAMPLE = {
    "curves": PLAN_EXAMPLE["curves"],
    "total_budget": 3000,
    "periods": 3,
    "period_bounds": [{"min": 500}, {"max": 1500}, {}],
    "initial_stock": {"tv": 800},
}

MODEL_PLAN_EXAMPLE = {
    "model_id": "6750c1f2a9e4b3d2c1a0f9e8",
    "total_budget": 90000,
    "periods": 3,
    "initial_stock": {"tv": 12000},
}


class PlanRequest(CurveSource):
    model_config = {
        "json_schema_extra": {"examples": [PLAN_EXAMPLE, FLIGHTING_EXAMPLE, MODEL_PLAN_EXAMPLE]}
    }

    curves: list[PlanCurveIn] | None = Field(default=None, min_length=1, max_length=MAX_CURVES)
    budgets: list[Money] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PERIODS,
        description="One budget per period; or give total_budget to choose the split too.",
    )
    total_budget: Money | None = Field(
        default=None,
        description="Flighting: the total to split over the periods and campaigns at once.",
    )
    periods: bounded(int, ge=1, le=MAX_PERIODS) | None = Field(
        default=None, description="Number of periods of a flighting plan."
    )
    period_bounds: list[PeriodBounds] | None = Field(
        default=None,
        max_length=MAX_PERIODS,
        description="Flighting: per period, the least and most it may spend (one per period).",
    )
    initial_stock: dict[Name, Money] = Field(
        default_factory=dict,
        max_length=MAX_CURVES,
        description="Per campaign, the adstock carried in from spend before the plan starts.",
    )

    @model_validator(mode="after")
    def one_budget(self) -> PlanRequest:
        if (self.budgets is None) == (self.total_budget is None):
            raise ValueError("give exactly one of budgets and total_budget")
        if self.total_budget is None:
            if self.periods is not None or self.period_bounds is not None:
                raise ValueError("periods and period_bounds go with total_budget")
            return self
        if self.periods is None and self.period_bounds is None:
            raise ValueError("total_budget needs periods (or period_bounds, one per period)")
        if self.periods is None:
            self.periods = len(self.period_bounds)
        if self.period_bounds is not None and len(self.period_bounds) != self.periods:
            raise ValueError(
                f"period_bounds has {len(self.period_bounds)} entries for {self.periods} periods"
            )
        curves = len(self.curves) if self.curves is not None else 0
        if curves * self.periods > MAX_FLIGHTING_CELLS:
            raise ValueError(
                f"a flighting plan takes at most {MAX_FLIGHTING_CELLS} campaign-periods"
            )
        return self


class PlanRow(BaseModel):
    campaign: str
    spend: float
    share: float
    response: float


class PlanPeriod(BaseModel):
    period: int
    budget: float
    allocation: list[PlanRow]
    response: float


class PlanOut(BaseModel):
    periods: list[PlanPeriod]
    total_response: float
    total_spend: float


class StaticPlanOut(PlanOut):
    weights: dict[str, float] = Field(description="The one share vector used in every period.")


class PlanTotals(BaseModel):
    sequential: float
    static: float
    flighting: float | None = None


class FlightingOut(PlanOut):
    optimality_gap: float = Field(
        description="Certified bound: the best plan's response is at most total_response "
        "plus this (Frank-Wolfe duality gap)."
    )
    relative_gap: float | None
    iterations: int


class PlanKpi(BaseModel):
    sequential: Interval
    static: Interval
    flighting: Interval | None = None


class PlanResponse(BaseModel):
    sequential: PlanOut = Field(description="Month by month, with adstock carried over.")
    static: StaticPlanOut = Field(description="One weight vector for every period (bilevel).")
    total_response: PlanTotals
    flighting: FlightingOut | None = Field(
        default=None,
        description="With total_budget: the split over periods and campaigns chosen at once "
        "(sequential and static then plan the even split of the total).",
    )
    fit_id: str | None = None
    model_id: str | None = None
    expected_kpi: PlanKpi | None = Field(
        default=None,
        description="With model_id: each plan's total KPI over its periods, posterior mean "
        "and 90% interval (the carry-over at each channel's posterior-mean adstock decay).",
    )
