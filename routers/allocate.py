"""Two-channel budget split by Relative Price Strength (RPS) bands, and its backtest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from engine.rps import rps_allocation
from engine.rps_backtest import backtest, grid_search
from engine.rps_prices import simulate_price_streams
from models.allocate import (
    SEED_EXAMPLE,
    SIMULATED_EXAMPLE,
    AllocateRequest,
    AllocationOut,
    BacktestOut,
    BacktestRequest,
)
from models.common import errors
from utils.bodies import BodyRoute
from utils.deps import ReadPrincipal

router = APIRouter(
    route_class=BodyRoute, prefix="/allocate", tags=["allocate"], responses=errors(401, 403, 503)
)

INVALID = errors(422, described={422: "Invalid prices or settings; the detail says which and why."})

AllocateBody = Annotated[
    AllocateRequest,
    Body(
        openapi_examples={
            "seed": {
                "summary": "The RPS Flask API's example: A is cheaper, so it gets 75%",
                "value": SEED_EXAMPLE,
            },
            "value prices": {
                "summary": "Revenue per click: the dearer channel is the stronger one",
                "value": {**SEED_EXAMPLE, "price_kind": "value", "lookback": 2},
            },
        }
    ),
]

BacktestBody = Annotated[
    BacktestRequest,
    Body(
        openapi_examples={
            "simulated": {
                "summary": "30 simulated time units, as in the seed",
                "value": SIMULATED_EXAMPLE,
            },
            "history": {
                "summary": "A supplied history with a 3-price lookback",
                "value": {
                    "prices_a": [1.00, 1.20, 1.10, 1.05, 0.98, 0.95, 0.97, 0.92],
                    "prices_b": [1.30, 1.35, 1.25, 1.20, 1.22, 1.30, 1.28, 1.33],
                    "budget": 100,
                    "lookback": 3,
                },
            },
        }
    ),
]


@router.post("", response_model=AllocationOut, summary="Split a budget by RPS", responses=INVALID)
async def allocate(body: AllocateBody, _: ReadPrincipal) -> AllocationOut:
    """Average `ln(price_a / price_b)` over the last `lookback` prices and return the split of
    the band that mean falls in. With the default `price_kind: "cost"` the cheaper channel is
    the stronger one; `"value"` flips that."""
    result = await run_in_threadpool(
        rps_allocation,
        body.prices_a,
        body.prices_b,
        body.lookback,
        body.price_kind,
        body.band_dicts(),
    )
    return AllocationOut(**result)


@router.post(
    "/backtest",
    response_model=BacktestOut,
    summary="Backtest RPS bands against a flat 50/50 split",
    responses=INVALID,
)
async def allocate_backtest(body: BacktestBody, _: ReadPrincipal) -> BacktestOut:
    """Spend `budget` every time unit, 50/50 or as the RPS bands decide from prices up to the
    previous unit (never later ones), and compare. A grid search over lookback and band
    thresholds, scored on all but the latest steps and judged on that held-out tail, tells
    whether other settings would have done better."""
    return await run_in_threadpool(_backtest, body)


def _backtest(body: BacktestRequest) -> BacktestOut:
    if body.prices_a is not None and body.prices_b is not None:
        prices_a, prices_b = body.prices_a, body.prices_b
    else:
        simulation = body.simulate.model_dump() if body.simulate else {}
        prices_a, prices_b = simulate_price_streams(**simulation)
    bands = body.band_dicts()
    report = backtest(prices_a, prices_b, body.budget, body.lookback, body.price_kind, bands)
    search = grid_search(
        prices_a,
        prices_b,
        body.budget,
        body.price_kind,
        bands,
        body.lookback,
        **body.grid.model_dump(),
    )
    return BacktestOut(
        prices_a=list(map(float, prices_a)),
        prices_b=list(map(float, prices_b)),
        **report,
        grid_search=search,
    )
