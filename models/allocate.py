"""Bodies and answers of the two-channel RPS allocation and backtest endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.rps_backtest import (
    DEFAULT_GRID_EQUAL_THRESHOLDS,
    DEFAULT_GRID_HEAVY_THRESHOLDS,
    DEFAULT_GRID_LOOKBACKS,
    DEFAULT_HOLDOUT_FRACTION,
    MIN_GRID_STEPS,
)
from engine.rps_bands import validate_bands
from engine.rps_prices import DEFAULT_SIMULATION_STEPS
from models.common import CreateBody, FiniteFloat, Real, Share, bounded

MAX_PRICES = 10_000
"""Longest price series one request may carry, per channel."""

MAX_GRID_VALUES = 12
"""Most candidate values per grid-search axis (lookbacks, equal and heavy thresholds)."""

SEED_EXAMPLE = {"prices_a": [1.00, 1.20, 1.10], "prices_b": [1.30, 1.35, 1.25]}
"""The RPS Flask API's curl example: A is cheaper throughout, so it gets [0.75, 0.25]."""

SIMULATED_EXAMPLE = {"simulate": {"steps": 30, "seed": 0}, "budget": 100}

BandName = Literal["A_HEAVY", "A_LIGHT", "EQUAL", "B_LIGHT", "B_HEAVY"]
PriceKind = Literal["cost", "value"]

Price = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
PriceSeries = Annotated[list[Price], Field(min_length=1, max_length=MAX_PRICES)]
BacktestSeries = Annotated[list[Price], Field(min_length=MIN_GRID_STEPS, max_length=MAX_PRICES)]
BACKTEST_LENGTH = (
    f"At least {MIN_GRID_STEPS} prices: the grid search scores settings on the first ones (at "
    "least 2) and judges the best on the held-out tail (at least 1)."
)
Lookback = Annotated[int, Field(ge=1, le=MAX_PRICES, strict=True)]
Threshold = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
Split = Annotated[
    list[Share],
    Field(
        min_length=2,
        max_length=2,
        description="[share_a, share_b]: fractions of the budget for A and B, summing to 1.",
        examples=[[0.75, 0.25]],
    ),
]

PRICE_KIND_DESCRIPTION = (
    "How to read a price. `cost` (default): what a result costs (CPC, CPA); the cheaper channel "
    "is the stronger one, so a negative mean RPS favours A. `value`: what a unit of spend "
    "returns (revenue per click, ROAS); the dearer channel is the stronger one, which flips the "
    "sign: a positive mean RPS favours A."
)
LOOKBACK_DESCRIPTION = (
    "How many of the latest prices the mean RPS averages; null (default) uses all prices sent. "
    "A lookback longer than the series uses all prices."
)
BANDS_DESCRIPTION = (
    "The five bands A_HEAVY, A_LIGHT, EQUAL, B_LIGHT, B_HEAVY, in any order. Each is a range of "
    "A's edge (the mean RPS, negated for `cost` prices, so a positive edge always favours A) and "
    "the budget split it dictates. The ranges must ascend B_HEAVY < B_LIGHT < EQUAL < A_LIGHT < "
    "A_HEAVY, be non-empty, and meet exactly (one's `upper` is the next one's `lower`); B_HEAVY "
    "has `lower: null` and A_HEAVY `upper: null`, so together they cover every edge. An edge on "
    "a boundary belongs to the band nearer EQUAL. Default (null): EQUAL for |edge| <= 0.05, "
    "LIGHT up to 0.15 with [0.6, 0.4], HEAVY beyond with [0.75, 0.25], mirrored for B."
)


class Band(BaseModel):
    """One allocation band: a range of A's edge and the budget split it dictates."""

    model_config = ConfigDict(extra="forbid")

    name: BandName
    lower: FiniteFloat | None = Field(
        description="Lowest edge of the band (exclusive on the A side of EQUAL, inclusive on "
        "the B side); null: unbounded below (B_HEAVY only)."
    )
    upper: FiniteFloat | None = Field(
        description="Highest edge of the band (inclusive on the A side of EQUAL, exclusive on "
        "the B side); null: unbounded above (A_HEAVY only)."
    )
    allocation: Split


