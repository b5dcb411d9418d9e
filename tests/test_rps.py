"""The RPS band allocator at one step: bands, allocation, symmetries, lookback, bad input.

The allocator over time is in tests/test_rps_backtest.py.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import make_policy
from engine.errors import EngineError
from engine.rps import rolling_rps, rps_allocation
from engine.rps_bands import (
    BAND_NAMES,
    DEFAULT_BANDS,
    default_bands,
    symmetric_bands,
    validate_bands,
)

SEED_A = [1.00, 1.20, 1.10]
SEED_B = [1.30, 1.35, 1.25]
DEFAULT_SPLITS = {
    "B_HEAVY": [0.25, 0.75],
    "B_LIGHT": [0.4, 0.6],
    "EQUAL": [0.5, 0.5],
    "A_LIGHT": [0.6, 0.4],
    "A_HEAVY": [0.75, 0.25],
}
MIRROR = dict(zip(BAND_NAMES, reversed(BAND_NAMES), strict=True))

prices = st.floats(min_value=0.01, max_value=100.0, allow_nan=False, allow_infinity=False)


@st.composite
def price_pairs(draw: st.DrawFn, min_size: int = 1) -> tuple[list[float], list[float]]:
    size = draw(st.integers(min_value=min_size, max_value=25))
    a = draw(st.lists(prices, min_size=size, max_size=size))
    b = draw(st.lists(prices, min_size=size, max_size=size))
    return a, b


def test_seed_example_allocates_three_quarters_to_the_cheaper_channel_a() -> None:
    result = rps_allocation(SEED_A, SEED_B)
    expected_rps = np.mean([math.log(x / y) for x, y in zip(SEED_A, SEED_B, strict=True)])
    assert result["allocation"] == [0.75, 0.25]
    assert result["band"] == "A_HEAVY"
    assert result["rps"] == pytest.approx(expected_rps)
    assert result["rps"] < 0


def test_seed_example_as_value_prices_favours_b() -> None:
    result = rps_allocation(SEED_A, SEED_B, price_kind="value")
    assert result["allocation"] == [0.25, 0.75]
    assert result["band"] == "B_HEAVY"


def test_default_bands_are_read_only_and_match_the_editable_copy() -> None:
    assert [dict(band, allocation=list(band["allocation"])) for band in DEFAULT_BANDS] == (
        default_bands()
    )
    with pytest.raises(TypeError):
        DEFAULT_BANDS[0]["lower"] = 0.0
    editable = default_bands()
    editable[0]["allocation"] = [1.0, 0.0]
    assert rps_allocation(SEED_A, SEED_B)["allocation"] == [0.75, 0.25]
    assert rps_allocation(SEED_A, SEED_B, bands=editable)["allocation"] == [1.0, 0.0]


def test_the_rps_policy_takes_the_read_only_default_bands_and_keeps_a_json_state() -> None:
    policy = make_policy("rps", {"bands": DEFAULT_BANDS})
    state = policy.init(2, {"budget": 100.0, "timesteps": 10})
    assert json.loads(json.dumps(state))["params"]["bands"] == default_bands()
    state, allocation = policy.advance(state, {"spend": [5.0, 5.0], "clicks": [10.0, 3.0]})
    assert allocation["shares"] == [0.6, 0.4]  # A's clicks cost 0.5 against B's 1.67


def test_bands_round_trip_through_validation() -> None:
    bands = symmetric_bands(0.02, 0.3, {name: [0.5, 0.5] for name in BAND_NAMES})
    assert validate_bands(bands).as_bands() == bands
    assert validate_bands(list(reversed(bands))).as_bands() == bands


@pytest.mark.parametrize(
    ("edge", "band"),
    [
        (-1.0, "B_HEAVY"),
        (-0.15 - 1e-6, "B_HEAVY"),
        (-0.15 + 1e-6, "B_LIGHT"),
        (-0.05 - 1e-6, "B_LIGHT"),
        (-0.05 + 1e-6, "EQUAL"),
        (0.0, "EQUAL"),
        (0.05 - 1e-6, "EQUAL"),
        (0.05 + 1e-6, "A_LIGHT"),
        (0.15 - 1e-6, "A_LIGHT"),
        (0.15 + 1e-6, "A_HEAVY"),
        (1.0, "A_HEAVY"),
    ],
)
def test_default_band_on_each_side_of_each_boundary(edge: float, band: str) -> None:
    # Cost prices: A's edge is ln(price_b / price_a).
    result = rps_allocation([1.0], [math.exp(edge)])
    assert result["band"] == band
    assert (
        result["allocation"]
        == dict(
            zip(
                BAND_NAMES,
                [[0.25, 0.75], [0.4, 0.6], [0.5, 0.5], [0.6, 0.4], [0.75, 0.25]],
                strict=True,
            )
        )[band]
    )


def test_an_edge_exactly_on_a_boundary_stays_in_the_band_nearer_equal() -> None:
    a, b = [1.0], [1.1]
    edge = -(math.log(1.0) - math.log(1.1))
    assert rps_allocation(a, b, bands=symmetric_bands(edge, 2 * edge))["band"] == "EQUAL"
    assert rps_allocation(b, a, bands=symmetric_bands(edge, 2 * edge))["band"] == "EQUAL"
    assert rps_allocation(a, b, bands=symmetric_bands(edge / 2, edge))["band"] == "A_LIGHT"
    assert rps_allocation(b, a, bands=symmetric_bands(edge / 2, edge))["band"] == "B_LIGHT"
    assert rps_allocation(a, b, bands=symmetric_bands(edge / 4, edge / 2))["band"] == "A_HEAVY"


@settings(max_examples=60, deadline=None)
@given(pair=price_pairs(), lookback=st.one_of(st.none(), st.integers(1, 30)))
def test_swapping_channels_swaps_the_allocation(
    pair: tuple[list[float], list[float]], lookback: int | None
) -> None:
    a, b = pair
    forward = rps_allocation(a, b, lookback=lookback)
    swapped = rps_allocation(b, a, lookback=lookback)
    assert swapped["allocation"] == forward["allocation"][::-1]
    assert swapped["band"] == MIRROR[forward["band"]]
    assert swapped["rps"] == -forward["rps"]


@settings(max_examples=60, deadline=None)
@given(pair=price_pairs(), lookback=st.one_of(st.none(), st.integers(1, 30)))
def test_value_prices_mirror_cost_prices(
    pair: tuple[list[float], list[float]], lookback: int | None
) -> None:
    a, b = pair
    as_cost = rps_allocation(a, b, lookback=lookback, price_kind="cost")
    as_value = rps_allocation(a, b, lookback=lookback, price_kind="value")
    assert as_value["band"] == MIRROR[as_cost["band"]]
    assert as_value["allocation"] == as_cost["allocation"][::-1]
    assert as_value["rps"] == as_cost["rps"]


@settings(max_examples=40, deadline=None)
@given(pair=price_pairs(min_size=2), lookback=st.integers(1, 5), factor=st.floats(0.1, 10.0))
def test_only_the_last_lookback_prices_matter(
    pair: tuple[list[float], list[float]], lookback: int, factor: float
) -> None:
    a, b = pair
    older = max(0, len(a) - lookback)
    changed_a = [price * factor for price in a[:older]] + a[older:]
    assert rps_allocation(changed_a, b, lookback=lookback) == rps_allocation(
        a, b, lookback=lookback
    )


def test_lookback_restricts_the_average_and_longer_lookbacks_use_everything() -> None:
    a, b = [1.0, 1.0, 1.0, 2.0], [1.0, 1.0, 1.0, 1.0]
    assert rps_allocation(a, b, lookback=1)["rps"] == pytest.approx(math.log(2))
    assert rps_allocation(a, b, lookback=2)["rps"] == pytest.approx(math.log(2) / 2)
    assert rps_allocation(a, b, lookback=100) == rps_allocation(a, b)
    assert rps_allocation(a, b)["rps"] == pytest.approx(math.log(2) / 4)


def test_rolling_rps_averages_each_window_up_to_its_step() -> None:
    a, b = [1.0, 2.0, 4.0, 1.0], [1.0, 1.0, 1.0, 1.0]
    logs = np.log(a)
    np.testing.assert_allclose(
        rolling_rps(a, b, lookback=2),
        [logs[0], logs[:2].mean(), logs[1:3].mean(), logs[2:4].mean()],
    )
    np.testing.assert_allclose(rolling_rps(a, b), np.cumsum(logs) / np.arange(1, 5))


def _bands_with(band_name: str, **changes: object) -> list[dict]:
    bands = default_bands()
    for band in bands:
        if band["name"] == band_name:
            band.update(changes)
    return bands


BAD_INPUTS = [
    ({"prices_a": [1.0, 2.0], "prices_b": [1.0]}, "same length"),
    ({"prices_a": [], "prices_b": []}, "prices_a is empty"),
    ({"prices_a": [1.0], "prices_b": []}, "prices_b is empty"),
    ({"prices_a": [1.0, 0.0], "prices_b": [1.0, 1.0]}, "prices_a[1] is 0: prices must be greater"),
    ({"prices_a": [1.0, 1.0], "prices_b": [-2.0, 1.0]}, "prices_b[0] is -2"),
    ({"prices_a": [1.0, math.nan], "prices_b": [1.0, 1.0]}, "prices_a[1] is nan"),
    ({"prices_a": [1.0, 1.0], "prices_b": [1.0, math.inf]}, "prices_b[1] is inf"),
    ({"prices_a": [1.0, -math.inf], "prices_b": [1.0, 1.0]}, "must be finite"),
    ({"prices_a": [[1.0]], "prices_b": [[1.0]]}, "flat list"),
    ({"prices_a": ["cheap"], "prices_b": [1.0]}, "list of numbers"),
    ({"lookback": 0}, "lookback must be at least 1"),
    ({"lookback": -3}, "lookback must be at least 1"),
    ({"lookback": 1.5}, "lookback must be an integer"),
    ({"lookback": True}, "lookback must be an integer"),
    ({"price_kind": "price"}, "price_kind must be 'cost' or 'value'"),
    ({"bands": default_bands()[:4]}, "exactly the five bands"),
    ({"bands": {"A_HEAVY": [0.75, 0.25]}}, "list of five band objects"),
    ({"bands": [*default_bands()[:4], default_bands()[0]]}, "appears more than once"),
    ({"bands": _bands_with("EQUAL", name="FLAT")}, "name must be one of"),
    ({"bands": _bands_with("EQUAL", allocation=[0.5, 0.6])}, "must sum to 1"),
    ({"bands": _bands_with("EQUAL", allocation=[1.5, -0.5])}, "must lie in [0, 1]"),
    ({"bands": _bands_with("EQUAL", allocation=[0.2, 0.3, 0.5])}, "pair of two numbers"),
    ({"bands": _bands_with("EQUAL", allocation="half")}, "pair [share_a, share_b]"),
    ({"bands": _bands_with("EQUAL", lower=-0.04)}, "gap or overlap"),
    ({"bands": _bands_with("EQUAL", upper=0.07)}, "gap or overlap"),
    ({"bands": _bands_with("EQUAL", upper=math.nan)}, "finite number or null"),
    ({"bands": _bands_with("EQUAL", upper="0.05")}, "finite number or null"),
    ({"bands": _bands_with("B_HEAVY", lower=-1.0)}, "B_HEAVY must be unbounded below"),
    ({"bands": _bands_with("A_HEAVY", upper=1.0)}, "A_HEAVY must be unbounded above"),
    ({"bands": _bands_with("A_LIGHT", upper=None)}, "must meet at a finite edge value"),
    ({"bands": symmetric_bands(0.1, 0.1)}, "each non-empty"),
    ({"bands": symmetric_bands(0.15, 0.05)}, "must ascend"),
    ({"bands": _bands_with("EQUAL", weight=1)}, "unknown ['weight']"),
    ({"bands": [{"name": "EQUAL"}, *default_bands()[1:]]}, "missing ['allocation', 'lower'"),
    ({"bands": ["A_HEAVY", *default_bands()[1:]]}, "must be an object"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_INPUTS)
def test_bad_input_raises_an_engine_error_that_says_what_is_wrong(
    changes: dict, message: str
) -> None:
    arguments = {"prices_a": SEED_A, "prices_b": SEED_B, **changes}
    with pytest.raises(EngineError) as raised:
        rps_allocation(**arguments)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)
