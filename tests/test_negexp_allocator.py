"""The batched solvers of engine.negexp_allocator and the blend's tangent point.

The closed-form negexp batch against the bisection, and the S-curve draws' batch against the
KKT conditions of their concave envelopes.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.allocator import allocate_budget
from engine.negexp_allocator import allocate_negexp, allocate_negexp_blend, blend_tangent
from engine.response import NegExpCurves
from engine.settings import SMALLEST_NORMAL


def random_batch(rng, draws, size, budget):
    """Amplitudes of D x K curves (a tenth of them flat) and feasible per-campaign bounds."""
    alpha = rng.uniform(0, 1000, (draws, size)) * (rng.random((draws, size)) > 0.1)
    lower = rng.uniform(0, budget / size / 2, size) * (rng.random(size) > 0.5)
    upper = lower + rng.uniform(budget / size, budget, size)
    return alpha, lower, upper


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 25),
    st.integers(1, 4),
    st.floats(1.0, 1e5),
    st.integers(0, 2**32 - 1),
)
def test_closed_form_negexp_batch_matches_the_bisection(size, draws, budget, seed):
    rng = np.random.default_rng(seed)
    alpha, lower, upper = random_batch(rng, draws, size, budget)
    mu = rng.uniform(1e-4, 1e-1, (draws, size))
    batch = allocate_negexp(alpha, mu, budget, lower, upper)
    for draw in range(draws):
        curves = NegExpCurves(alpha[draw], mu[draw])
        exact = allocate_budget(curves, budget, lower, upper)
        assert batch[draw].sum() == pytest.approx(budget, rel=1e-9)
        assert np.all(batch[draw] >= lower - 1e-9 * budget)
        assert np.all(batch[draw] <= upper + 1e-9 * budget)
        best = curves.response(exact).sum()
        assert curves.response(batch[draw]).sum() >= best - 1e-9 * max(best, 1.0)


def blend_envelope_marginal(alpha, mu, blend, spend):
    """Marginal of the concave envelope of alpha * (1 - z)(1 - w z), z = exp(-mu * spend)."""
    tangent = np.array([blend_tangent(value) for value in blend])
    z = np.minimum(np.exp(-mu * spend), np.exp(-tangent))
    return alpha * mu * z * (1 + blend - 2 * blend * z)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 20),
    st.integers(1, 4),
    st.floats(1.0, 1e5),
    st.integers(0, 2**32 - 1),
)
def test_blend_batch_meets_the_kkt_conditions_of_the_envelopes(size, draws, budget, seed):
    rng = np.random.default_rng(seed)
    alpha, lower, upper = random_batch(rng, draws, size, budget)
    mu = rng.uniform(0.2, 20.0, (draws, size)) * size / budget
    blend = rng.choice([0.0, 0.3, 0.6, 1.0], (draws, size))
    batch = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)
    for draw in range(draws):
        spend = batch[draw]
        assert spend.sum() == pytest.approx(budget, rel=1e-9)
        assert np.all(spend >= lower - 1e-9 * budget) and np.all(spend <= upper + 1e-9 * budget)
        marginal = blend_envelope_marginal(alpha[draw], mu[draw], blend[draw], spend)
        free = (spend > lower + 1e-6 * budget) & (spend < upper - 1e-6 * budget)
        # Every campaign between its bounds sits at one multiplier; none at a bound would
        # rather move: the lowest marginal of those that could give is the highest of the rest.
        can_give = spend > lower + 1e-6 * budget
        can_take = spend < upper - 1e-6 * budget
        if can_give.any() and can_take.any():
            assert marginal[can_take].max() <= marginal[can_give].min() * (1 + 1e-8) + 1e-12
        if free.sum() > 1:
            np.testing.assert_allclose(marginal[free], marginal[free].mean(), rtol=1e-8)


def test_blend_batch_without_s_curves_is_the_negexp_batch():
    rng = np.random.default_rng(3)
    alpha, mu = rng.uniform(1, 100, (5, 6)), rng.uniform(1e-3, 1e-1, (5, 6))
    lower, upper = np.zeros(6), np.full(6, 300.0)
    blend = allocate_negexp_blend(alpha, mu, np.zeros((5, 6)), 300.0, lower, upper)
    np.testing.assert_allclose(blend, allocate_negexp(alpha, mu, 300.0, lower, upper), atol=1e-9)


def test_blend_batch_settles_a_flat_stretch_campaign_by_campaign():
    # Two equal squared-negexp curves and a budget below twice the tangent spend: the optimum
    # is on the envelope's line, where the whole budget goes up one curve's line first.
    mu = 0.01
    tangent_spend = blend_tangent(1.0) / mu
    for budget in (0.5 * tangent_spend, 1.5 * tangent_spend):
        spend = allocate_negexp_blend(
            np.full((1, 2), 50.0),
            np.full((1, 2), mu),
            np.ones((1, 2)),
            budget,
            np.zeros(2),
            np.full(2, 1e4),
        )[0]
        assert spend.sum() == pytest.approx(budget, rel=1e-12)
        assert spend[0] == pytest.approx(min(budget, tangent_spend), rel=1e-9)


def test_blend_tangent_touches_the_s_curve_and_is_zero_for_concave_blends():
    assert blend_tangent(0.0) == blend_tangent(1 / 3) == 0.0
    u = blend_tangent(1.0)  # e^u - 1 = 2u for the squared negexp
    assert np.expm1(u) == pytest.approx(2 * u, rel=1e-9)


def test_blend_batch_splits_budgets_far_up_concave_curves():
    # At 1000 a campaign, mu * spend is past 708: the curves' z = exp(-mu * x) is 0 in
    # floating point, and the batch must still equalise the marginals exactly (log-space).
    alpha = np.array([[1.0, 2.0], [1.0, 1.0]])
    spend = allocate_negexp_blend(
        alpha, np.ones((2, 2)), np.zeros((2, 2)), 2000.0, np.zeros(2), np.full(2, 1e6)
    )
    assert np.all(np.isfinite(spend))
    half_log_two = 0.5 * np.log(2.0)  # alpha e^-x equal: x1 - x0 = log 2
    np.testing.assert_allclose(spend[0], [1000 - half_log_two, 1000 + half_log_two], rtol=1e-12)
    np.testing.assert_allclose(spend[1], [1000.0, 1000.0], rtol=1e-12)


@pytest.mark.parametrize("unit", [1.0, 1e-3])
@pytest.mark.parametrize("budget", [850.0, 900.0, 950.0])
def test_blend_batch_converges_just_past_a_barely_s_shaped_tangent(budget, unit):
    # A curve barely S-shaped (w = 0.34) spends steeply in the multiplier just past its
    # tangent point, so Newton steps from above the budget overshoot the bracket: the
    # safeguard must bisect between the latest point above and the latest below, whatever
    # the unit of spend (in thousands, every overshoot is under 1).
    alpha, blend = np.array([[400.0, 100.0]]), [[0.0, 0.34]]
    mu = np.array([[0.004, 0.001]]) / unit
    budget *= unit
    upper = np.full(2, 5000.0 * unit)
    spend = allocate_negexp_blend(alpha, mu, blend, budget, np.zeros(2), upper)[0]
    assert spend.sum() == pytest.approx(budget, rel=1e-12)
    assert np.all(spend > 0)
    marginal = blend_envelope_marginal(alpha[0], mu[0], np.array(blend[0]), spend)
    assert marginal[0] == pytest.approx(marginal[1], rel=1e-9)


def test_blend_batch_with_minimums_past_the_s_curves_tangents_meets_the_kkt_conditions():
    # Spend in small units (mu > 1): each minimum lies past its S-curve's tangent point
    # (tangent / mu), so where the curve meets it is a breakpoint of the total spend.
    alpha, mu, blend = np.array([[55.0, 990.0]]), np.array([[28.7, 39.2]]), np.array([[0.57, 0.52]])
    lower, upper = np.array([0.518, 0.53]), np.array([1.6, 1.19])
    spend = allocate_negexp_blend(alpha, mu, blend, 1.284, lower, upper)[0]
    assert spend.sum() == pytest.approx(1.284, rel=1e-12)
    assert np.all(spend > lower) and np.all(spend < upper)
    marginal = blend_envelope_marginal(alpha[0], mu[0], blend[0], spend)
    assert marginal[0] == pytest.approx(marginal[1], rel=1e-9)


def test_blend_batch_with_a_budget_equal_to_the_minimums_spends_the_minimums():
    lower, upper = np.array([10.0, 0.0, 25.0]), np.full(3, 100.0)
    alpha, mu = np.array([[50.0, 80.0, 20.0]]), np.full((1, 3), 0.02)
    for blend in (np.zeros((1, 3)), np.array([[1.0, 0.0, 0.6]])):
        spend = allocate_negexp_blend(alpha, mu, blend, 35.0, lower, upper)
        np.testing.assert_allclose(spend, [lower], atol=1e-12)


def test_negexp_batch_takes_one_problem_as_flat_arrays():
    alpha, mu = np.array([100.0, 300.0, 50.0]), np.array([0.01, 0.002, 0.05])
    lower, upper = np.zeros(3), np.full(3, 400.0)
    one = allocate_negexp(alpha, mu, 500.0, lower, upper)
    assert one.shape == (1, 3)
    np.testing.assert_array_equal(one, allocate_negexp(alpha[None], mu[None], 500.0, lower, upper))


def test_a_flat_campaign_takes_only_what_an_s_curve_short_of_its_tangent_cannot():
    # The S-curve's upper bound (1474.8) lies below its tangent point (1598): all of it is on
    # its line, worth more than the flat campaign, which takes only the rest of the budget.
    alpha, mu, blend = np.array([[0.0, 586.0]]), np.array([[0.0012, 0.000786]]), np.ones((1, 2))
    for lower in (np.zeros(2), np.array([748.7, 0.0])):
        spend = allocate_negexp_blend(alpha, mu, blend, 2385.6, lower, np.array([2856.0, 1474.8]))
        np.testing.assert_allclose(spend, [[2385.6 - 1474.8, 1474.8]], rtol=1e-12)


def test_blend_batch_splits_budgets_straddling_the_far_end_of_the_curves():
    # x1 - x0 = log 3 around 708.4: campaign 0's z = exp(-x) is a normal float (x below
    # -log of the smallest normal, 708.396), campaign 1's subnormal (read through its logs);
    # the marginals must still be equal. Both past 708.396 would shift together, unseen.
    spend = allocate_negexp_blend(
        np.array([[1.0, 3.0]]),
        np.ones((1, 2)),
        np.zeros((1, 2)),
        1416.8,
        np.zeros(2),
        np.full(2, 1e6),
    )[0]
    assert np.exp(-spend[0]) >= SMALLEST_NORMAL > np.exp(-spend[1])
    half_log_three = 0.5 * np.log(3.0)
    np.testing.assert_allclose(spend, [708.4 - half_log_three, 708.4 + half_log_three], rtol=1e-12)


@pytest.mark.parametrize("blend", [0.34, 0.5, 2.0 / 3.0, 0.9])
def test_every_blend_above_a_third_has_a_tangent_point(blend):
    u = blend_tangent(blend)
    assert u > 0
    z = np.exp(-u)  # the line from the origin touches the curve: value = u * marginal
    assert (1 - z) * (1 - blend * z) == pytest.approx(u * z * (1 + blend - 2 * blend * z))


def test_blend_batch_funds_an_s_curve_capped_on_its_line_from_the_lowest_breakpoint():
    # The S-curve's upper bound (70) lies below its tangent point (179.5): all of it is on its
    # line, worth more than the concave curve's last 70. Only the lowest breakpoint reaches the
    # budget, so the root lies between the first two; the concave curve takes the rest.
    spend = allocate_negexp_blend(
        np.array([[300.0, 800.0]]),
        np.array([[0.1, 0.007]]),
        np.array([[0.0, 1.0]]),
        180.0,
        np.zeros(2),
        np.array([200.0, 70.0]),
    )
    np.testing.assert_allclose(spend, [[110.0, 70.0]], rtol=1e-12)
