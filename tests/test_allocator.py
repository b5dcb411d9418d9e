"""The exact KKT allocator: optimality conditions, agreement with SLSQP, invariants."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from engine.allocator import (
    allocate_budget,
    fill_stretches_in_turn,
    inside_stretches,
    solve_budget,
    solve_monotone_multiplier,
    spend_between,
)
from engine.draws import DrawMeanCurves
from engine.errors import EngineError
from engine.response import HillCurves, NegExpCurves


def random_negexp(rng: np.random.Generator, size: int) -> NegExpCurves:
    return NegExpCurves(rng.uniform(50, 1000, size), rng.uniform(1e-4, 1e-2, size))


def assert_kkt(curves, spend, multiplier, lower, upper, budget, weights=None):
    weights = np.ones(curves.size) if weights is None else weights
    marginal = weights * curves.marginal(spend)
    scale = max(abs(multiplier), 1e-12)
    at_lower = spend <= lower + 1e-7
    at_upper = spend >= upper - 1e-7
    interior = ~at_lower & ~at_upper
    assert spend.sum() == pytest.approx(budget, rel=1e-10, abs=1e-8)
    assert np.all(spend >= lower - 1e-9) and np.all(spend <= upper + 1e-9)
    np.testing.assert_allclose(marginal[interior], multiplier, rtol=1e-6)
    assert np.all(marginal[at_lower & ~at_upper] <= multiplier + 1e-6 * scale)
    assert np.all(marginal[at_upper & ~at_lower] >= multiplier - 1e-6 * scale)


def slsqp_allocation(curves, budget, lower, upper):
    start = np.clip(np.full(curves.size, budget / curves.size), lower, upper)
    result = minimize(
        lambda x: -curves.response(x).sum(),
        start,
        jac=lambda x: -curves.marginal(x),
        bounds=list(zip(lower, upper, strict=True)),
        constraints=[
            {"type": "eq", "fun": lambda x: x.sum() - budget, "jac": lambda x: np.ones_like(x)}
        ],
        method="SLSQP",
        options={"maxiter": 500, "ftol": 1e-12},
    )
    return result.x


def test_negexp_inverse_marginal_inverts_the_marginal():
    curves = NegExpCurves(np.array([100.0, 500.0, 20.0]), np.array([0.01, 0.002, 0.05]))
    spend = np.array([0.0, 350.0, 12.5])
    np.testing.assert_allclose(curves.inverse_marginal(curves.marginal(spend)), spend, atol=1e-9)
    above_start = curves.marginal(np.zeros(3)) * 1.5
    np.testing.assert_array_equal(curves.inverse_marginal(above_start), 0.0)
    assert np.all(np.isinf(curves.inverse_marginal(0.0)))


def test_kkt_conditions_hold_with_bounds():
    rng = np.random.default_rng(1)
    curves = random_negexp(rng, 40)
    lower = rng.uniform(0, 50, 40)
    upper = lower + rng.uniform(20, 600, 40)
    budget = 8000.0
    solution = solve_budget(curves, budget, lower, upper)
    assert_kkt(curves, solution.spend, solution.multiplier, lower, upper, budget)
    hits = (solution.spend <= lower + 1e-7) | (solution.spend >= upper - 1e-7)
    assert hits.any() and (~hits).any(), "the problem should exercise bounds and interior"


def test_equal_curves_share_the_budget_equally():
    curves = NegExpCurves(np.full(4, 300.0), np.full(4, 0.003))
    np.testing.assert_allclose(allocate_budget(curves, 1000.0), 250.0, rtol=1e-9)


@pytest.mark.parametrize("size", [2, 5, 12])
def test_matches_or_beats_slsqp_on_small_problems(size):
    rng = np.random.default_rng(size)
    curves = random_negexp(rng, size)
    lower = rng.uniform(0, 30, size)
    upper = lower + rng.uniform(100, 900, size)
    budget = 0.5 * (lower.sum() + upper.sum())
    exact = allocate_budget(curves, budget, lower, upper)
    reference = slsqp_allocation(curves, budget, lower, upper)
    exact_value = curves.response(exact).sum()
    reference_value = curves.response(reference).sum()
    assert exact_value >= reference_value - 1e-7 * abs(reference_value)
    np.testing.assert_allclose(exact, reference, atol=1e-2 * budget / size)


def test_weighted_objective_moves_spend_to_valuable_campaigns():
    curves = NegExpCurves(np.full(2, 400.0), np.full(2, 0.004))
    plain = solve_budget(curves, 600.0)
    weighted = solve_budget(curves, 600.0, weights=np.array([1.0, 3.0]))
    assert plain.spend[0] == pytest.approx(300.0)
    assert weighted.spend[1] > weighted.spend[0]
    assert_kkt(curves, weighted.spend, weighted.multiplier, 0, np.inf, 600.0, np.array([1.0, 3.0]))


def test_budget_outside_the_bounds_is_an_engine_error():
    curves = NegExpCurves(np.full(3, 100.0), np.full(3, 0.01))
    with pytest.raises(EngineError, match="minimum spends"):
        allocate_budget(curves, 10.0, lower=np.full(3, 5.0))
    with pytest.raises(EngineError, match="maximum spends"):
        allocate_budget(curves, 100.0, upper=np.full(3, 20.0))
    with pytest.raises(EngineError, match="budget"):
        allocate_budget(curves, float("nan"))
    with pytest.raises(EngineError, match=r"index 1 \(counting from 0\): lower bound 6 exceeds"):
        allocate_budget(curves, 10.0, lower=np.array([0, 6.0, 0]), upper=np.array([9, 5.0, 9]))


def test_flat_curves_still_take_a_fixed_budget():
    curves = NegExpCurves(np.array([0.0, 0.0]), np.array([1.0, 2.0]))
    spend = allocate_budget(curves, 10.0, upper=np.array([4.0, np.inf]))
    assert spend.sum() == pytest.approx(10.0) and spend[0] <= 4.0


def test_zero_budget_spends_nothing():
    curves = NegExpCurves(np.full(3, 100.0), np.full(3, 0.01))
    np.testing.assert_array_equal(allocate_budget(curves, 0.0), 0.0)


problems = st.integers(min_value=1, max_value=30).flatmap(
    lambda size: st.tuples(
        st.lists(st.floats(1.0, 1e4), min_size=size, max_size=size),
        st.lists(st.floats(1e-5, 1e-1), min_size=size, max_size=size),
        st.lists(st.floats(0.0, 100.0), min_size=size, max_size=size),
        st.lists(st.floats(0.0, 5000.0), min_size=size, max_size=size),
        st.floats(0.0, 1.0),
    )
)


@settings(max_examples=60, deadline=None)
@given(problems)
@example(  # one campaign takes all the budget left above the others' minimums
    ([1.0] * 3, [0.0625] * 3, [62.0, 1.0000000000010019, 2.561435898130057], [0.0, 2.0, 2.0], 0.25)
)
def test_bounds_respected_and_budget_met(problem):
    alpha, mu, lower, width, position = (np.asarray(part, dtype=float) for part in problem)
    curves = NegExpCurves(alpha, mu)
    upper = lower + width
    budget = float(lower.sum() + position * width.sum())
    solution = solve_budget(curves, budget, lower, upper)
    assert np.all(solution.spend >= lower) and np.all(solution.spend <= upper)
    assert abs(solution.spend.sum() - budget) <= 1e-12 * max(budget, 1.0)
    assert_kkt(curves, solution.spend, solution.multiplier, lower, upper, budget)


def test_bisection_moves_to_the_top_of_a_total_flat_at_the_target_within_rounding():
    # The total sits 1e-13 (relative) short of the target for multipliers 1 to 2: that is
    # rounding, so the bracket ends at the top of the flat, where the total drops to 0.
    target = 1e6

    def total_at(lams):
        return np.where(lams < 1.0, target * (2.0 - lams), np.where(lams <= 2.0, 1e6 - 1e-7, 0.0))

    low, high = solve_monotone_multiplier(total_at, target, 0.5, 4.0)
    assert low == pytest.approx(2.0, rel=1e-12) and high == pytest.approx(2.0, rel=1e-12)


def test_bisection_brackets_a_crossing_among_tiny_multipliers():
    # Curves valued in tiny units have tiny multipliers: from a bracket [0, 1e-20] the
    # crossing at 2.5e-21 is found to the solver's relative tolerance.
    low, high = solve_monotone_multiplier(
        lambda lams: np.maximum(1.0 - lams / 5e-21, 0.0), 0.5, 0.0, 1e-20
    )
    assert low / 2.5e-21 == pytest.approx(1.0, rel=1e-11)
    assert high / 2.5e-21 == pytest.approx(1.0, rel=1e-11)


def test_spend_between_gives_the_rounding_hair_only_to_campaigns_with_room():
    low_lam, high_lam = np.array([3.0, 3.0]), np.array([1.0, 1.0])
    # without upper bounds the spend stays within the low multiplier's point
    np.testing.assert_array_equal(spend_between(low_lam, high_lam, 7.0), [3.0, 3.0])
    np.testing.assert_array_equal(
        spend_between(low_lam, high_lam, 7.0, np.array([10.0, 3.5])), [4.0, 3.0]
    )


def test_a_campaign_worth_nothing_is_allowed_and_gets_only_its_minimum():
    curves = NegExpCurves(np.array([100.0, 100.0]), np.array([0.01, 0.01]))
    solution = solve_budget(curves, 100.0, lower=np.array([0.0, 5.0]), weights=np.array([1.0, 0.0]))
    np.testing.assert_allclose(solution.spend, [95.0, 5.0])


def test_the_envelope_funds_the_stretch_at_the_multiplier_not_a_flatter_one_first():
    # Budget short of the strong S-curve's tangent point: the envelope's optimum is all of it
    # up the strong curve's line (its slope is the multiplier); the weak curve's line is
    # flatter and gets nothing, though it comes first.
    hill = HillCurves(np.array([100.0, 1000.0]), np.full(2, 1000.0), np.full(2, 3.0))
    solution = solve_budget(hill, 500.0, settle=False)
    np.testing.assert_allclose(solution.spend, [0.0, 500.0], atol=1e-9)
    assert solution.multiplier == pytest.approx(hill.tangent_slope[1], rel=1e-9)


def test_settling_s_curves_leaves_at_most_one_partway_and_never_loses_to_the_envelope():
    # Three equal S-curves, budget short of two tangent points: the envelope's answer funds
    # them in turn; settling keeps that when neither end of the partway stretch is better.
    hill = HillCurves(np.full(3, 1000.0), np.full(3, 1000.0), np.full(3, 3.0))
    envelope = solve_budget(hill, 2000.0, settle=False).spend
    settled = solve_budget(hill, 2000.0).spend
    assert settled.sum() == pytest.approx(2000.0)
    assert inside_stretches(hill, settled).size <= 1
    assert hill.true_response(settled).sum() >= hill.true_response(envelope).sum() - 1e-9
    # Two minimums partway up their lines: both start inside a stretch.
    lower = np.array([300.0, 300.0, 0.0])
    envelope = solve_budget(hill, 1000.0, lower=lower, settle=False).spend
    assert inside_stretches(hill, envelope).size == 2
    spend = solve_budget(hill, 1000.0, lower=lower).spend
    assert spend.sum() == pytest.approx(1000.0) and np.all(spend >= lower - 1e-9)
    assert hill.true_response(spend).sum() >= hill.true_response(envelope).sum() - 1e-9


def test_settling_raises_a_partway_s_curve_to_its_stretch_end_when_that_is_better():
    # The envelope leaves the S-curve (n = 3) partway up its line; settling tries both ends
    # of that stretch and keeps its top, the tangent point: within 0.1 % of the best split.
    hill = HillCurves(np.array([960.0, 315.0]), np.array([954.0, 381.0]), np.array([2.0, 3.0]))
    spend = solve_budget(hill, 1500.0).spend
    assert spend[1] == pytest.approx(hill.tangent_spend[1], rel=1e-6)
    split = np.linspace(0.0, 1500.0, 15001)
    brute = hill.true_response(np.stack([split, 1500.0 - split], axis=1)).sum(axis=1).max()
    assert hill.true_response(spend).sum() >= 0.999 * brute


def test_bisection_from_a_subnormal_low_end_finds_the_crossing():
    # From 5e-324 to 1e10 the ratio of the ends overflows: the steps are taken in logs.
    low, high = solve_monotone_multiplier(lambda lams: 1.0 / lams, 1e-3, 5e-324, 1e10)
    assert low / 1e3 == pytest.approx(1.0, rel=1e-11) and high / 1e3 == pytest.approx(
        1.0, rel=1e-11
    )


def test_bounds_off_the_budget_by_the_rounding_slack_are_accepted():
    curves = NegExpCurves(np.array([100.0, 50.0]), np.array([0.01, 0.02]))
    budget = 1000.0
    slack = 1e-9 * budget
    over = np.array([budget + slack, 0.0])
    np.testing.assert_array_equal(solve_budget(curves, budget, lower=over).spend, over)
    under = np.array([budget - slack, 0.0])
    spend = solve_budget(curves, budget, upper=under).spend
    assert spend.sum() == pytest.approx(budget - slack, rel=1e-15)
    with pytest.raises(EngineError, match="minimum spends"):
        solve_budget(curves, budget, lower=np.array([budget + 2 * slack, 0.0]))
    # below a budget of 1 the slack stays 1e-9: a minimum 1.5e-9 over a budget of 1 is refused
    with pytest.raises(EngineError, match="minimum spends"):
        solve_budget(curves, 1.0, lower=np.array([1.0 + 1.5e-9, 0.0]))


def test_bisection_from_a_negative_low_end_finds_the_crossing():
    low, high = solve_monotone_multiplier(lambda lams: 1.0 - lams, 0.5, -1.0, 1.0)
    assert low == pytest.approx(0.5, abs=1e-12) and high == pytest.approx(0.5, abs=1e-12)


def test_two_campaigns_partway_up_their_stretches_are_funded_in_turn():
    # Two equal S-curves (tangent at 1259.9) both partway up their lines share one slope:
    # the first takes their money up to its stretch's end, the second keeps its minimum; the
    # envelope's response is unchanged and only one campaign is left partway.
    hill = HillCurves(np.full(3, 1000.0), np.full(3, 1000.0), np.full(3, 3.0))
    spend = np.array([300.0, 300.0, 0.0])
    assert inside_stretches(hill, spend).size == 2
    for lower, expected in (
        (np.zeros(3), [600.0, 0.0, 0.0]),
        ([0.0, 100.0, 0.0], [500.0, 100.0, 0.0]),
    ):
        turned = fill_stretches_in_turn(hill, spend, np.asarray(lower), np.full(3, 1e4))
        np.testing.assert_allclose(turned, expected, rtol=1e-12)
        assert hill.response(turned).sum() == pytest.approx(hill.response(spend).sum(), rel=1e-12)
    # Up to the stretch's end (or the upper bound), then the next campaign.
    turned = fill_stretches_in_turn(
        hill, np.array([900.0, 900.0, 0.0]), np.zeros(3), np.full(3, 1e4)
    )
    np.testing.assert_allclose(turned, [hill.tangent_spend[0], 1800.0 - hill.tangent_spend[0], 0.0])
    one = np.array([300.0, 0.0, 0.0])
    np.testing.assert_array_equal(
        fill_stretches_in_turn(hill, one, np.zeros(3), np.full(3, 1e4)), one
    )


def test_a_bound_far_up_a_curve_does_not_lift_the_bracket_off_a_multiplier_below_one():
    # Campaign 0's marginal at its upper bound (740) is subnormal, too coarse for the path to
    # reach that bound there: the bracket starts at 0. The optimum's multiplier is about 0.5.
    curves = NegExpCurves(np.array([1.0, 85500.0]), np.array([1.0, 0.01]))
    lower, upper = np.zeros(2), np.array([740.0, 1e6])
    solution = solve_budget(curves, 745.0, upper=upper)
    assert solution.multiplier == pytest.approx(0.5006, rel=1e-3)
    assert_kkt(curves, solution.spend, solution.multiplier, lower, upper, 745.0)


def test_a_budget_equal_to_the_minimums_answers_the_largest_marginal_there():
    # Nothing is left to place: the spend is the minimums and the multiplier the largest
    # weighted marginal at them, exactly (not a bisection's bracket a hair above it).
    curves = NegExpCurves(np.array([100.0, 50.0]), np.array([0.01, 0.02]))
    lower = np.array([10.0, 20.0])
    solution = solve_budget(curves, 30.0, lower=lower)
    np.testing.assert_array_equal(solution.spend, lower)
    assert solution.multiplier == pytest.approx(float(curves.marginal(lower).max()), rel=1e-13)


def test_a_flat_mean_marginal_at_the_multiplier_gets_the_money_the_path_missed():
    # Draws of an S-curve whose tangent points all lie beyond the budget average to one
    # straight stretch, its marginal level with the multiplier within rounding: the money
    # the path misses belongs on that stretch, not on the first campaign with room.
    rng = np.random.default_rng(0)
    draws = 50
    params = {
        "vmax": np.column_stack([np.full(draws, 100.0), rng.uniform(5e4, 6e4, draws)]),
        "k": np.column_stack([np.full(draws, 10.0), rng.uniform(400.0, 500.0, draws)]),
        "n": np.column_stack([np.ones(draws), np.full(draws, 2.0)]),
    }
    spend = solve_budget(DrawMeanCurves("hill", params), 100.0, settle=False).spend
    np.testing.assert_allclose(spend, [0.0, 100.0], atol=1e-6)


def test_an_upper_bound_that_is_not_a_number_is_an_engine_error():
    curves = NegExpCurves(np.array([100.0, 50.0]), np.array([0.01, 0.02]))
    with pytest.raises(EngineError, match="spend bounds must be numbers"):
        solve_budget(curves, 100.0, upper=np.array([np.nan, 200.0]))
