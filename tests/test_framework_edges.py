"""The budget-step framework at its edges: what a test of the framework must notice."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine import EngineError, make_policy
from engine.amend import resize
from engine.framework import uniform_target

BASE = {"budget": 1000.0, "timesteps": 10}


def test_an_overspend_leaving_only_rounding_ends_the_run_with_nothing_remaining():
    policy = make_policy("uniform")
    state = policy.init(2, {"budget": 100.0, "timesteps": 5})
    # 100 - 99.99999999995 = 5e-11 is left: below 1e-9 of the budget, the run is spent
    state, allocation = policy.advance(state, {"spend": [50.0, 49.99999999995]})
    assert state["remaining"] == 0.0 and state["done"]
    assert allocation["budgets"] == [0.0, 0.0]
    # while 1e-6 left is still a budget to plan
    state = policy.init(2, {"budget": 100.0, "timesteps": 5})
    state, _ = policy.advance(state, {"spend": [50.0, 49.999999]})
    assert state["remaining"] == pytest.approx(1e-6) and not state["done"]
    # exactly 1e-9 of the budget left (1 of a billion, no rounding in it) is rounding too
    state = policy.init(2, {"budget": 1e9, "timesteps": 5})
    state, _ = policy.advance(state, {"spend": [5e8, 5e8 - 1.0]})
    assert state["remaining"] == 0.0 and state["done"]


def test_each_advance_moves_the_random_stream_on_and_rebalance_does_not():
    policy = make_policy("thompson")
    state = policy.init(3, BASE)
    assert state["rng"]["counter"] == 0
    report = {"spend": [30.0, 30.0, 40.0], "clicks": [100.0, 80.0, 90.0], "conversions": [5, 1, 2]}
    first, _ = policy.advance(state, report)
    assert first["rng"] == {"seed": state["rng"]["seed"], "counter": 1}
    second, _ = policy.advance(first, report)
    assert second["rng"]["counter"] == 2
    assert policy.rebalance(second, [True, True, False])["rng"]["counter"] == 2
    # the same counter draws the same allocation; the next one another
    again, _ = policy.advance(first, report)
    assert again["shares"] == second["shares"]


def test_a_paused_campaign_share_is_spread_in_proportion():
    policy = make_policy("uniform")
    state = policy.init(3, {**BASE, "step": 1.0})
    state["shares"] = [0.5, 0.3, 0.2]
    state["budgets"] = [50.0, 30.0, 20.0]
    paused = policy.rebalance(state, [True, True, False])
    assert paused["shares"] == pytest.approx([0.625, 0.375, 0.0])
    assert paused["budgets"] == pytest.approx([62.5, 37.5, 0.0])


def test_rebalancing_checks_new_minimums_against_what_is_left():
    policy = make_policy("uniform")
    state = policy.init(2, {"budget": 1000.0, "timesteps": 10})
    # an overspend leaves 100 over the 9 timesteps left: 11.1 a timestep
    state, _ = policy.advance(state, {"spend": [450.0, 450.0]})
    assert state["timestep_budget"] == pytest.approx(100.0 / 9)
    with pytest.raises(EngineError, match="remaining / timesteps left"):
        policy.rebalance(state, [True, True], min_budget=[8.0, 8.0])
    fits = policy.rebalance(state, [True, True], min_budget=[5.0, 5.0])
    assert np.all(np.array(fits["budgets"]) >= 5.0)


def test_the_spend_a_policy_sees_is_read_only():
    """A policy cannot change the finished timestep's spend under the framework's feet."""
    seen = []

    class Watching(type(make_policy("ucb"))):
        def learn(self, stats, context):
            seen.append(context)
            return super().learn(stats, context)

    policy = Watching()
    state = policy.init(2, BASE)
    policy.advance(state, {"spend": [40.0, None], "revenue": [80.0, None]})
    spend = seen[-1].spend
    assert spend.tolist() == [40.0, 50.0]  # the unreported one counts as its planned budget
    with pytest.raises(ValueError, match="read-only"):
        spend[0] = 0.0


def test_resizing_moves_each_campaign_statistics_with_it():
    policy = make_policy("ucb")
    state = policy.init(3, BASE)
    report = {"spend": [30.0, 30.0, 40.0], "revenue": [50.0, 10.0, 20.0]}
    state, _ = policy.advance(state, report)
    old = state["stats"]
    resized = resize(policy, state, [2, None, 0])["stats"]
    for key in ("spend", "value", "exposure"):
        assert resized[key] == [old[key][2], 0.0, old[key][0]], key
    assert resized["cells"] == old["cells"]


def test_rebalancing_a_finished_run_keeps_the_state_and_records_the_mask():
    policy = make_policy("uniform")
    state = policy.init(2, {"budget": 100.0, "timesteps": 1})
    state, _ = policy.advance(state, {"spend": [50.0, 50.0]})
    assert state["done"]
    after = policy.rebalance(state, [True, False])
    assert after["done"] and after["active"] == [True, False]
    assert after["budgets"] == state["budgets"] and after["remaining"] == state["remaining"]


def test_pausing_every_campaign_allocates_nothing_until_one_resumes():
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    assert state["timestep_budget"] == pytest.approx(100.0)
    paused = policy.rebalance(state, [False, False])
    assert paused["timestep_budget"] == 0.0
    assert paused["shares"] == [0.0, 0.0] and paused["budgets"] == [0.0, 0.0]
    resumed = policy.rebalance(paused, [True, True])
    assert sum(resumed["budgets"]) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("shares", [1.5, -0.5], "state shares must lie between 0 and 1"),
        ("previous_shares", [-0.2, 1.2], "state previous_shares must lie between 0 and 1"),
        ("budgets", [-10.0, 110.0], "state budgets must not be negative"),
        ("budgets", ["fifty", 50.0], "state budgets must hold finite numbers only"),
        ("shares", [1.5, 0.5], "state shares must lie between 0 and 1"),
        ("settings", {"budget": -5.0, "timesteps": 10}, "budget must be greater than 0"),
        ("t", 11, "past the run's 10 timesteps"),
        ("spent", -3.0, "spent must be >= 0"),
    ],
)
def test_a_state_with_shares_out_of_range_or_negative_budgets_is_refused(key, value, message):
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    state[key] = value
    with pytest.raises(EngineError, match=message):
        policy.rebalance(state, [True, True])
    with pytest.raises(EngineError, match=message):
        policy.advance(state, {"spend": [50.0, 50.0]})


def test_a_version_1_state_is_upgraded_to_the_statistics_it_would_have_learned_live():
    policy = make_policy("ucb")
    state = policy.init(2, {"budget": 600.0, "timesteps": 6, "seed": 3})
    history = {metric: [] for metric in ("spend", "impressions", "clicks", "conversions")}
    history |= {"revenue": [], "planned": []}
    for step in range(3):
        planned = state["budgets"]
        report = {"spend": [planned[0] * 0.9, None], "revenue": [40.0 + step, 25.0]}
        for metric in history:
            values = planned if metric == "planned" else report.get(metric, [None, None])
            history[metric].append(list(values))
        state, _ = policy.advance(state, report)
    old = {key: value for key, value in state.items() if key != "stats"}
    old |= {"version": 1, "history": history}
    upgraded = policy.rebalance(old, [True, True])
    assert upgraded["version"] == 2 and "history" not in upgraded
    assert upgraded["stats"] == policy.rebalance(state, [True, True])["stats"]
    assert upgraded["shares"] == pytest.approx(state["shares"])
    with pytest.raises(EngineError, match="version 1 state is malformed"):
        policy.rebalance({**old, "shares": None}, [True, True])


def test_a_run_ends_after_its_last_timestep_even_with_budget_left():
    policy = make_policy("uniform")
    state = policy.init(2, {"budget": 100.0, "timesteps": 2})
    state, _ = policy.advance(state, {"spend": [10.0, 10.0]})
    assert not state["done"] and state["remaining"] == pytest.approx(80.0)
    state, allocation = policy.advance(state, {"spend": [10.0, 10.0]})
    assert state["done"] and state["t"] == 2
    assert state["remaining"] == pytest.approx(60.0)
    assert allocation == {"shares": state["shares"], "budgets": [0.0, 0.0], "timestep_budget": 0.0}
    with pytest.raises(EngineError, match="the run is done"):
        policy.advance(state, {"spend": [0.0, 0.0]})


def test_the_state_a_rebalance_returns_shares_no_list_with_the_one_given():
    policy = make_policy("uniform")
    state, _ = policy.advance(policy.init(3, BASE), {"spend": [30.0, 30.0, 40.0]})
    given = [list(state["previous_shares"]), list(state["shares"]), list(state["active"])]
    rebalanced = policy.rebalance(state, [True, True, False])
    for key in ("previous_shares", "shares", "budgets", "active"):
        assert rebalanced[key] is not state[key]
    rebalanced["previous_shares"][0] = 0.9
    rebalanced["active"][0] = False
    assert [state["previous_shares"], state["shares"], state["active"]] == given


def test_each_advance_records_the_shares_of_the_timestep_it_closes():
    policy = make_policy("uniform")
    state = policy.init(3, {**BASE, "min_budget": [50.0, None, None]})
    assert state["previous_shares"] is None
    first, _ = policy.advance(state, {"spend": state["budgets"]})
    assert first["previous_shares"] == state["shares"]
    paused = policy.rebalance(first, [True, False, True])
    second, _ = policy.advance(paused, {"spend": paused["budgets"]})
    assert second["previous_shares"] == paused["shares"] != first["shares"]


def test_a_rebalance_moves_shares_within_the_step_of_the_previous_timestep():
    policy = make_policy("uniform")
    state = policy.init(3, {**BASE, "step": 0.1})
    state.update(shares=[0.5, 0.3, 0.2], budgets=[50.0, 30.0, 20.0])
    state["previous_shares"] = [0.7, 0.1, 0.2]
    # pausing the third: in proportion would be [0.625, 0.375, 0]; the step of 0.1 around
    # [0.7, 0.1, 0.2] holds the second at 0.2 at most
    paused = policy.rebalance(state, [True, True, False])
    assert paused["shares"] == pytest.approx([0.8, 0.2, 0.0])


def test_a_loaded_state_takes_the_policy_parameters():
    policy = make_policy("curve", {"draws": 4})
    state = policy.init(2, BASE)
    state["params"] = {**state["params"], "draws": 9}
    advanced, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [5.0, 3.0]})
    assert advanced["params"] == policy.params and advanced["params"]["draws"] == 4
    assert policy.rebalance(state, [True, False])["params"]["draws"] == 4


def test_a_campaign_without_a_minimum_may_get_nothing_and_one_with_a_minimum_gets_it():
    policy = make_policy("uniform")
    plain = policy.init(3, {"budget": 100.0, "timesteps": 10, "step": 1.0})
    floored = policy.init(
        3, {"budget": 100.0, "timesteps": 10, "step": 1.0, "min_budget": [None, None, 1.0]}
    )
    for state in (plain, floored):
        state["shares"] = [0.6, 0.4, 0.0]
        state["budgets"] = [6.0, 4.0, 0.0]
    # no minimum means a minimum of 0: the empty campaign stays empty
    assert policy.rebalance(plain, [True, True, True])["budgets"] == pytest.approx([6, 4, 0])
    # a minimum of 1 lifts it to 1, taken from the others in proportion
    assert policy.rebalance(floored, [True, True, True])["budgets"] == pytest.approx(
        [5.5, 3.5, 1.0]
    )


def test_the_uniform_target_splits_equally_over_the_active_campaigns_only():
    np.testing.assert_allclose(
        uniform_target(np.array([True, False, True, True])), [1 / 3, 0, 1 / 3, 1 / 3]
    )
    assert uniform_target(np.array([False, True, False])).tolist() == [0.0, 1.0, 0.0]
    assert uniform_target(np.array([False, False])).tolist() == [0.0, 0.0]


def test_a_policy_limited_in_campaigns_refuses_more_from_the_start():
    with pytest.raises(EngineError, match="at most 2 campaigns"):
        make_policy("rps").init(3, BASE)
    assert len(make_policy("rps").init(2, BASE)["shares"]) == 2


class _Recording(type(make_policy("uniform"))):
    """The uniform policy, recording what each decision was shown and wishing for the first."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = []

    def propose(self, context, rng):
        self.seen.append(context)
        wish = np.zeros(context.n_campaigns)
        wish[0] = 1.0
        return wish


