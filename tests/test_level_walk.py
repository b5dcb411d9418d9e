"""`curve` following each campaign's level as a random walk (engine.policies.level_walk)."""

import numpy as np
import pytest

from engine import make_policy
from engine.amend import resize
from engine.policies.level_walk import (
    empty_levels,
    filtered,
    levels_of,
    measurement_noise,
    resized_levels,
)

SETTINGS = {"budget": 30_000.0, "timesteps": 40, "step": 0.2, "seed": 5}
SCALES = np.array([800.0, 1200.0, 1000.0])


def test_the_filter_follows_a_drifting_level_and_a_fixed_one_does_not():
    rng = np.random.default_rng(4)
    rows, n_campaigns = 80, 30
    truth = np.exp(np.cumsum(rng.normal(0.0, 0.03, (rows, n_campaigns)), axis=0))
    predicted = np.full((rows, n_campaigns), 100.0)
    value = truth * predicted + rng.normal(0.0, 5.0, (rows, n_campaigns))
    levels, at_rows = filtered(
        empty_levels(n_campaigns, 0.03), value, np.ones_like(value), predicted, np.full(30, 25.0)
    )
    error = np.abs(np.log(np.array(levels["mean"]) / truth[-1])).mean()
    assert error < 0.3 * np.abs(np.log(truth[-1])).mean()
    assert at_rows[-1] == pytest.approx(levels["mean"])
    assert np.abs(np.log(at_rows / truth)).mean() < 0.4 * np.abs(np.log(truth)).mean()


def test_without_a_walk_or_without_usable_cells_the_level_stays():
    value = np.array([[200.0, 50.0, 7.0], [220.0, 60.0, 8.0]])
    predicted = np.array([[100.0, np.nan, 10.0], [100.0, 10.0, 0.0]])
    weight = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    still, _ = filtered(empty_levels(3, 0.0), value, weight, predicted, np.ones(3))
    assert still["mean"] == [1.0, 1.0, 1.0] and still["var"] == [0.0, 0.0, 0.0]
    moved, at_rows = filtered(empty_levels(3, 0.1), value, weight, predicted, np.ones(3))
    # The first campaign reports twice its prediction: its level rises toward 2; the second
    # predicts only in the second row; the third reports with weight 0 and then predicts 0.
    assert 1.0 < at_rows[0, 0] < at_rows[1, 0] < 2.2
    assert at_rows[0, 1] == 1.0 and at_rows[1, 1] > 1.0
    assert moved["mean"][2] == 1.0
    assert moved["var"][2] == pytest.approx(2 * 0.1**2)


def test_a_level_is_kept_within_its_range():
    value, ones = np.full((30, 1), 1000.0), np.ones((30, 1))
    levels, _ = filtered(empty_levels(1, 0.5), value, ones, ones, np.ones(1))
    assert levels["mean"] == [5.0]


def test_measurement_noise_is_the_best_curves_residual_shrunk_toward_the_prior():
    # Two grid curves; the second fits exactly (residual 0), the first does not.
    sums = {
        "ff": np.array([[1.0, 4.0]]),
        "fy": np.array([[1.0, 20.0]]),
        "yy": np.array([100.0]),
        "count": np.array([6.0]),
    }
    assert measurement_noise(sums, np.array([8.0])) == pytest.approx([2 * 8.0 / 8.0])
    sums["yy"] = np.array([116.0])
    assert measurement_noise(sums, np.array([8.0])) == pytest.approx([(16.0 + 16.0) / 8.0])


def test_levels_of_other_walks_or_none_start_afresh_and_resizing_moves_them():
    kept = {"walk": 0.02, "mean": [1.5, 0.8], "var": [0.01, 0.02]}
    assert levels_of({"levels": kept}, 0.02, 2) is kept
    assert levels_of({"levels": kept}, 0.01, 2) == empty_levels(2, 0.01)
    assert levels_of({}, 0.02, 2) == empty_levels(2, 0.02)
    moved = resized_levels(kept, [1, None, 0])
    assert moved == {"walk": 0.02, "mean": [0.8, 1.0, 1.5], "var": [0.02, 0.0, 0.01]}


def play(params, amplitude, steps, noise=0.0, seed=0):
    """`curve` with `params` on exact negexp curves whose amplitudes at each timestep are
    `amplitude(t)` (K,), with relative noise `noise`; the final state."""
    rng = np.random.default_rng(seed)
    policy = make_policy("curve", params)
    state = policy.init(SCALES.size, SETTINGS)
    for t in range(steps):
        spend = np.array(state["budgets"])
        revenue = amplitude(t) * -np.expm1(-spend / SCALES)
        revenue = revenue * (1.0 + noise * rng.standard_normal(SCALES.size))
        state, _ = policy.advance(state, {"spend": spend.tolist(), "revenue": revenue.tolist()})
    return policy, state


def fading(t):
    """The first campaign's response halves over 30 timesteps; the others stay."""
    return np.array([2000.0 * 0.5 ** min(t / 30, 1.0), 2000.0, 2000.0])


def test_curve_follows_a_campaign_whose_response_fades_and_funds_it_less():
    _, walking = play({"level_walk": 0.05}, fading, 36)
    _, still = play({}, fading, 36)
    level = walking["stats"]["levels"]["mean"]
    # The rows in the sums lag `report_window` timesteps: the level read there is below 0.7.
    assert level[0] < 0.7 and abs(level[1] - 1.0) < 0.05 and abs(level[2] - 1.0) < 0.05
    assert "levels" not in still["stats"]
    # The fit of every row alone still funds it nearly as the others; the level cuts it.
    assert still["shares"][0] > 0.3 and walking["shares"][0] < 0.05


def test_on_a_stationary_market_the_levels_stay_near_one_and_the_shares_barely_move():
    def steady(t):
        return np.array([2000.0, 1500.0, 2500.0])

    _, walking = play({"level_walk": 0.02}, steady, 30)
    _, still = play({}, steady, 30)
    assert np.abs(np.array(walking["shares"]) - still["shares"]).max() < 0.01
    assert np.abs(np.log(walking["stats"]["levels"]["mean"])).max() < 0.01


def test_levels_refold_as_they_were_learnt_and_a_launched_campaign_starts_at_one():
    policy = make_policy("curve", {"level_walk": 0.05})
    state = policy.init(SCALES.size, SETTINGS)
    rows, planned = [], []
    for t in range(14):
        spend = np.array(state["budgets"])
        revenue = (fading(t) * -np.expm1(-spend / SCALES)).tolist()
        rows.append({"spend": spend.tolist(), "revenue": revenue})
        planned.append(spend.tolist())
        state, _ = policy.advance(state, rows[-1])
    assert state["stats"]["levels"]["mean"][0] < 1.0
    assert policy.refold(state, rows, planned)["stats"]["levels"] == state["stats"]["levels"]
    resized = resize(policy, state, [2, None, 0])
    before = state["stats"]["levels"]["mean"]
    assert resized["stats"]["levels"]["mean"] == [before[2], 1.0, before[0]]
    state, _ = policy.advance(resized, {"spend": resized["budgets"], "revenue": [900.0] * 3})
    assert len(state["stats"]["levels"]["mean"]) == 3
