"""The RPS band allocator over time: simulated prices, backtest, grid search and CLI.

Simulated price streams, the backtest, the grid search over lookbacks and thresholds, and the
command line.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cli.rps import main
from engine.errors import EngineError
from engine.rps import rps_allocation
from engine.rps_backtest import backtest, grid_search
from engine.rps_bands import BAND_NAMES, symmetric_bands
from engine.rps_prices import simulate_price_streams


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
