"""Request and response shapes of /optimize/plan: several periods, with adstock carried over.

Budgets per period, or a total to split over periods and campaigns at once (flighting); the
answer gives the sequential, static and flighting plans and their totals.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from models.common import Money, Name, bounded
from models.constraints import PeriodBounds
from models.optimize import MAX_CURVES, CurveIn, CurveSource, Interval

MAX_PERIODS = 120
MAX_FLIGHTING_CELLS = 120_000


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
