"""Tests of the RPS band allocator, its simulation, backtest, grid search and CLI."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import make_policy
from engine.cli.rps import main
from engine.errors import EngineError
from engine.rps import rolling_rps, rps_allocation
from engine.rps_backtest import backtest, grid_search
from engine.rps_bands import (
    BAND_NAMES,
    DEFAULT_BANDS,
    default_bands,
    symmetric_bands,
    validate_bands,
)
from engine.rps_prices import simulate_price_streams

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


def test_simulated_streams_are_seeded_geometric_random_walks() -> None:
    a, b = simulate_price_streams(seed=7)
    again_a, again_b = simulate_price_streams(seed=7)
    other_a, _ = simulate_price_streams(seed=8)
    assert a.shape == b.shape == (30,)
    np.testing.assert_array_equal(a, again_a)
    np.testing.assert_array_equal(b, again_b)
    assert not np.array_equal(a, other_a)
    assert a[0] == b[0] == 1.0
    assert (a > 0).all() and (b > 0).all()


def test_without_volatility_the_walk_is_its_exact_drift() -> None:
    a, b = simulate_price_streams(
        5, start_a=2.0, start_b=3.0, drift_a=0.1, drift_b=-0.2, volatility_a=0, volatility_b=0
    )
    steps = np.arange(5)
    np.testing.assert_allclose(a, 2.0 * np.exp(0.1 * steps))
    np.testing.assert_allclose(b, 3.0 * np.exp(-0.2 * steps))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"start_a": 0.0}, "start_a must be a finite number greater than 0"),
        ({"drift_b": math.inf}, "drift_b must be a finite number"),
        ({"volatility_a": -0.1}, "volatility_a must be a finite number >= 0"),
    ],
)
def test_bad_simulation_parameters_are_rejected(changes: dict, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        simulate_price_streams(**changes)


def test_backtest_hand_computed_cost_example() -> None:
    report = backtest([1.0, 1.0, 1.0], [2.0, 2.0, 2.0], budget=100.0)
    assert report["bands"] == ["A_HEAVY"] * 3
    assert report["allocations"] == [[0.5, 0.5], [0.75, 0.25], [0.75, 0.25]]
    assert report["next_allocation"] == [0.75, 0.25]
    assert report["flat_results"] == [75.0, 75.0, 75.0]
    assert report["rps_results"] == [75.0, 87.5, 87.5]
    assert report["totals"]["flat"] == 225.0
    assert report["totals"]["rps"] == 250.0
    assert report["totals"]["difference"] == 25.0
    assert report["totals"]["relative_difference"] == pytest.approx(25.0 / 225.0)


def test_backtest_value_prices_buy_spend_times_price() -> None:
    report = backtest([1.0, 1.0], [2.0, 2.0], budget=100.0, price_kind="value")
    assert report["bands"] == ["B_HEAVY", "B_HEAVY"]
    assert report["flat_results"] == [150.0, 150.0]
    assert report["rps_results"] == [150.0, 175.0]


def test_backtest_decisions_are_rps_allocation_on_each_prefix_applied_one_step_later() -> None:
    a, b = simulate_price_streams(20, seed=3, drift_a=0.0, drift_b=0.0, volatility_a=0.1)
    report = backtest(a, b, lookback=3)
    for t in range(20):
        decision = rps_allocation(a[: t + 1], b[: t + 1], lookback=3)
        assert report["bands"][t] == decision["band"]
        assert report["rps"][t] == pytest.approx(decision["rps"])
        if t + 1 < 20:
            assert report["allocations"][t + 1] == decision["allocation"]
    assert report["allocations"][0] == [0.5, 0.5]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cut=st.integers(0, 28),
    lookback=st.one_of(st.none(), st.integers(1, 8)),
)
def test_shuffling_future_prices_cannot_change_past_decisions(
    seed: int, cut: int, lookback: int | None
) -> None:
    a, b = simulate_price_streams(30, seed=seed, volatility_a=0.1, volatility_b=0.1)
    rng = np.random.default_rng(seed)
    shuffled_a = np.concatenate((a[: cut + 1], rng.permutation(a[cut + 1 :]) * 1.7))
    shuffled_b = np.concatenate((b[: cut + 1], rng.permutation(b[cut + 1 :])[::-1]))
    original = backtest(a, b, lookback=lookback)
    shuffled = backtest(shuffled_a, shuffled_b, lookback=lookback)
    assert shuffled["bands"][: cut + 1] == original["bands"][: cut + 1]
    assert shuffled["allocations"][: cut + 2] == original["allocations"][: cut + 2]
    assert shuffled["rps_results"][: cut + 1] == original["rps_results"][: cut + 1]


def test_backtest_needs_two_prices_and_a_positive_budget() -> None:
    with pytest.raises(EngineError, match="at least 2 prices"):
        backtest([1.0], [1.0])
    with pytest.raises(EngineError, match="budget must be a finite number greater than 0"):
        backtest([1.0, 1.0], [1.0, 1.0], budget=0.0)


GRID = {"lookbacks": (1, 2, 4), "equal_thresholds": (0.01, 0.05), "heavy_thresholds": (0.05, 0.2)}


def test_grid_search_picks_the_best_in_sample_setting_and_reports_its_tail() -> None:
    a, b = simulate_price_streams(40, seed=11, drift_a=0.0, drift_b=0.0, volatility_a=0.08)
    search = grid_search(a, b, budget=10.0, holdout_fraction=0.25, **GRID)
    assert (search["train_steps"], search["holdout_steps"]) == (30, 10)
    assert search["settings_evaluated"] == 3 * 3
    train_a, train_b = a[:30], b[:30]
    in_sample = {
        (lookback, equal, heavy): backtest(
            train_a, train_b, 10.0, lookback, bands=symmetric_bands(equal, heavy)
        )["totals"]["rps"]
        for lookback in GRID["lookbacks"]
        for equal in GRID["equal_thresholds"]
        for heavy in GRID["heavy_thresholds"]
        if equal < heavy
    }
    best = search["best"]
    key = (best["lookback"], best["equal_threshold"], best["heavy_threshold"])
    assert search["in_sample"]["rps"] == pytest.approx(max(in_sample.values()))
    assert in_sample[key] == pytest.approx(max(in_sample.values()))
    full = backtest(a, b, 10.0, best["lookback"], bands=best["bands"])
    assert search["out_of_sample"]["rps"] == pytest.approx(sum(full["rps_results"][30:]))
    assert search["out_of_sample"]["flat"] == pytest.approx(sum(full["flat_results"][30:]))
    baseline = backtest(a, b, 10.0)
    assert search["baseline_out_of_sample"]["rps"] == pytest.approx(
        sum(baseline["rps_results"][30:])
    )


def test_grid_search_never_looks_at_the_held_out_tail() -> None:
    a, b = simulate_price_streams(30, seed=5, volatility_a=0.1, volatility_b=0.1)
    search = grid_search(a, b)
    tail = search["holdout_steps"]
    changed = grid_search(a, np.concatenate((b[:-tail], b[-tail:][::-1] * 3.0)))
    assert changed["best"] == search["best"]
    assert changed["in_sample"] == search["in_sample"]
    assert changed["out_of_sample"] != search["out_of_sample"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"holdout_fraction": 0.0}, "holdout_fraction must lie strictly between 0 and 1"),
        ({"holdout_fraction": 0.95}, "send a longer history"),
        ({"lookbacks": ()}, "grid lookbacks must not be empty"),
        ({"lookbacks": (0,)}, "lookback must be at least 1"),
        ({"lookbacks": (50,)}, "every grid lookback exceeds"),
        ({"equal_thresholds": (-0.1,)}, "finite numbers > 0"),
        ({"equal_thresholds": (0.5,), "heavy_thresholds": (0.1,)}, "at least one equal threshold"),
    ],
)
def test_bad_grid_settings_are_rejected(changes: dict, message: str) -> None:
    a, b = simulate_price_streams(10)
    with pytest.raises(EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        grid_search(a, b, **changes)


def test_grid_search_keeps_the_allocations_of_the_given_bands() -> None:
    allocations = {name: [0.5, 0.5] for name in BAND_NAMES}
    allocations["A_HEAVY"] = [0.9, 0.1]
    a, b = simulate_price_streams(30, seed=2)
    search = grid_search(a, b, bands=symmetric_bands(0.05, 0.15, allocations))
    best_bands = {band["name"]: band["allocation"] for band in search["best"]["bands"]}
    assert best_bands == allocations


def test_cli_prints_the_comparison_and_writes_a_png(tmp_path, capsys) -> None:
    output = tmp_path / "rps.png"
    assert main(["--backtest", "--steps", "40", "--seed", "4", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "whole history" in printed
    assert "held-out tail" in printed
    report = backtest(*simulate_price_streams(40, seed=4))
    assert f"{report['totals']['rps']:.2f}" in printed
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_without_backtest_flag_or_with_bad_settings_exits_with_2(tmp_path, capsys) -> None:
    assert main([]) == 2
    assert main(["--backtest", "--steps", "1", "--output", str(tmp_path / "x.png")]) == 2
    assert "at least 2 prices" in capsys.readouterr().err


def test_simulation_that_overflows_is_rejected_instead_of_returning_infinite_prices() -> None:
    with pytest.raises(EngineError, match="left the floating-point range"):
        simulate_price_streams(1000, drift_a=1.0)


@pytest.mark.parametrize("price_kind", ["cost", "value"])
def test_results_beyond_floating_point_range_are_rejected(price_kind: str) -> None:
    tiny, huge = [1e-300, 1e-300], [1e300, 1e300]
    prices = tiny if price_kind == "cost" else huge
    with pytest.raises(EngineError, match="beyond floating-point range"):
        backtest(prices, prices, budget=1e12, price_kind=price_kind)
    with pytest.raises(EngineError, match="beyond floating-point range"):
        grid_search(prices * 5, prices * 5, budget=1e12, price_kind=price_kind)


def test_the_grid_search_runs_on_three_prices_and_says_why_two_are_too_few() -> None:
    search = grid_search([1.0, 1.1, 1.2], [1.2, 1.0, 1.1])
    assert (search["train_steps"], search["holdout_steps"]) == (2, 1)
    with pytest.raises(EngineError, match="at least 3 prices per channel, 2 to score"):
        grid_search([1.0, 1.1], [1.2, 1.0])
