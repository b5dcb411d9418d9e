"""Edges of the exact KKT allocator that its main tests leave open: multipliers far from the
bracket's ends, bounds and budgets at their limits, each through the public functions."""

import numpy as np
import pytest

from engine.allocator import (
    RELATIVE_TOLERANCE,
    fill_stretches_in_turn,
    inside_stretches,
    kkt_path,
    section_count,
    solve_budget,
    solve_monotone_multiplier,
    spend_between,
)
from engine.errors import EngineError
from engine.negexp_allocator import allocate_negexp_blend, blend_tangent
from engine.response import HillCurves, NegExpCurves, ResponseCurves


def test_a_multiplier_hundreds_of_orders_below_the_top_is_resolved():
    # Both marginals at the upper bounds (745) are subnormal, so the bracket starts at 0; the
    # optimum (500 each) sits at a multiplier of 1000 * exp(-500), about 7e-215.
    curves = NegExpCurves(np.array([1000.0, 1000.0]), np.array([1.0, 1.0]))
    solution = solve_budget(curves, 1000.0, upper=np.array([745.0, 745.0]))
    np.testing.assert_allclose(solution.spend, [500.0, 500.0], rtol=1e-12)
    assert solution.multiplier / (1000.0 * np.exp(-500.0)) == pytest.approx(1.0, rel=1e-9)


def test_a_bisection_from_zero_searches_a_positive_crossing_in_logs():
    # From [0, 1] the crossing at 1e-200 is found to the relative tolerance, not to 1e-13 of
    # the bracket's top.
    low, high = solve_monotone_multiplier(
        lambda lams: 1e-200 / np.maximum(lams, 1e-300), 1.0, 0.0, 1.0
    )
    assert low / 1e-200 == pytest.approx(1.0, rel=1e-11)
    assert high / 1e-200 == pytest.approx(1.0, rel=1e-11)


def test_a_crossing_at_zero_is_bracketed_by_zero_and_the_smallest_positive_float():
    # Flat curves: every positive multiplier leaves them at their minimums (total 0 here), the
    # multiplier 0 fills them; the crossing is 0 itself, from a low end of 0 or below.
    for low in (0.0, -1.0):
        bracket = solve_monotone_multiplier(
            lambda lams: np.where(lams > 0, 0.0, 2.0), 1.0, low, 3.0
        )
        assert bracket == (0.0, 5e-324)


def test_a_campaign_whose_path_dips_by_rounding_keeps_what_the_higher_multiplier_gave_it():
    # The path is non-increasing in the multiplier only up to rounding: where a campaign's
    # spend at the low multiplier is below its spend at the high one, it has no room to fill
    # and must not give back; the others fill in turn.
    spend = spend_between(np.array([1.0, 5.0]), np.array([2.0, 3.0]), 6.0)
    np.testing.assert_array_equal(spend, [2.0, 4.0])
    # Over its upper bound already: no room there either, the hair goes to the next campaign.
    spend = spend_between(np.array([2.0, 2.0]), np.array([2.0, 2.0]), 5.0, np.array([1.5, 4.0]))
    np.testing.assert_array_equal(spend, [2.0, 3.0])


def test_a_total_short_of_the_target_by_exactly_the_slack_still_reaches_it():
    # The slack is 1e-12 of the target: a total that far below it is rounding, so the
    # bracket moves to the top of that flat stretch (multiplier 3), where the total drops.
    target = 1e6
    level = target - 1e-12 * target

    def total_at(lams):
        return np.where(lams <= 3.0, level, 0.0)

    low, high = solve_monotone_multiplier(total_at, target, 1.0, 8.0)
    assert low == pytest.approx(3.0, rel=1e-12) and high == pytest.approx(3.0, rel=1e-12)


def test_a_bracket_already_within_the_tolerance_is_answered_without_evaluating_the_total():
    calls = []

    def total_at(lams):
        calls.append(lams)
        return 1.0 - lams

    low = 0.5
    high = low * (1.0 + RELATIVE_TOLERANCE)
    assert solve_monotone_multiplier(total_at, 0.5, low, high) == (low, high)
    assert solve_monotone_multiplier(total_at, 0.5, 0.0, 0.0) == (0.0, 0.0)
    assert calls == []


def test_few_campaigns_try_31_multipliers_a_round_and_many_campaigns_fewer():
    # 31 multipliers split a bracket into 32 parts, five halvings a round; past 132 campaigns
    # the round's path evaluation (multipliers x campaigns) is held near 4096 numbers.
    sizes = (0, 1, 2, 132, 133, 200, 241, 4096, 10**5)
    assert [section_count(size) for size in sizes] == [31, 31, 31, 31, 30, 20, 16, 1, 1]


