"""The batched solver for S-curve draws (`allocate_negexp_blend`) at its edges: units of money
from subnormal to huge, budgets at a stretch's jump and a hair past it, curves at the concave
limit, answered exactly as the closed-form negexp solver or the KKT conditions say."""

import itertools

import numpy as np
import pytest

from engine.negexp_allocator import allocate_negexp, allocate_negexp_blend, blend_tangent


def _problems(seed: int, count: int):
    """Single draws of two to five curves, concave and S-shaped, with minimums and caps."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        size = int(rng.integers(2, 6))
        alpha = rng.uniform(1, 1000, (1, size))
        mu = 10 ** rng.uniform(-3, 0, (1, size))
        blend = rng.choice([0.0, 0.2, 0.5, 1.0], (1, size))
        lower = np.where(rng.random(size) < 0.4, rng.uniform(0, 100, size), 0.0)
        upper = lower + rng.uniform(20, 400, size)
        budget = float(lower.sum() + rng.uniform(0.05, 0.95) * (upper - lower).sum())
        yield alpha, mu, blend, budget, lower, upper


@pytest.mark.parametrize("unit", [1e-200, 1e-50, 1e-9, 1e9, 1e200])
def test_blend_batch_answers_alike_in_any_unit_of_money(unit):
    # Counting money in another unit scales every spend, bound and budget by 1 / unit and
    # every mu by unit: the answer is the same allocation in the new unit. At 1e-200 the
    # marginals far up the curves are below the smallest float (their logs are not).
    for alpha, mu, blend, budget, lower, upper in _problems(0, 20):
        expected = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)
        spend = allocate_negexp_blend(
            alpha, mu * unit, blend, budget / unit, lower / unit, upper / unit
        )
        np.testing.assert_allclose(spend * unit, expected, rtol=1e-9, atol=1e-9 * budget)


def test_blend_batch_splits_a_budget_far_up_curves_whose_marginals_underflow():
    # Marginals 100 * exp(-x1) and 100 * exp(-2 * x2) meet at x1 = 2 * x2: 400 and 200 of
    # 600. Counted in units of 1e-200 the common marginal, about 1e-372, is below the
    # smallest float; the split is the same.
    for unit in (1.0, 1e-200):
        spend = allocate_negexp_blend(
            np.array([[100.0, 50.0]]),
            np.array([[1.0, 2.0]]) * unit,
            0.0,
            600.0 / unit,
            np.zeros(2),
            np.full(2, 1000.0 / unit),
        )
        np.testing.assert_allclose(spend[0] * unit, [400.0, 200.0], rtol=1e-12)


def test_concave_draws_answer_as_the_closed_form_negexp_solver():
    # At blend 0 every curve is the plain negexp, which allocate_negexp solves in closed form:
    # three draws at once, budgets from the minimums to the caps.
    rng = np.random.default_rng(1)
    for _ in range(40):
        size = int(rng.integers(1, 6))
        alpha = rng.uniform(1, 1000, (3, size)) * (rng.random((3, size)) > 0.1)
        mu = 10 ** rng.uniform(-3, 0, (3, size))
        lower = np.where(rng.random(size) < 0.4, rng.uniform(0, 100, size), 0.0)
        upper = lower + rng.uniform(0, 400, size)
        for share in (0.0, 0.3, 0.97, 0.999999, 1.0):
            budget = float(lower.sum() + share * (upper - lower).sum())
            expected = allocate_negexp(alpha, mu, budget, lower, upper)
            spend = allocate_negexp_blend(alpha, mu, 0.0, budget, lower, upper)
            np.testing.assert_allclose(spend, expected, rtol=1e-11, atol=1e-11 * budget)


def _s_curve_then_negexp() -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """An S-curve (blend 1) and a negexp of the same alpha * mu: at the S-curve's stretch
    multiplier the negexp spends `beside`, and the S-curve jumps from 0 to `stretch`."""
    alpha, mu = np.array([[100.0, 100.0]]), np.array([[0.01, 0.01]])
    blend = np.array([[1.0, 0.0]])
    touch = np.exp(-blend_tangent(1.0))
    beside = -np.log(touch * (2.0 - 2.0 * touch)) / 0.01
    return alpha, mu, blend, beside, blend_tangent(1.0) / 0.01


def test_inside_a_stretch_s_jump_only_the_s_curve_takes_the_money():
    # Budgets across the jump, up to a hair (1e-13) below its top: the negexp stays exactly
    # where the stretch's multiplier puts it, the S-curve takes the rest up its line.
    alpha, mu, blend, beside, stretch = _s_curve_then_negexp()
    bounds = np.zeros(2), np.full(2, 1000.0)
    budgets = (beside + 1.0, beside + 0.5 * stretch, (beside + stretch) * (1.0 - 1e-13))
    first = allocate_negexp_blend(alpha, mu, blend, budgets[0], *bounds)[0]
    assert first[1] == pytest.approx(beside, rel=1e-12)
    for budget in budgets:
        spend = allocate_negexp_blend(alpha, mu, blend, budget, *bounds)[0]
        assert spend[1] == first[1]
        assert spend[0] == pytest.approx(budget - beside, rel=1e-12)


def test_curves_at_the_concave_limit_answer_their_bounds_and_leave_the_rest_to_others():
    # At blend 1/3 the marginal is flat at zero spend: the multiplier at the curve's start
    # sits where its closed-form root is 0 up to rounding (and, unguarded, a hair below).
    # Fixed by equal bounds, or capped at 0 beside a flat curve, the answer is exact.
    grid = itertools.product((1.0, 2.0, 10.0, 100.0), (0.01, 0.05, 0.5), (1.0, 8.0))
    for alpha, mu, spend in grid:
        curve, bound = (np.array([[alpha]]), np.array([[mu]]), 1 / 3), np.array([spend])
        fixed = allocate_negexp_blend(*curve, spend, bound, bound)
        assert fixed.tolist() == [[spend]]
        beside = allocate_negexp_blend(
            np.array([[alpha, 0.0]]),
            np.array([[mu, 0.2]]),
            np.array([[1 / 3, 0.2]]),
            spend,
            np.zeros(2),
            np.array([0.0, 2.0 * spend]),
        )
        assert beside.tolist() == [[0.0, spend]]


def test_every_draw_spends_its_budget_to_rounding():
    # Newton's steps leave the budget a hair off (up to 1e-12 of it); the last step spreads
    # that hair over the free campaigns, so each draw spends its budget to a few bits.
    rng = np.random.default_rng(2)
    for _ in range(300):
        draws, size = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        alpha = rng.uniform(1, 1000, (draws, size))
        mu = 10 ** rng.uniform(-3, 0, (draws, size))
        blend = rng.choice([0.0, 0.2, 1 / 3, 0.5, 1.0], (draws, size))
        lower = np.where(rng.random(size) < 0.4, rng.uniform(0, 100, size), 0.0)
        upper = lower + rng.uniform(1, 500, size)
        budget = float(lower.sum() + 10 ** rng.uniform(-3, 0) * (upper - lower).sum())
        spend = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)
        np.testing.assert_allclose(spend.sum(axis=1), budget, rtol=4e-15)


def test_a_curve_at_the_concave_limit_nearly_straight_over_its_bounds_keeps_to_the_budget():
    # With mu * x about 1e-8 a blend-1/3 curve's marginal is flat to rounding from 0 to its
    # cap, so its spend jumps from one to the other at a single multiplier, inside the
    # bracket: the budget must still be spent there, not the cap (1000). Its marginal is
    # above the other straight curve's, and a negexp meets it at a spend of 100: of 700,
    # 100 and 600. In any order: the money is not handed out in turn.
    for exponent, alpha in itertools.product(range(11, 17), (50.0, 51.9, 60.0)):
        mu = 10.0**-exponent
        meets_at_100 = alpha * mu * 2 / 3 * np.exp(1.0) / 0.01
        for order in ([0, 1, 2], [0, 2, 1], [1, 2, 0], [2, 1, 0]):
            spend = allocate_negexp_blend(
                np.array([[meets_at_100, alpha, 200.0]])[:, order],
                np.array([[0.01, mu, mu / 5]])[:, order],
                np.array([[0.0, 1 / 3, 0.2]])[:, order],
                700.0,
                np.zeros(3),
                np.full(3, 1000.0),
            )
            expected = np.array([[100.0, 600.0, 0.0]])[:, order]
            np.testing.assert_allclose(spend, expected, rtol=1e-9, atol=1e-9)


def _assert_envelope_kkt(alpha, mu, blend, budget, lower, upper, spend, tolerance):
    """Each draw spends the budget within its bounds, and every campaign that could take
    money (more than `tolerance` from its cap) has a marginal on the envelope no higher than
    every one that could give."""
    for d in range(alpha.shape[0]):
        assert spend[d].sum() == pytest.approx(budget, rel=1e-12)
        assert np.all(spend[d] >= lower) and np.all(spend[d] <= upper)
        touch = np.exp(-np.array([blend_tangent(float(value)) for value in blend[d]]))
        z = np.minimum(np.exp(-mu[d] * spend[d]), touch)
        marginal = alpha[d] * mu[d] * z * (1 + blend[d] - 2 * blend[d] * z)
        can_give, can_take = spend[d] > lower + tolerance, spend[d] < upper - tolerance
        if can_give.any() and can_take.any():
            assert marginal[can_take].max() <= marginal[can_give].min() * (1 + 1e-9)


def test_budgets_a_hair_inside_the_caps_or_the_floors_meet_the_envelope_kkt_conditions():
    # There the budget is met between the two outermost breakpoints, where the curves meet
    # their bounds, whatever the curves' blends.
    rng = np.random.default_rng(3)
    for _ in range(150):
        size = int(rng.integers(2, 5))
        alpha = rng.uniform(1, 1000, (1, size))
        mu = 10 ** rng.uniform(-3, -1, (1, size))
        blend = rng.choice([0.2, 0.5, 0.7, 1.0], (1, size))
        lower = np.where(rng.random(size) < 0.5, rng.uniform(0, 300, size), 0.0)
        upper = lower + rng.uniform(1, 400, size)
        hair = 10 ** rng.uniform(-6, -2) * float((upper - lower).sum())
        for budget in (float(upper.sum()) - hair, float(lower.sum()) + hair):
            spend = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)
            _assert_envelope_kkt(alpha, mu, blend, budget, lower, upper, spend, 1e-9 * hair)


def test_draws_with_curves_at_the_concave_limit_or_nearly_square_meet_the_kkt_conditions():
    # At blend 1/3 the spend's slope in the multiplier is infinite at zero spend, and near
    # blend 1 the tangent point is far up the curve: the safeguarded steps still end at the
    # root, in three draws at once.
    rng = np.random.default_rng(4)
    for _ in range(150):
        size = int(rng.integers(2, 6))
        alpha = rng.uniform(0.1, 3000, (3, size))
        mu = 10 ** rng.uniform(-3, -0.5, (3, size))
        blend = rng.choice([0.0, 0.2, 1 / 3, 0.5, 0.7, 0.9984, 1.0], (3, size))
        lower = np.where(rng.random(size) < 0.3, rng.uniform(0, 300, size), 0.0)
        upper = lower + rng.uniform(10, 600, size)
        budget = float(lower.sum() + rng.uniform(0.05, 0.95) * (upper - lower).sum())
        spend = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)
        _assert_envelope_kkt(alpha, mu, blend, budget, lower, upper, spend, 1e-6 * budget)


def test_a_flat_curve_takes_only_what_the_other_curves_caps_leave():
    # A curve of amplitude 0 has no marginal: the others fill to their caps first (25 and
    # 275, far up their curves), whatever their blends, and the flat one takes the rest.
    for blend in (0.2, 0.5, 1.0):
        spend = allocate_negexp_blend(
            np.array([[7500.0, 0.0, 320.0]]),
            np.array([[0.01, 0.01, 0.0015]]),
            np.array([[blend, 0.0, blend]]),
            990.0,
            np.array([0.0, 300.0, 0.0]),
            np.array([25.0, 800.0, 275.0]),
        )
        np.testing.assert_allclose(spend, [[25.0, 690.0, 275.0]], rtol=1e-12)
