"""What /optimize/allocate and /optimize/plan share: the curves they read, the KPI interval.

Curves come inline, from a stored fit or from a marketing-mix model, with bounds per campaign;
a model's answers carry a posterior mean and interval. The shapes of each route live in
models.optimize_fit, models.optimize_allocate and models.optimize_plan.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from models.common import CreateBody, FiniteFloat, Id, Money, Name

MAX_CURVES = 5_000
MAX_GRID_POINTS = 1_000
MAX_GRID_VALUES = 1_000_000
Family = Literal["negexp", "mm", "hill", "logistic", "local_slope", "ensemble"]
Grid = Annotated[list[FiniteFloat], Field(min_length=2, max_length=MAX_GRID_POINTS)]
ParamValue = FiniteFloat | Grid


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


class Interval(BaseModel):
    """A posterior mean and 90% credible interval (5th and 95th percentiles)."""

    mean: float
    low: float
    high: float
