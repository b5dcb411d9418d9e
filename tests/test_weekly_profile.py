"""`curve`'s profile of the reports by day of the week (engine.policies.weekly_profile)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import make_policy
from engine.packing import unpack
from engine.policies.weekly_profile import empty_profile, factors, learnt, profile_of, row_factors

SETTINGS = {"budget": 30_000.0, "timesteps": 30, "step": 0.2, "seed": 5}
SCALES = np.array([800.0, 1200.0, 1000.0])


def weekly(t):
    return 1.0 + 0.4 * np.sin(2 * np.pi * np.asarray(t) / 7)


def profile_after(rows, season, level=1.0, period=7):
    """A profile of three campaigns predicted at 10, 20 and 30 whose rows report that times
    `season(row)` times `level`."""
    rows = np.asarray(rows)
    predicted = np.tile([10.0, 20.0, 30.0], (rows.size, 1))
    value = predicted * season(rows)[:, None] * level
    return learnt(empty_profile(period), rows, value, np.ones_like(value), predicted)


def test_an_empty_profile_or_a_period_below_two_leaves_every_row_as_it_is():
    assert factors(empty_profile(7)) == pytest.approx(np.ones(7))
    assert row_factors(empty_profile(0), np.arange(5)) == pytest.approx(np.ones(5))
    one_day = profile_after([0, 7, 14], weekly)  # rows of one day only: nothing to compare
    assert factors(one_day) == pytest.approx(np.ones(7))


def test_a_clear_cycle_is_learnt_and_noise_alone_is_shrunk_to_one():
    rows = np.arange(70)  # ten weeks: ten rows a day
    profile = profile_after(rows, weekly)
    # Every row of a day reports the same ratio: nothing within a day, all between days.
    assert factors(profile) == pytest.approx(weekly(np.arange(7)) / weekly(rows).mean())
    assert row_factors(profile, [3, 10, 17]) == pytest.approx([factors(profile)[3]] * 3)
    noise = np.random.default_rng(3).normal(1.0, 0.2, 700)
    # Noise alone: each day's factor nearer 1 than its rows' mean ratio, and near 1 once
    # every day has many rows.
    raw = np.array([noise[d:70:7].mean() for d in range(7)]) / noise[:70].mean()
    shrunk = factors(profile_after(rows, lambda t: noise[t]))
    assert np.all(np.abs(shrunk - 1) <= np.abs(raw - 1) + 1e-12)
    many = factors(profile_after(np.arange(700), lambda t: noise[t]))
    assert many == pytest.approx(np.ones(7), abs=0.03)
    noisy_cycle = factors(profile_after(rows, lambda t: weekly(t) * noise[t]))
    truth = weekly(np.arange(7)) / weekly(rows).mean()
    # A cycle under that noise: most of the way from no profile to the true one.
    assert np.linalg.norm(noisy_cycle - truth) < 0.5 * np.linalg.norm(1 - truth)


def test_only_campaigns_that_reported_and_predict_count():
    predicted = np.array([[10.0, np.nan], [10.0, 10.0]])
    value = np.array([[20.0, 500.0], [5.0, 5.0]])
    weight = np.array([[1.0, 1.0], [1.0, 0.0]])
    profile = learnt(empty_profile(2), np.array([0, 1]), value, weight, predicted)
    assert profile["ratios"] == pytest.approx([2.0, 0.5])
    assert profile["squares"] == pytest.approx([4.0, 0.25])
    assert profile["rows"] == pytest.approx([1.0, 1.0])


@settings(max_examples=40, deadline=None)
@given(
    level=st.floats(0.05, 20.0),
    amplitude=st.floats(0.0, 0.9),
    start=st.integers(0, 6),
    weeks=st.integers(1, 12),
)
def test_a_level_common_to_every_day_is_left_to_the_fit(level, amplitude, start, weeks):
    rows = np.arange(start, start + 7 * weeks)

    def season(t):
        return 1.0 + amplitude * np.sin(2 * np.pi * t / 7)

    plain, scaled = profile_after(rows, season), profile_after(rows, season, level)
    assert factors(scaled) == pytest.approx(factors(plain), rel=1e-9)
    assert np.all((factors(scaled) >= 0.5) & (factors(scaled) <= 2.0))
    flat = profile_after(rows, lambda t: np.ones(np.shape(t)), level)
    assert factors(flat) == pytest.approx(np.ones(7), rel=1e-9)


def test_a_profile_of_another_period_or_none_starts_afresh():
    kept = profile_after(np.arange(14), weekly)
    assert profile_of({"weekly": kept}, 7) is kept
    assert profile_of({"weekly": kept}, 5) == empty_profile(5)
    assert profile_of({}, 7) == empty_profile(7)


def residual_of_best_curve(policy, steps):
    """Each campaign's least squared residual over the grid's curves, as the sums hold it,
    after `steps` timesteps of exact curves times a weekly factor common to all campaigns."""
    state = policy.init(SCALES.size, SETTINGS)
    for t in range(steps):
        spend = np.array(state["budgets"])
        revenue = 2000.0 * -np.expm1(-spend / SCALES) * weekly(t)
        state, _ = policy.advance(state, {"spend": spend.tolist(), "revenue": revenue.tolist()})
    stats = state["stats"]
    shape = (SCALES.size, len(policy.grid_scales))
    ff, fy = unpack(stats["ff"], shape), unpack(stats["fy"], shape)
    yy = np.asarray(stats["yy"])
    return np.min(yy[:, None] - fy**2 / ff, axis=1) / yy


def test_curve_takes_a_weekly_cycle_out_of_the_fit_by_default():
    # Rows enter the sums at once (no report record); those of the first days enter before
    # the profile knows their day. Both follow the mean of their draws' allocations, so that
    # the spends differ only through the fits, not through information-directed moves.
    plain = residual_of_best_curve(
        make_policy("curve", {"season_period": 0, "report_window": 0, "decision": "mean"}), 28
    )
    profiled = residual_of_best_curve(
        make_policy("curve", {"report_window": 0, "decision": "mean"}), 28
    )
    assert np.all(profiled < 0.6 * plain)


def test_a_state_made_before_the_profile_advances_and_starts_one():
    policy = make_policy("curve")
    state = policy.init(3, SETTINGS)
    report = {"spend": state["budgets"], "revenue": [100.0, 50.0, 80.0]}
    state, _ = policy.advance(state, report)
    del state["stats"]["weekly"]
    state, _ = policy.advance(state, report)
    assert state["stats"]["weekly"]["period"] == 7
