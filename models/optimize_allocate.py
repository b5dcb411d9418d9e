"""Request and response shapes of /optimize/allocate: one budget over curves, by scenario.

The request names the scenario, objective, targets, capacity and group constraints; the
answer reports each campaign's spend, response, ROI and marginal ROI, and the totals.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from models.common import Money, bounded
from models.constraints import GroupIn, GroupOut
from models.optimize import CurveSource, Interval

MAX_GROUPS = 100
Scenario = Literal["fixed_budget", "flexible_budget", "target_efficiency", "target_kpi"]
Objective = Literal["response", "net_profit"]
Positive = bounded(float, gt=0, allow_inf_nan=False)


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