def _checked_bands(bands: list[Band] | None) -> list[Band] | None:
    """Run the engine's band rules so a malformed table answers 422 naming the problem."""
    if bands is not None:
        validate_bands([band.model_dump() for band in bands])
    return bands


def _check_same_length(prices_a: list[float], prices_b: list[float]) -> None:
    if len(prices_a) != len(prices_b):
        raise ValueError(
            f"prices_a and prices_b must have the same length "
            f"(got {len(prices_a)} and {len(prices_b)})"
        )


class AllocateRequest(CreateBody):
    """Two equally long price series, oldest first, and optional allocation settings."""

    model_config = ConfigDict(json_schema_extra={"examples": [SEED_EXAMPLE]})

    prices_a: PriceSeries = Field(description="Channel A's prices, oldest first, each > 0.")
    prices_b: PriceSeries = Field(description="Channel B's prices at the same times, each > 0.")
    lookback: Lookback | None = Field(default=None, description=LOOKBACK_DESCRIPTION)
    price_kind: PriceKind = Field(default="cost", description=PRICE_KIND_DESCRIPTION)
    bands: list[Band] | None = Field(
        default=None, min_length=5, max_length=5, description=BANDS_DESCRIPTION
    )

    _bands = field_validator("bands")(classmethod(lambda cls, v: _checked_bands(v)))

    @model_validator(mode="after")
    def _same_length(self) -> AllocateRequest:
        _check_same_length(self.prices_a, self.prices_b)
        return self

    def band_dicts(self) -> list[dict] | None:
        return None if self.bands is None else [band.model_dump() for band in self.bands]


class AllocationOut(BaseModel):
    allocation: Split
    rps: float = Field(
        description="Mean of ln(price_a / price_b) over the lookback window (raw, whatever the "
        "price_kind)."
    )
    band: BandName = Field(description="The band the edge fell in.")


class SimulationSettings(CreateBody):
    """Two drifting geometric random walks: each step multiplies a price by exp(drift + vol*N)."""

    steps: bounded(int, ge=MIN_GRID_STEPS, le=MAX_PRICES, strict=True) = Field(
        default=DEFAULT_SIMULATION_STEPS, description=f"Prices per channel. {BACKTEST_LENGTH}"
    )
    start_a: Price = Field(default=1.0, description="Channel A's first price.")
    start_b: Price = Field(default=1.0, description="Channel B's first price.")
    drift_a: Real = Field(
        default=-0.01, ge=-1, le=1, allow_inf_nan=False, description="Mean log change per step."
    )
    drift_b: Real = Field(default=0.01, ge=-1, le=1, allow_inf_nan=False)
    volatility_a: Real = Field(
        default=0.05, ge=0, le=1, allow_inf_nan=False, description="Std of the log change."
    )
    volatility_b: Real = Field(default=0.05, ge=0, le=1, allow_inf_nan=False)
    seed: int = Field(default=0, ge=0, le=2**63 - 1, strict=True, description="RNG seed.")


class GridSettings(CreateBody):
    """Candidates of the grid search; thresholds are mirrored around zero for the B side."""

    lookbacks: list[Lookback] = Field(
        default=list(DEFAULT_GRID_LOOKBACKS),
        min_length=1,
        max_length=MAX_GRID_VALUES,
        description="Lookbacks to try; those longer than the training part are skipped.",
    )
    equal_thresholds: list[Threshold] = Field(
        default=list(DEFAULT_GRID_EQUAL_THRESHOLDS),
        min_length=1,
        max_length=MAX_GRID_VALUES,
        description="|edge| limits of EQUAL to try.",
    )
    heavy_thresholds: list[Threshold] = Field(
        default=list(DEFAULT_GRID_HEAVY_THRESHOLDS),
        min_length=1,
        max_length=MAX_GRID_VALUES,
        description="|edge| limits beyond which a HEAVY band applies; pairs with an equal "
        "threshold not below them are skipped.",
    )
    holdout_fraction: Real = Field(
        default=DEFAULT_HOLDOUT_FRACTION,
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="Share of the latest steps held out of the search and used to judge it.",
    )