def test_a_policy_sees_a_frozen_context_of_read_only_arrays():
    policy = _Recording()
    state = policy.init(2, BASE)
    policy.advance(state, {"spend": [40.0, 60.0], "revenue": [80.0, 10.0]})
    (context,) = policy.seen
    arrays = [context.previous, context.active, context.lower, context.upper]
    for array in [*arrays, *context.observed.values()]:
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.budget = 0.0


def test_a_policy_is_asked_whenever_anything_can_be_spent_however_little():
    policy = _Recording()
    # every campaign paused: nothing to split, nothing asked
    state = policy.init(2, BASE)
    _, allocation = policy.advance(state, {"spend": [50.0, 50.0]}, [False, False])
    assert policy.seen == [] and allocation["budgets"] == [0.0, 0.0]
    # half a unit a timestep is still a decision, and the wish is followed
    state = policy.init(2, {"budget": 1.0, "timesteps": 2, "step": 1.0})
    state, allocation = policy.advance(state, {"spend": [0.25, 0.25]})
    assert [context.budget for context in policy.seen] == [0.5]
    assert allocation["budgets"] == [0.5, 0.0]


def test_a_budget_a_rounding_short_of_one_unit_is_not_lifted_to_one():
    """A campaign without a minimum has a minimum of 0, not of one unit of money."""
    state = make_policy("uniform").init(3, {"budget": 2.9999999997, "timesteps": 1})
    assert state["budgets"] == pytest.approx([0.9999999999] * 3, abs=1e-13)
    assert 1.0 not in state["budgets"] and sum(state["budgets"]) <= state["timestep_budget"]