def test_the_budget_s_number_type_does_not_change_the_answer():
    # A numpy float32 budget (read from a float32 array) is spent as the float it holds.
    curves = NegExpCurves(np.array([100.0, 50.0]), np.array([0.01, 0.02]))
    upper = np.array([600.0, 600.0])
    for budget in (np.float32(1000.1), np.float32(700.3), np.float16(700.5)):
        solution = solve_budget(curves, budget, upper=upper)
        same = solve_budget(curves, float(budget), upper=upper)
        np.testing.assert_array_equal(solution.spend, same.spend)
        assert solution.multiplier == same.multiplier


def test_blend_batch_fills_an_s_curve_to_an_upper_bound_past_its_tangent_point():
    # The S-curve's cap (1381) lies past its tangent point (629), where its marginal (0.064)
    # still beats the concave curve's at the rest of the budget (0.033): it takes the cap.
    # Its breakpoint there is read from its own marginal at that bound.
    spend = allocate_negexp_blend(
        np.array([[637.0, 271.0]]),
        np.array([[0.003, 0.002]]),
        np.array([[0.0, 1.0]]),
        2739.0,
        np.zeros(2),
        np.array([4721.0, 1381.0]),
    )
    np.testing.assert_allclose(spend, [[1358.0, 1381.0]], rtol=1e-12)


def test_settling_may_give_an_s_curve_all_that_the_others_minimums_leave():
    # The S-curve (n = 2, tangent at 1152) is left partway up its line; the top of its stretch
    # is beyond the budget, so that end is what the others' minimums leave it (385 - 40):
    # all of it there is better than spreading a hair to the third campaign.
    hill = HillCurves(
        np.array([1152.0, 942.0, 205.0]),
        np.array([548.0, 1378.0, 938.0]),
        np.array([2.0, 3.0, 0.8]),
    )
    lower = np.array([35.0, 40.0, 0.0])
    spend = solve_budget(hill, 385.0, lower=lower).spend
    np.testing.assert_allclose(spend, [345.0, 40.0, 0.0], rtol=1e-12, atol=1e-9)


def test_settling_keeps_an_improvement_smaller_than_one_unit_of_value():
    # Raising the partway S-curve to its tangent point (1237) gains 0.44 of response: small in
    # the curves' units, but a gain all the same, and kept.
    hill = HillCurves(np.array([447.0, 1772.0]), np.array([1237.0, 1035.0]), np.array([2.0, 0.8]))
    spend = solve_budget(hill, 2879.0, lower=np.array([0.0, 539.0])).spend
    np.testing.assert_allclose(spend, [1237.0, 1642.0], rtol=1e-8)
    assert hill.true_response(spend).sum() == pytest.approx(1271.2274, rel=1e-7)


def test_a_budget_just_under_the_caps_far_up_the_curves_is_shared_by_the_marginals():
    # At the caps (745) the marginals are subnormal, too coarse for the path to reach the
    # caps there: that bracket bottom spends under the budget, so the bracket starts at 0.
    # The multiplier (about 4e-321) holds a few significant digits, the spends about 1e-3.
    curves = NegExpCurves(np.array([1000.0, 1000.0]), np.array([1.0, 1.0]))
    spend = solve_budget(curves, 1489.5, upper=np.array([745.0, 745.0])).spend
    assert spend.sum() == pytest.approx(1489.5, rel=1e-12)
    np.testing.assert_allclose(spend, [744.75, 744.75], atol=2e-3)


