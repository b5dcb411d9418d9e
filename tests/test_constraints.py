"""The constraint projection (engine.constraints): no NaN from any state, the smallest
feasible step, and budgets that meet their bounds exactly."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from engine import EngineError, make_policy
from engine.constraints import effective_step, project_shares, share_amounts, share_bounds

BASE = {"budget": 1000.0, "timesteps": 10}


def test_a_previous_split_off_the_simplex_gives_finite_shares_without_warnings():
    """No step box around these previous shares meets the bounds, even at a step of 1:
    the bounds alone hold (this divided 0 by 0 before)."""
    lower, upper = np.zeros(3), np.array([1.0, 0.0, 1.0])
    previous = np.array([-1.0, 0.0, -1.0])  # shares that never summed to 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shares = project_shares(np.array([0.2, 0.3, 0.5]), lower, upper, previous, 0.1)
    assert shares == pytest.approx([0.35, 0.0, 0.65])


@pytest.mark.parametrize("name", ["ucb", "softmax", "curve", "uniform"])
@pytest.mark.parametrize(
    ("key", "value"),
    [("previous_shares", [-1, False, -1]), ("shares", [1.5, -0.5, 0.0]), ("budgets", [-1, 1, 1])],
)
def test_a_state_edited_with_shares_off_the_simplex_is_refused(name, key, value):
    """The path of the RuntimeWarning the suite once showed: a hand-edited state under `ucb`
    re-balanced with negative previous shares divided 0 by 0 in the projection."""
    policy = make_policy(name)
    state = policy.init(3, BASE)
    state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [5.0, 1.0, 1.0]})
    edited = {**json.loads(json.dumps(state)), key: value}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(EngineError, match=key):
            policy.rebalance(edited, [True, False, True])
        with pytest.raises(EngineError, match=key):
            policy.advance(edited, {"spend": [1.0, 1.0, 1.0]})


def test_the_step_widens_to_the_smallest_feasible_step_not_to_one():
    """Pausing a campaign that held everything: its share must go to the two others, each
    moving at most the widened step, which is 0.5 (not 1)."""
    lower, upper = np.zeros(3), np.array([0.0, 1.0, 1.0])
    previous = np.array([1.0, 0.0, 0.0])
    assert effective_step(lower, upper, previous, 0.1) == pytest.approx(0.5, abs=1e-12)
    assert effective_step(lower, upper, previous, 0.7) == 0.7  # feasible already: unchanged
    shares = project_shares(np.array([0.0, 1.0, 0.0]), lower, upper, previous, 0.1)
    assert shares == pytest.approx([0.0, 0.5, 0.5], abs=1e-9)


@pytest.mark.parametrize(
    ("budget", "maximum"),
    # 333.3 / 1234.56 * 1234.56 and 123.45 / 777.77 * 777.77 round above the maximum
    [(1009.62, 201.0), (1001.11, 300.0), (1234.56, 333.3), (777.77, 123.45)],
)
def test_budgets_at_their_maximum_meet_it_exactly(budget, maximum):
    policy = make_policy("uniform")
    settings = {"budget": budget, "timesteps": 1, "max_budget": [maximum, None, None]}
    state = policy.init(3, settings)
    assert state["budgets"][0] == maximum
    assert sum(state["budgets"]) <= state["timestep_budget"]
    rebounded = policy.rebalance(state, [True, True, True], max_budget=[maximum, None, None])
    assert rebounded["budgets"][0] == maximum


def test_share_amounts_lift_a_minimum_missed_by_rounding_within_the_budget():
    spendable = 1009.62
    lower, _, _ = share_bounds(
        np.array([True, True]), spendable, 0.0, np.array([201.0, 0.0]), np.full(2, np.inf)
    )
    shares = np.array([lower[0] * (1 - 1e-15), 1 - lower[0] * (1 - 1e-15)])
    budgets = share_amounts(shares, spendable, np.array([201.0, 0.0]), np.full(2, np.inf))
    assert budgets[0] == 201.0
    assert budgets.sum() <= spendable
    # a minimum that gave way to a short budget is not lifted
    short = share_amounts(np.array([0.5, 0.5]), 100.0, np.array([80.0, 80.0]), np.full(2, np.inf))
    assert short == pytest.approx([50.0, 50.0])


def test_a_campaign_without_budget_is_not_lifted_to_a_tiny_minimum():
    budgets = share_amounts(np.array([1.0, 0.0]), 100.0, np.array([0.0, 1e-12]), np.full(2, np.inf))
    assert budgets[1] == 0.0 and budgets[0] == 100.0


def test_a_target_with_nan_or_infinity_still_projects_to_finite_shares():
    ones = np.ones(3)
    for target in ([np.nan, 0.5, 0.5], [np.inf, 0.2, 0.1], [-np.inf, 0.6, np.nan]):
        shares = project_shares(np.array(target), np.zeros(3), ones)
        assert np.all(np.isfinite(shares)) and shares.sum() == pytest.approx(1.0)
    # NaN counts as nothing, +inf as everything, within the bounds
    np.testing.assert_allclose(
        project_shares(np.array([np.inf, 0.0, 0.0]), np.zeros(3), ones), [1.0, 0.0, 0.0]
    )
    np.testing.assert_allclose(
        project_shares(np.array([np.nan, 0.5, 0.5]), np.zeros(3), ones), [0.0, 0.5, 0.5]
    )


def test_a_floor_over_the_step_box_by_rounding_only_keeps_the_step():
    # Campaign 0's floor lies 1e-12 (the rounding tolerance) above the box's top at a step
    # of 0.25: that is rounding, not infeasibility, so the step is not widened.
    tolerance = 1e-12
    lower = np.array([0.5 + tolerance, 0.0, 0.0])
    previous = np.array([0.25, 0.5, 0.25])
    assert effective_step(lower, np.ones(3), previous, 0.25) == 0.25
    # while a floor clearly above the box widens it to just reach the floor
    lower[0] = 0.5 + 1e-6
    assert effective_step(lower, np.ones(3), previous, 0.25) == pytest.approx(0.25 + 1e-6)

    # and the shares hold that floor exactly, not the box's top a rounding error below it
    lower[0] = 0.5 + tolerance
    for target in ([0.0, 0.5, 0.5], [0.0, 1.0, 0.0]):
        shares = project_shares(np.array(target), lower, np.ones(3), previous, 0.25)
        assert shares[0] >= lower[0]


@pytest.mark.parametrize("spendable", [1.0, 1e6])
def test_only_a_miss_within_a_billionth_of_the_budget_counts_as_rounding(spendable):
    """The slack is 1e-9 of the spendable budget (of 1 below a budget of 1): a minimum
    missed by half of it is lifted, one missed by one and a half times it is not."""
    minimum = np.array([0.5 * spendable, 0.0])
    slack = 1e-9 * spendable
    for miss, lifted in ((0.5 * slack, True), (1.5 * slack, False)):
        first = (minimum[0] - miss) / spendable
        budgets = share_amounts(
            np.array([first, 1 - first]), spendable, minimum, np.full(2, np.inf)
        )
        assert bool(budgets[0] == minimum[0]) is lifted
        assert budgets.sum() <= spendable


def test_a_lift_is_taken_back_from_the_budget_with_room_above_its_minimum():
    """The largest budget sits at its own minimum: what lifting the first budget adds comes
    from the third, the one with room, and no budget ends below its minimum."""
    spendable, minimum = 1000.0, np.array([300.0, 500.0, 0.0])
    shares = np.array([300.0 - 1e-7, 500.0, 200.0 + 1e-7]) / spendable
    budgets = share_amounts(shares, spendable, minimum, np.full(3, np.inf))
    assert budgets[0] == 300.0 and budgets[1] >= 500.0
    assert budgets[2] == pytest.approx(200.0, abs=1e-9)
    assert budgets.sum() <= spendable


def test_bounds_summing_to_one_within_the_rounding_tolerance_keep_the_step():
    tolerance = 1e-12
    previous = np.array([1.0])
    # the most the one campaign may take falls short of 1 by the tolerance: rounding only
    assert effective_step(np.zeros(1), np.array([1.0 - tolerance]), previous, 0.1) == 0.1
    # the least it must take is over 1 by the tolerance: rounding as well
    bound = np.array([1.0 + tolerance])
    assert effective_step(bound, bound, previous, 0.1) == 0.1
    # clearly short of 1, no step makes the bounds feasible: the widest step answers
    assert effective_step(np.zeros(1), np.array([1.0 - 1e-6]), previous, 0.1) == 1.0


def test_a_target_given_as_a_list_projects_like_the_array():
    lower, upper = np.zeros(3), np.array([0.4, 1.0, 1.0])
    expected = project_shares(np.array([0.5, 0.3, 0.2]), lower, upper)
    np.testing.assert_allclose(project_shares([0.5, 0.3, 0.2], lower, upper), expected)
    np.testing.assert_allclose(expected, [0.4, 0.35, 0.25])


def test_a_floor_above_a_campaigns_maximum_gives_way_to_the_maximum():
    maximum = np.array([100.0, np.inf, np.inf])
    lower, upper, spendable = share_bounds(np.ones(3, bool), 1000.0, 0.3, np.zeros(3), maximum)
    assert spendable == 1000.0
    np.testing.assert_allclose(upper, [0.1, 1.0, 1.0])
    np.testing.assert_allclose(lower, [0.1, 0.3, 0.3])


def test_a_minimum_missed_by_exactly_the_slack_is_lifted():
    first = 0.5 - 1e-9  # a budget of 1: the slack is 1e-9, and this miss is exact
    budgets = share_amounts(
        np.array([first, 1 - first]), 1.0, np.array([0.5, 0.0]), np.full(2, np.inf)
    )
    assert budgets[0] == 0.5


def test_an_infinite_wish_counts_as_the_whole_budget_and_a_negative_one_as_nothing():
    """+inf reads as a share of 1 and -inf as 0, weighed against the finite wishes: not as
    more than everything, nor as a whole share."""
    ones = np.ones(3)
    np.testing.assert_allclose(
        project_shares(np.array([np.inf, 0.5, 0.0]), np.zeros(3), ones), [0.75, 0.25, 0.0]
    )
    np.testing.assert_allclose(
        project_shares(np.array([-np.inf, 0.6, 0.2]), np.zeros(3), ones),
        [1 / 15, 2 / 3, 4 / 15],
    )


def test_a_timestep_budget_under_one_is_still_split():
    """Money is not counted in whole units: half a unit a timestep is still spendable."""
    _, upper, spendable = share_bounds(np.ones(2, bool), 0.5, 0.0, np.zeros(2), np.full(2, np.inf))
    assert spendable == 0.5
    np.testing.assert_allclose(upper, [1.0, 1.0])
    state = make_policy("uniform").init(2, {"budget": 2.0, "timesteps": 4})
    assert state["timestep_budget"] == 0.5 and state["budgets"] == [0.25, 0.25]


def test_the_step_widens_when_the_boxes_floors_add_up_to_more_than_the_budget():
    # Every floor fits under its ceiling, but two minimums above their previous shares and the
    # third share's own floor (previous - step) add up to 1.06: no split reaches them all.
    lower, upper = np.array([0.38, 0.38, 0.0]), np.ones(3)
    previous = np.array([0.3, 0.3, 0.4])
    assert effective_step(lower, upper, previous, 0.1) == pytest.approx(0.16, abs=1e-9)
