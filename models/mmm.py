"""Request and response shapes of the marketing-mix models: /models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.mmm.model import DEFAULT_ROI_PRIOR
from models.common import CreateBody, FiniteFloat, Id, Name, bounded

MAX_ROWS = 50_000
MAX_CSV_BYTES = 10_000_000
MAX_CONTROLS = 20
MAX_CHANNELS = 50

Cell = FiniteFloat | str | None
Status = Literal["ready", "fitting", "failed"]
RoiPriorChoice = Literal["auto", "zero", "lognormal"]


class RoiPrior(BaseModel):
    """A channel's ROI measured by an experiment (a lift test): mean and standard deviation."""

    model_config = {"extra": "forbid"}

    channel: Name
    roi_mean: bounded(float, ge=0, le=1e6, allow_inf_nan=False)
    roi_sd: bounded(float, gt=0, le=1e6, allow_inf_nan=False)


class ModelSettings(CreateBody):
    """What to fit; shared by JSON bodies and CSV uploads (as form fields)."""

    kpi: Name | None = Field(
        default=None, description="KPI column; default: gmv, revenue, sales or conversions."
    )
    date: Name | None = Field(default=None, description="Date column; default: date, week, ...")
    controls: list[Name] = Field(
        default_factory=list,
        max_length=MAX_CONTROLS,
        description="Extra numeric columns that move the KPI (price, promotion, holidays).",
    )
    priors: list[RoiPrior] = Field(
        default_factory=list,
        max_length=MAX_CHANNELS,
        description="ROI priors from experiments, one per channel at most.",
    )
    saturation: Literal["hill", "negexp"] = Field(
        default="hill", description="Saturation family of every channel."
    )
    max_lag: bounded(int, ge=1, le=104) | None = Field(
        default=None, description="Cut the geometric adstock after this many periods."
    )
    holdout: bounded(float, ge=0, lt=0.5, allow_inf_nan=False) = Field(
        default=0.1, description="Share of the latest periods held out to score forecasts."
    )
    roi_prior: RoiPriorChoice = Field(
        default=DEFAULT_ROI_PRIOR,
        description="Prior on the ROI of channels without a prior from `priors`: `lognormal` "
        "is LogNormal(0.2, 0.9) in KPI per unit of spend (median 1.22, 90 % within about "
        "0.28-5.4; Google Meridian's default for revenue KPIs); `zero` a half-normal at no "
        "effect with a scale learnt from the data; `auto` is `lognormal` when the KPI is "
        "money (a column named like gmv, revenue or sales) and `zero` otherwise "
        "(conversions: the ROI is not in money, so a revenue prior does not apply). `zero` "
        "is the default: on synthetic histories `lognormal` gained a few tenths of a point "
        "of regret where the true ROIs lay in its range and cost one to five points, with "
        "intervals missing the truth, where they lay ten times off (docs/mmm_accuracy.md).",
        examples=["auto"],
    )


class ModelRequest(ModelSettings):
    """History as JSON rows: wide (date, KPI, one spend column per channel, controls) or long
    (date, campaign, spend and the KPI on each row, summed by date)."""

    rows: list[dict[Annotated[str, Field(max_length=200)], Cell]] = Field(
        min_length=1, max_length=MAX_ROWS
    )


class Interval(BaseModel):
    """Posterior mean and 90% credible interval (5th and 95th percentiles)."""

    mean: float
    low: float
    high: float


class Adstock(BaseModel):
    theta: Interval = Field(description="Geometric decay: the share of a period's stock kept.")


class Saturation(BaseModel):
    family: str
    params: dict[str, Interval] = Field(
        description="Steady-state curve per period in spend units, in the allocator's family "
        "(hill: vmax, k, n; negexp: alpha, mu)."
    )


class ChannelOut(BaseModel):
    channel: str
    spend: float = Field(description="Total spend over the data's periods.")
    contribution: Interval
    roi: Interval = Field(description="Total contribution over the periods / total spend.")
    mroi: Interval = Field(description="KPI from one more unit of spend spread like today's.")
    adstock: Adstock
    saturation: Saturation


class Diagnostics(BaseModel):
    r2: float | None
    nrmse: float | None
    mape_holdout: float | None
    decomp_rssd: float | None


class ModelWarning(BaseModel):
    code: Literal["collinear", "rarely_varied", "weakly_identified"]
    channels: list[str]
    message: str


class FitSettings(BaseModel):
    """The settings a model was fitted with (`roi_prior` as used: `auto` resolved)."""

    saturation: str
    max_lag: int | None
    holdout: float
    roi_prior: str


class ModelOut(BaseModel):
    """A stored model: while `fitting`, `channels` is empty and `diagnostics` null."""

    id: Id
    status: Status
    progress: float = Field(description="Share of the fit done, 0 to 1.")
    kpi: str
    periods: int
    channels: list[ChannelOut]
    diagnostics: Diagnostics | None
    warnings: list[ModelWarning]
    settings: FitSettings | None = Field(
        default=None, description="How the model was fitted (null for models stored before)."
    )
    error: str | None = Field(default=None, description="Why a failed fit failed.")


class DecompositionOut(BaseModel):
    """Posterior mean of each component per period; they add up to `fitted`."""

    id: Id
    dates: list[str]
    holdout_from: str | None
    actual: list[float]
    fitted: list[float]
    baseline: list[float]
    trend: list[float]
    seasonality: list[float]
    controls: list[float]
    channels: dict[str, list[float]]


class CurveOut(BaseModel):
    channel: str
    family: str
    current_spend: float = Field(description="Mean spend per period in the data.")
    spend: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]


class CurvesOut(BaseModel):
    """Steady-state KPI per period against spend per period, mean and 90% band."""

    id: Id
    kpi: str
    channels: list[CurveOut]