def blend_problems(seed: int, count: int):
    """Single-draw batches of 2 to 4 curves (some flat, some S-shaped) with minimums past
    their tangent points or short of them, and budgets anywhere between the bounds' sums."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        size = int(rng.integers(2, 5))
        alpha = rng.uniform(1, 1000, (1, size)) * (rng.random((1, size)) > 0.15)
        mu = 10 ** rng.uniform(-3, -1, (1, size))
        blend = rng.choice([0.0, 0.5, 1.0], (1, size))
        tangent = np.array([blend_tangent(float(value)) for value in blend[0]]) / mu[0]
        reach = np.maximum(tangent, float(np.mean(1 / mu)))
        lower = np.where(rng.random(size) < 0.4, rng.uniform(0, 2, size) * reach, 0.0)
        upper = lower + rng.uniform(0.2, 3, size) * reach
        budget = float(lower.sum() + rng.uniform(0.05, 0.95) * (upper - lower).sum())
        yield alpha, mu, blend, budget, lower, upper


def test_blend_batch_meets_the_envelope_kkt_conditions_with_minimums_on_either_side():
    for alpha, mu, blend, budget, lower, upper in blend_problems(0, 60):
        spend = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)[0]
        assert spend.sum() == pytest.approx(budget, rel=1e-9)
        assert np.all(spend >= lower - 1e-9 * budget) and np.all(spend <= upper + 1e-9 * budget)
        tangent = np.exp(-np.array([blend_tangent(float(value)) for value in blend[0]]))
        z = np.minimum(np.exp(-mu[0] * spend), tangent)
        marginal = alpha[0] * mu[0] * z * (1 + blend[0] - 2 * blend[0] * z)
        can_give = spend > lower + 1e-6 * budget
        can_take = spend < upper - 1e-6 * budget
        if can_give.any() and can_take.any():
            assert marginal[can_take].max() <= marginal[can_give].min() * (1 + 1e-7) + 1e-12


def test_campaign_values_must_each_be_finite_and_not_negative():
    curves = NegExpCurves(np.array([100.0, 50.0]), np.array([0.01, 0.02]))
    for weights in ([np.nan, 1.0], [-1.0, 1.0], [np.inf, 1.0]):
        with pytest.raises(EngineError, match="campaign values must be finite numbers >= 0"):
            solve_budget(curves, 100.0, weights=np.array(weights))


def test_a_lower_bound_above_its_upper_bound_is_named_by_its_index():
    # The first campaign's bounds are equal (allowed); the second's are crossed.
    curves = NegExpCurves(np.array([100.0, 50.0]), np.array([0.01, 0.02]))
    with pytest.raises(EngineError, match=r"at index 1 .* lower bound 5 exceeds upper bound 3"):
        solve_budget(curves, 6.0, lower=np.array([1.0, 5.0]), upper=np.array([1.0, 3.0]))


def test_a_round_where_only_its_first_multiplier_reaches_the_target_keeps_that_one():
    # Three multipliers a round (2, 4, 8 from [1, 16]); only 2 reaches, so the bracket is
    # [2, 4], and the crossing at 3 is found.
    low, high = solve_monotone_multiplier(
        lambda lams: np.where(lams <= 3.0, 1.0, 0.0), 0.5, 1.0, 16.0, sections=3
    )
    assert low == pytest.approx(3.0, rel=1e-12) and high == pytest.approx(3.0, rel=1e-12)


def test_stretches_funded_in_turn_start_from_the_minimums_and_stop_at_each_stretch_end():
    # Two equal S-curves (tangent at 1259.9) partway up their lines, the first with a minimum
    # of 100: it is funded from 100 up to its stretch's end, not 100 past it.
    hill = HillCurves(np.full(2, 1000.0), np.full(2, 1000.0), np.full(2, 3.0))
    end = float(hill.tangent_spend[0])
    turned = fill_stretches_in_turn(
        hill, np.array([900.0, 900.0]), np.array([100.0, 0.0]), np.full(2, 1e4)
    )
    np.testing.assert_allclose(turned, [end, 1800.0 - end], rtol=1e-8)


def test_a_total_at_the_smallest_positive_multiplier_short_by_exactly_the_slack_reaches():
    # From a low end of 0 the split at the smallest positive float counts a total short of
    # the target by exactly the slack as reaching it, as every later round does.
    target = 1e6
    level = target - 1e-12 * target
    low, high = solve_monotone_multiplier(
        lambda lams: np.where(lams <= 3.0, level, 0.0), target, 0.0, 8.0
    )
    assert low == pytest.approx(3.0, rel=1e-12) and high == pytest.approx(3.0, rel=1e-12)


def test_at_a_multiplier_of_zero_every_campaign_sits_at_its_upper_bound():
    # Even a flat curve (no marginal at all) is filled at 0: the budget must go somewhere.
    curves = NegExpCurves(np.array([0.0, 100.0]), np.array([1.0, 0.01]))
    lower, upper = np.array([1.0, 0.0]), np.array([7.0, 9.0])
    path = kkt_path(curves, lower, upper, np.ones(2))
    np.testing.assert_array_equal(path(0.0), upper)
    np.testing.assert_array_equal(path(np.array([-1.0, 0.0])), [upper, upper])


def test_settling_solves_again_around_the_campaign_it_pinned():
    # The envelope spreads the budget over the first two S-curves; settling pins the partway
    # one at an end of its stretch and then solves around that pin, which leaves the whole
    # budget with the first campaign (2976.19 by the curves, the envelope's answer 2942.66).
    hill = HillCurves(
        np.array([3000.0, 900.0, 300.0]),
        np.array([100.0, 1000.0, 1000.0]),
        np.array([3.0, 3.0, 2.0]),
    )
    spend = solve_budget(hill, 500.0).spend
    np.testing.assert_allclose(spend, [500.0, 0.0, 0.0], rtol=1e-12, atol=1e-9)
    assert hill.true_response(spend).sum() == pytest.approx(2976.190476, rel=1e-9)


def test_settling_skips_a_stretch_end_the_bounds_cannot_meet_the_budget_with():
    # The partway S-curve's stretch ends past the budget: pinned there, the others' floors
    # add up to more than the budget, so that end is not tried and the budget is kept.
    hill = HillCurves(np.array([300.0, 100.0]), np.array([300.0, 100.0]), np.array([5.0, 5.0]))
    spend = solve_budget(hill, 500.0).spend
    assert spend.sum() == pytest.approx(500.0, rel=1e-12)
    np.testing.assert_allclose(spend, [368.0492088897, 131.9507911103], rtol=1e-9)


def test_settling_ends_when_neither_end_of_the_stretch_gains_anything():
    # Both S-curves are far below their tangent points; pinning the partway one at an end
    # gains nothing, and an equal answer is not an improvement, so settling stops there.
    hill = HillCurves(np.array([1000.0, 600.0]), np.array([1000.0, 1000.0]), np.array([5.0, 5.0]))
    spend = solve_budget(hill, 200.0, upper=np.array([np.inf, 300.0])).spend
    np.testing.assert_allclose(spend, [200.0, 0.0], rtol=1e-12, atol=1e-12)


def test_a_spend_a_hair_below_its_tangent_point_is_not_partway_up_a_large_curve():
    # 1e-5 below the tangent point of a curve worth 1e6 the envelope is 6.7e-5 above the
    # curve: rounding beside the envelope's 6.7e5, under the 1e-9 of it that counts.
    hill = HillCurves(np.array([1e6, 1e6]), np.array([1000.0, 1000.0]), np.array([3.0, 3.0]))
    spend = hill.tangent_spend * np.array([1.0 - 1e-5, 0.999])
    assert inside_stretches(hill, spend).tolist() == [1]


class _LineOverZero(ResponseCurves):
    """Envelope x over a curve that is 0 everywhere: the gap at x is x itself."""

    def __init__(self, size: int):
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def response(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return np.ones_like(np.asarray(x, dtype=float))

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        return np.zeros_like(np.asarray(lam, dtype=float))

    def true_response(self, x: np.ndarray) -> np.ndarray:
        return np.zeros_like(np.asarray(x, dtype=float))


def test_a_gap_of_exactly_the_tolerance_is_not_partway_and_one_above_it_is():
    # The tolerance is 1e-9 of the envelope, at least 1e-9: a gap of exactly that is rounding.
    spend = np.array([1e-9, np.nextafter(1e-9, 1.0), 2.0])
    assert inside_stretches(_LineOverZero(3), spend).tolist() == [1, 2]


def test_the_bracket_top_spends_no_more_than_the_budget_over_many_campaigns():
    # The top multiplier is the largest marginal a hair (1e-6 of the budget, shared over the
    # campaigns) above the minimums; with 1500 equal curves a hair per campaign that grew
    # with their count would spend more than the budget at the top itself.
    size = 1500
    curves = NegExpCurves(np.full(size, 10.0), np.full(size, 0.01))
    spend = solve_budget(curves, 1500.0).spend
    np.testing.assert_allclose(spend, np.ones(size), rtol=1e-9)


def test_settling_keeps_the_stretches_funded_in_turn_when_that_is_better():
    # The envelope leaves the first two S-curves partway up lines of one slope (at 200 and
    # 85.29); funding them in turn from their minimums moves the second's 35.29 above its
    # floor to the first, 614.04 by the curves against the envelope answer's 606.09, and no
    # end of a stretch does better, so that answer is the one kept.
    hill = HillCurves(
        np.array([600.0, 900.0, 100.0, 900.0, 100.0]),
        np.array([1000.0, 1000.0, 1000.0, 300.0, 100.0]),
        np.array([2.0, 3.0, 1.5, 0.8, 5.0]),
    )
    lower = np.array([200.0, 50.0, 200.0, 0.0, 0.0])
    spend = solve_budget(hill, 1000.0, lower=lower).spend
    np.testing.assert_allclose(
        spend, [235.28902996, 50.0, 200.0, 374.98220904, 139.728761], rtol=1e-8
    )
    assert hill.true_response(spend).sum() == pytest.approx(614.0406747, rel=1e-8)


def test_blend_batch_reads_one_draw_of_curves_given_as_plain_lists_of_campaigns():
    # One draw may come as (K,) arrays: it is answered as a batch of one, shape (1, K).
    spend = allocate_negexp_blend(
        np.array([10.0, 20.0]), np.array([0.1, 0.1]), 0.5, 30.0, np.zeros(2), np.full(2, 100.0)
    )
    batch = allocate_negexp_blend(
        np.array([[10.0, 20.0]]),
        np.array([[0.1, 0.1]]),
        0.5,
        30.0,
        np.zeros(2),
        np.full(2, 100.0),
    )
    assert spend.shape == (1, 2)
    np.testing.assert_array_equal(spend, batch)
    assert spend.sum() == pytest.approx(30.0, rel=1e-12)