class BacktestRequest(CreateBody):
    """A price history (prices_a and prices_b) or simulation settings, and a budget per step."""

    model_config = ConfigDict(json_schema_extra={"examples": [SIMULATED_EXAMPLE]})

    prices_a: BacktestSeries | None = Field(
        default=None,
        description=f"Channel A's price history, oldest first; with prices_b. {BACKTEST_LENGTH}",
    )
    prices_b: BacktestSeries | None = Field(
        default=None, description="Channel B's price history, as long as prices_a."
    )
    simulate: SimulationSettings | None = Field(
        default=None,
        description="Simulate both histories instead (the default when no prices are sent).",
    )
    budget: Real = Field(
        default=100.0,
        gt=0,
        le=1e12,
        allow_inf_nan=False,
        description="Budget spent every time unit.",
    )
    lookback: Lookback | None = Field(default=None, description=LOOKBACK_DESCRIPTION)
    price_kind: PriceKind = Field(default="cost", description=PRICE_KIND_DESCRIPTION)
    bands: list[Band] | None = Field(
        default=None, min_length=5, max_length=5, description=BANDS_DESCRIPTION
    )
    grid: GridSettings = Field(default_factory=GridSettings)

    _bands = field_validator("bands")(classmethod(lambda cls, v: _checked_bands(v)))

    @model_validator(mode="after")
    def _one_history(self) -> BacktestRequest:
        sent = (self.prices_a is not None, self.prices_b is not None)
        if sent in ((True, False), (False, True)):
            raise ValueError("send both prices_a and prices_b, or neither to simulate them")
        if all(sent):
            if self.simulate is not None:
                raise ValueError("send either prices_a and prices_b or simulate, not both")
            _check_same_length(self.prices_a, self.prices_b)
        return self

    def band_dicts(self) -> list[dict] | None:
        return None if self.bands is None else [band.model_dump() for band in self.bands]


class Comparison(BaseModel):
    flat: float = Field(description="Total result of the flat 50/50 split.")
    rps: float = Field(description="Total result of the RPS strategy.")
    difference: float = Field(description="rps - flat.")
    relative_difference: float = Field(description="(rps - flat) / flat.")


class BestSettings(BaseModel):
    lookback: int
    equal_threshold: float
    heavy_threshold: float
    bands: list[Band] = Field(description="The best thresholds as a band table, ready to send.")


class GridSearchOut(BaseModel):
    train_steps: int = Field(description="Steps the search was scored on.")
    holdout_steps: int = Field(description="Latest steps kept out of the search.")
    settings_evaluated: int
    best: BestSettings
    in_sample: Comparison = Field(description="Best settings on the training steps.")
    out_of_sample: Comparison = Field(description="Best settings on the held-out tail.")
    baseline_out_of_sample: Comparison = Field(
        description="The request's own lookback and bands on the same tail."
    )


class BacktestOut(BaseModel):
    """Per-step decisions and results; bands[t] and rps[t] set allocations[t + 1]."""

    prices_a: list[float] = Field(description="The history backtested (sent or simulated).")
    prices_b: list[float]
    steps: int
    rps: list[float] = Field(description="Mean RPS of the window ending at each step.")
    bands: list[BandName] = Field(description="Band decided at the end of each step.")
    allocations: list[Split] = Field(
        description="Split spent at each step: 50/50 at step 0, then the previous step's band."
    )
    next_allocation: Split = Field(description="Split decided for the step after the history.")
    flat_results: list[float] = Field(
        description="Per-step result of 50/50: budget / price summed over channels for `cost` "
        "prices (units bought), budget * price for `value` prices."
    )
    rps_results: list[float] = Field(description="Per-step result of the RPS strategy.")
    totals: Comparison
    grid_search: GridSearchOut