def test_a_share_over_one_by_exactly_the_tolerance_still_loads():
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    state["shares"] = state["previous_shares"] = [1.0 + 1e-9, 0.0]
    assert sum(policy.rebalance(state, [True, True])["shares"]) == pytest.approx(1.0)


def _spent_run(policy, settings: dict, steps: int) -> tuple[dict, list, list]:
    state = policy.init(2, settings)
    reports, planned = [], []
    for _ in range(steps):
        reports.append({"spend": list(state["budgets"]), "revenue": [3.0, 1.0]})
        planned.append(list(state["budgets"]))
        state, _ = policy.advance(state, reports[-1])
    return state, reports, planned


@pytest.mark.parametrize("steps", [1, 2])
def test_refolding_the_reports_as_they_were_changes_nothing(steps):
    """On the last timestep (its budget is all that remains) and on a finished run (nothing
    remains, and the closing shares are kept): the same reports give back the same state."""
    policy = make_policy("uniform")
    state, reports, planned = _spent_run(policy, {"budget": 100.0, "timesteps": 2}, steps)
    assert state["timestep_budget"] == state["remaining"]
    assert policy.refold(state, reports, planned) == state


def test_a_refold_returns_lists_it_does_not_share_with_the_state_given():
    policy = make_policy("uniform")
    state, reports, planned = _spent_run(policy, BASE, 1)
    given = {key: list(state[key]) for key in ("shares", "budgets", "active")}
    refolded = policy.refold(state, reports, planned)
    for key in given:
        assert refolded[key] is not state[key]
        refolded[key][0] = 0
    assert {key: state[key] for key in given} == given


@pytest.mark.parametrize(
    ("planned_rows", "retired", "message"),
    [
        (2, 0.0, "1 finished timesteps"),
        (1, True, "retired_spent"),
        (1, -1.0, "retired_spent"),
        (1, math.inf, "retired_spent"),
        (1, math.nan, "retired_spent"),
    ],
)
def test_a_refold_needs_as_many_budgets_as_reports_and_a_retired_spend_of_money(
    planned_rows, retired, message
):
    policy = make_policy("uniform")
    state, reports, planned = _spent_run(policy, BASE, 1)
    with pytest.raises(EngineError, match=message):
        policy.refold(state, reports, planned * planned_rows, retired)
