"""Worlds of few campaigns spread widely around an equal share (engine.spread_worlds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.simulate import run
from engine.spread_worlds import SPREAD, VALUE_RANGE, make_spread_world
from engine.worlds import FAMILIES, TIMESTEP_BUDGET


@settings(max_examples=30, deadline=None)
@given(
    family=st.sampled_from(FAMILIES),
    n_campaigns=st.sampled_from([2, 5, 12, 40]),
    seed=st.integers(0, 10_000),
    conversions=st.floats(10.0, 5000.0),
)
def test_an_equal_split_buys_the_conversions_asked_for(
    family: str, n_campaigns: int, seed: int, conversions: float
) -> None:
    world = make_spread_world(family, n_campaigns, 3, seed, conversions)
    equal_share = TIMESTEP_BUDGET / n_campaigns
    bought = world.expected_conversions(np.full(n_campaigns, equal_share), 2).sum()
    assert bought == pytest.approx(conversions)
    ratio = world.scale / equal_share
    assert np.all((ratio >= 1 / np.sqrt(SPREAD)) & (ratio <= np.sqrt(SPREAD)))
    values = world.value_per_conversion / 40.0
    assert np.all((values >= 1 / np.sqrt(VALUE_RANGE)) & (values <= np.sqrt(VALUE_RANGE)))
    assert np.all(world.amplitude == world.amplitude[0])  # stationary
    assert np.all(world.kind == FAMILIES.index(family))
    assert (family == "hill") == bool(np.any(world.shape != 1.0))


def test_equal_arguments_give_equal_worlds_and_the_spread_is_wide() -> None:
    one = make_spread_world("hill", 12, 5, 7)
    again = make_spread_world("hill", 12, 5, 7)
    assert np.array_equal(one.scale, again.scale)
    assert np.array_equal(one.amplitude, again.amplitude)
    assert not np.array_equal(one.scale, make_spread_world("hill", 12, 5, 8).scale)
    scales = np.concatenate([make_spread_world("negexp", 12, 2, s).scale for s in range(20)])
    equal_share = TIMESTEP_BUDGET / 12
    # Log-uniform over 25-fold: a tenth of the draws below 0.3 equal shares, a tenth above 3.5.
    assert 0.05 < np.mean(scales < 0.3 * equal_share) < 0.2
    assert 0.05 < np.mean(scales > 3.5 * equal_share) < 0.2


def test_the_levels_change_how_noisy_the_reports_are_not_the_best_split() -> None:
    low = make_spread_world("negexp", 5, 2, 3, conversions=100.0)
    high = make_spread_world("negexp", 5, 2, 3, conversions=1600.0)
    assert np.array_equal(low.scale, high.scale)
    assert high.amplitude[0] == pytest.approx(16 * low.amplitude[0])
    assert run("uniform", low, 0).efficiency == pytest.approx(run("uniform", high, 0).efficiency)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("log", 5, 3, 0), "family"),
        (("negexp", 1, 3, 0), "n_campaigns"),
        (("negexp", 5, 3, 0, 0.5), "conversions"),
        (("negexp", 5, 3, 0, float("nan")), "conversions"),
    ],
)
def test_impossible_worlds_are_refused(args: tuple, match: str) -> None:
    with pytest.raises(EngineError, match=match):
        make_spread_world(*args)
