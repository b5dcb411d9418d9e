"""Answer of the insights endpoint: the structured analysis of a state's history."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from models.money import cents

Direction = Literal["up", "down", "flat", "unknown"]
Assessment = Literal["improving", "worsening", "stable", "unknown"]
Certainty = Literal["no data", "learning", "converging", "confident"]


class Trend(BaseModel):
    direction: Direction = Field(
        description="up / down only when the least-squares slope is clear of noise (|t| >= 2) "
        "and moves the metric by 5% or more over the window."
    )
    assessment: Assessment = Field(description="The direction read as good or bad news.")
    slope: float | None = Field(description="Change per timestep, in the metric's units.")
    relative_change: float | None = Field(
        description="Slope times the window's span over the mean: 0.1 is +10% over the window."
    )
    points: int = Field(description="Timesteps with a value in the window.")


class Saturation(BaseModel):
    status: Literal["unknown", "none", "diminishing", "saturated"] = Field(
        description="From the elasticity b of value = a * spend^b: unknown without enough spend "
        "variation, none when b is not clearly below 1, saturated when b < 0.5."
    )
    elasticity: float | None
    elasticity_stderr: float | None
    points: int
    low_spend_return: float | None = Field(description="Value per unit spend at low spends.")
    high_spend_return: float | None = Field(description="Value per unit spend at high spends.")
    incremental_return: float | None = Field(
        description="Extra value per extra unit of spend between the low and high halves."
    )


class Learning(BaseModel):
    observations: int
    estimate: float | None = Field(
        description="Value per unit spend: ROAS, or conversions per unit spend for the "
        "conversions objective."
    )
    low: float | None
    high: float | None = Field(description="90% interval of the estimate (delta method).")
    relative_width: float | None = Field(description="(high - low) / estimate.")
    status: Certainty


class CampaignInsight(BaseModel):
    campaign_id: str
    name: str
    active: bool
    observations: int = Field(description="Timesteps with reported metrics.")
    spend: float
    conversions: float
    revenue: float
    cpa: float | None
    roas: float | None
    conversion_rate: float | None = Field(description="Conversions per click.")
    current_budget: float = Field(
        description="The budget recommendations and the marginal return start from: the "
        "current timestep's, or for a completed run the last timestep's."
    )
    marginal_return: float | None = Field(
        description="Value of one more unit of spend at the current budget (marginal ROAS for "
        "revenue and profit, marginal conversions per unit spend for conversions); null when "
        "it lies beyond the range of numbers (amounts at the ends of the accepted range, such "
        "as spends of 1e-300 earning millions), and the campaign is then left out of "
        "recommendations."
    )
    marginal_basis: Literal["curve", "average"] = Field(
        description="curve: from the fitted concave curve; average: the average return, "
        "when spend has not varied enough to fit one."
    )
    trends: dict[str, Trend] = Field(description="conversions, revenue, cpa and roas.")
    saturation: Saturation
    learning: Learning

    @field_validator("spend", "current_budget")
    @classmethod
    def _to_the_cent(cls, amount: float) -> float:
        return cents(amount)


class Anomaly(BaseModel):
    campaign_id: str
    timestep: int
    metric: Literal["cpa", "roas"]
    value: float
    median: float
    robust_z: float = Field(description="0.6745 * (value - median) / MAD.")
    direction: Literal["high", "low"]
    favourable: bool
    text: str


class Recommendation(BaseModel):
    kind: Literal["shift"]
    from_campaign: str
    to_campaign: str
    share: float = Field(description="Share of the timestep budget to move.")
    amount: float
    from_marginal: float
    to_marginal: float
    expected_gain: float = Field(description="Extra value per timestep under the fitted curves.")
    expected_gain_relative: float | None
    expected_gain_remaining: float | None = Field(
        description="expected_gain over the timesteps left in the run."
    )
    metric: Literal["revenue", "conversions"]
    confidence: Certainty = Field(description="The less certain of the two campaigns.")
    text: str

    @field_validator("amount")
    @classmethod
    def _to_the_cent(cls, amount: float) -> float:
        return cents(amount)


class InsightWarning(BaseModel):
    kind: Literal["no_data", "starved", "capped", "budget_pace", "underspend"]
    severity: Literal["high", "medium"]
    campaign_id: str | None
    text: str


class InsightsOut(BaseModel):
    state_id: str
    objective: Literal["revenue", "conversions", "profit"]
    value_metric: Literal["revenue", "conversions"]
    timesteps_analyzed: int
    window: int = Field(description="Recent timesteps the trends cover.")
    campaigns: list[CampaignInsight]
    anomalies: list[Anomaly]
    recommendations: list[Recommendation]
    warnings: list[InsightWarning]
    narrative: str | None = Field(
        default=None, description="A language model's reading of the analysis, when configured."
    )
    narrative_error: str | None = Field(
        default=None, description="Why there is no narrative (not configured, failed, timed out)."
    )
