"""`curve` dividing each timestep's reports by a factor every campaign shares (seasonality)."""

import numpy as np
import pytest

from engine import make_policy
from engine.packing import unpack
from engine.policies.shared_factor import row_factors

SETTINGS = {"budget": 30_000.0, "timesteps": 30, "step": 0.2, "seed": 5}
SCALES = np.array([800.0, 1200.0, 1000.0])


def weekly(t):
    return 1.0 + 0.4 * np.sin(2 * np.pi * t / 7)


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


def test_row_factors_are_observed_over_predicted_totals_moved_from_one_by_the_strength():
    value = np.array([[12.0, 24.0, 5.0], [3.0, 3.0, 3.0]])
    weight = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    predicted = np.array([[10.0, 20.0, 1.0], [np.nan, np.nan, np.nan]])
    # The third campaign did not report in the first row; nobody predicts the second.
    assert row_factors(value, weight, predicted, 1.0) == pytest.approx([1.2, 1.0])
    assert row_factors(value, weight, predicted, 0.5) == pytest.approx([1.1, 1.0])
    assert row_factors(value * 10, weight, predicted, 1.0) == pytest.approx([2.0, 1.0])


def test_the_shared_factor_takes_a_weekly_cycle_out_of_the_fit():
    plain = residual_of_best_curve(make_policy("curve", {"report_window": 0}), 21)
    shared = make_policy("curve", {"report_window": 0, "shared_factor": 1.0})
    deseasoned = residual_of_best_curve(shared, 21)
    assert np.all(deseasoned < 0.3 * plain)


def test_off_by_default_and_signed_only_when_on():
    assert make_policy("curve").signature == make_policy("curve", {"shared_factor": 0}).signature
    assert make_policy("curve", {"shared_factor": 0.5}).signature[-1] == 0.5
