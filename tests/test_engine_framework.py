"""The budget-step framework: settings validation, budget pacing, and the constraint projection.

Late corrections are in tests/test_engine_refolds.py.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import POLICY_NAMES, EngineError, make_policy
from engine.constraints import project_shares, share_bounds

BASE = {"budget": 1000.0, "timesteps": 10}


def spend_all(policy, state, factor=1.0):
    """Advance one timestep reporting `factor` times the planned budgets as spend."""
    spend = [budget * factor for budget in state["budgets"]]
    return policy.advance(state, {"spend": spend, "revenue": spend})


# --- bad settings and parameters --------------------------------------------------------------


def test_unknown_policy_is_rejected():
    with pytest.raises(EngineError, match="unknown policy"):
        make_policy("greedy_magic")


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("epsilon_greedy", {"epsilon": math.nan}),
        ("epsilon_greedy", {"epsilon": 1.5}),
        ("ucb", {"c": -1.0}),
        ("softmax", {"tau": 0.0}),
        ("softmax", {"tau": "hot"}),
        ("optimistic", {"initial_value": math.inf}),
        ("thompson", {"prior_strength": True}),
        ("curve", {"grid_size": 2.5}),
        ("curve", {"scale_min": 10.0, "scale_max": 1.0}),
        ("curve", {"unknown": 1}),
        ("rps", {"lookback": 0}),
        ("ucb", {"c": 10**400}),
        ("curve", {"draws": 10**400}),
        ("rps", {"lookback": 2**64}),
    ],
)
def test_bad_params_are_rejected(name, params):
    with pytest.raises(EngineError):
        make_policy(name, params)


def test_params_must_be_an_object():
    with pytest.raises(EngineError, match="must be an object"):
        make_policy("ucb", [1.0])


@pytest.mark.parametrize(
    ("n_campaigns", "changes", "message"),
    [
        (3, {"budget": -5.0}, "budget must be greater than 0"),
        (3, {"budget": math.nan}, "finite"),
        (3, {"timesteps": 0}, "timesteps must be at least 1"),
        (3, {"timesteps": 2.5}, "integer"),
        (3, {"floor": 0.4}, "exceeds 1"),
        (3, {"step": 0.0}, "step"),
        (3, {"step": math.inf}, "finite"),
        (3, {"objective": "clicks"}, "objective"),
        (3, {"seed": -1}, "seed"),
        (3, {"min_budget": [60.0, 60.0, 0.0]}, "above the timestep budget"),
        (3, {"min_budget": [10.0, 0.0, 0.0], "max_budget": [5.0, None, None]}, "exceeds"),
        (3, {"max_budget": [10.0, 10.0, 10.0]}, "could not be spent"),
        (3, {"floor": 0.3, "max_budget": [10.0, None, None]}, "floor"),
        (3, {"min_budget": [1.0, 2.0]}, "3 entries"),
        (3, {"max_budget": [1.0, math.nan, 2.0]}, "finite"),
        (3, {"min_budget": [None, -1.0, None]}, r"min_budget\[1\] must be >= 0"),
        (3, {"stepp": 0.2}, "unknown setting"),
        (3, {1: 0, "x": 0}, "unknown setting"),
        (3, {"budget": 1e200}, "at most 1e"),
        (3, {"budget": 5e-324}, "too small to split"),
        (3, {"timesteps": 10**400}, "below 2"),
        (3, {"seed": 2**64}, "below 2"),
        (3, {"max_budget": [1e151, None, None]}, r"max_budget\[0\] must be at most"),
        (1, {}, "at least 2"),
    ],
)
def test_infeasible_settings_are_rejected_at_init(n_campaigns, changes, message):
    with pytest.raises(EngineError, match=message):
        make_policy("uniform").init(n_campaigns, {**BASE, **changes})


def test_required_settings_must_be_given():
    with pytest.raises(EngineError, match="'timesteps' is required"):
        make_policy("uniform").init(3, {"budget": 10.0})


@pytest.mark.parametrize(
    "observations",
    [
        {"revenue": [1.0, 1.0]},
        {"spend": [1.0]},
        {"spend": [1.0, -2.0]},
        {"spend": [1.0, math.nan]},
        {"spend": [1.0, 1.0], "likes": [1.0, 2.0]},
        {"spend": [1.0, 1.0], 7: [1.0, 2.0]},
        {"spend": "lots"},
        {"spend": [1.7e308, 1.7e308]},
        {"spend": [1.0, 1.0], "revenue": [1e160, 1.0]},
    ],
)
def test_bad_observations_are_rejected(observations):
    policy = make_policy("uniform")
    with pytest.raises(EngineError):
        policy.advance(policy.init(2, BASE), observations)


def test_bad_active_masks_are_rejected():
    policy = make_policy("uniform")
    with pytest.raises(EngineError, match="active"):
        policy.init(2, BASE, active=[True])
    with pytest.raises(EngineError, match="true/false"):
        policy.init(2, BASE, active=[1, 0])


def test_state_of_another_policy_or_version_is_rejected():
    state = make_policy("uniform").init(2, BASE)
    with pytest.raises(EngineError, match="belongs to policy"):
        make_policy("ucb").advance(state, {"spend": [1.0, 1.0]})
    with pytest.raises(EngineError, match="version"):
        make_policy("uniform").advance({**state, "version": 99}, {"spend": [1.0, 1.0]})
    with pytest.raises(EngineError, match="missing"):
        make_policy("uniform").advance({"policy": "uniform"}, {"spend": [1.0, 1.0]})


# --- budget pacing ------------------------------------------------------------------------------


def test_initial_state_is_json_and_splits_the_timestep_budget():
    state = make_policy("curve").init(4, BASE)
    assert json.loads(json.dumps(state, allow_nan=False)) == state
    assert state["t"] == 0 and state["remaining"] == 1000.0 and not state["done"]
    assert state["timestep_budget"] == pytest.approx(100.0)
    assert state["budgets"] == pytest.approx([25.0] * 4)
    assert state["version"] == 2 and state["policy"] == "curve"


def test_underspend_is_replanned_over_the_remaining_timesteps():
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    state, allocation = spend_all(policy, state, factor=0.1)
    assert state["remaining"] == pytest.approx(990.0)
    assert allocation["timestep_budget"] == pytest.approx(990.0 / 9)
    assert sum(allocation["budgets"]) == pytest.approx(990.0 / 9)


def test_overspend_never_lets_the_run_exceed_the_budget():
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    state, allocation = spend_all(policy, state, factor=5.0)
    assert state["remaining"] == pytest.approx(500.0)
    state, allocation = spend_all(policy, state, factor=50.0)
    assert state["remaining"] == 0.0 and state["done"]
    assert allocation["budgets"] == [0.0, 0.0] and allocation["timestep_budget"] == 0.0
    with pytest.raises(EngineError, match="done"):
        spend_all(policy, state)


def test_unreported_spend_counts_as_the_planned_budget():
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    state, _ = policy.advance(state, {"spend": [None, 20.0]})
    assert state["remaining"] == pytest.approx(1000.0 - 50.0 - 20.0)


def test_run_ends_after_the_last_timestep():
    policy = make_policy("uniform")
    state = policy.init(2, {"budget": 30.0, "timesteps": 3})
    for _ in range(3):
        state, _ = spend_all(policy, state)
    assert state["done"] and state["t"] == 3 and state["remaining"] == 0.0


def test_paused_campaign_share_goes_to_the_others():
    policy = make_policy("uniform")
    state = policy.init(3, {**BASE, "step": 0.05})
    state = policy.rebalance(state, [True, False, True])
    assert state["shares"] == pytest.approx([0.5, 0.0, 0.5])
    assert state["budgets"] == pytest.approx([50.0, 0.0, 50.0])
    state, allocation = policy.advance(state, {"spend": state["budgets"]}, [True, False, True])
    assert allocation["shares"] == pytest.approx([0.5, 0.0, 0.5])
    state, allocation = policy.advance(state, {"spend": state["budgets"]}, [True, True, True])
    assert allocation["shares"][1] == pytest.approx(0.05)


def test_rebalance_does_not_learn_or_consume_randomness():
    policy = make_policy("curve")
    state = policy.init(3, BASE)
    rebalanced = policy.rebalance(state, [False, True, True])
    assert rebalanced["rng"] == state["rng"] and rebalanced["t"] == state["t"]
    assert rebalanced["shares"][0] == 0.0 and sum(rebalanced["shares"]) == pytest.approx(1.0)


def test_max_budget_caps_the_spendable_budget_when_campaigns_pause():
    policy = make_policy("uniform")
    state = policy.init(3, {**BASE, "max_budget": [60.0, 60.0, None]})
    state = policy.rebalance(state, [True, True, False])
    assert state["timestep_budget"] == pytest.approx(100.0)
    state = policy.rebalance(state, [True, False, False])
    assert state["timestep_budget"] == pytest.approx(60.0)
    assert state["budgets"] == pytest.approx([60.0, 0.0, 0.0])


def test_every_policy_name_makes_a_policy():
    for name in POLICY_NAMES:
        assert make_policy(name).name == name
    assert "curve" in POLICY_NAMES and "thompson" in POLICY_NAMES


# --- the projection -----------------------------------------------------------------------------


@st.composite
def projection_problems(draw):
    n = draw(st.integers(2, 8))
    unit = st.floats(0.0, 1.0)
    lower = np.array(draw(st.lists(unit, min_size=n, max_size=n))) / n
    upper = np.maximum(lower, np.array(draw(st.lists(unit, min_size=n, max_size=n))))
    if upper.sum() < 1:
        upper = upper + (1 - upper.sum()) / n + 1e-9
    upper = np.minimum(upper, 1.0)
    target = np.array(draw(st.lists(st.floats(-1.0, 2.0), min_size=n, max_size=n)))
    previous = np.array(draw(st.lists(unit, min_size=n, max_size=n)))
    previous = previous / previous.sum() if previous.sum() > 0 else np.full(n, 1 / n)
    step = draw(st.floats(0.01, 1.0))
    return target, lower, upper, previous, step


@settings(max_examples=150, deadline=None)
@given(projection_problems())
def test_projection_is_feasible_and_nearest(problem):
    target, lower, upper, previous, step = problem
    if upper.sum() < 1 - 1e-9:
        return
    shares = project_shares(target, lower, upper)
    assert shares.sum() == pytest.approx(1.0)
    assert np.all(shares >= lower - 1e-9) and np.all(shares <= upper + 1e-9)
    # nearer to the target than any other feasible point, e.g. the clipped mid-point
    rng = np.random.default_rng(0)
    for _ in range(5):
        other = project_shares(rng.random(target.size), lower, upper)
        assert np.linalg.norm(shares - target) <= np.linalg.norm(other - target) + 1e-9
    paced = project_shares(target, lower, upper, previous, step)
    assert paced.sum() == pytest.approx(1.0)
    assert np.all(paced >= lower - 1e-9) and np.all(paced <= upper + 1e-9)
    if np.all(previous >= lower) and np.all(previous <= upper):
        assert np.max(np.abs(paced - previous)) <= step + 1e-9


def test_projection_keeps_a_feasible_target():
    lower, upper = np.zeros(3), np.ones(3)
    target = np.array([0.2, 0.3, 0.5])
    assert project_shares(target, lower, upper) == pytest.approx(target)


def test_share_bounds_give_way_in_order_when_the_budget_is_short():
    active = np.array([True, True, False])
    lower, upper, spendable = share_bounds(
        active, 50.0, 0.1, np.array([40.0, 40.0, 40.0]), np.array([np.inf, 30.0, np.inf])
    )
    assert spendable == 50.0
    assert upper == pytest.approx([1.0, 0.6, 0.0])
    assert lower.sum() == pytest.approx(1.0) and lower[2] == 0.0


def test_new_bounds_hold_from_the_current_timestep_without_learning():
    policy = make_policy("curve")
    state = policy.init(3, BASE)
    state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [5.0, 1.0, 1.0]})
    rebounded = policy.rebalance(state, [True] * 3, max_budget=[10.0, None, None])
    assert rebounded["budgets"][0] <= 10.0 + 1e-9
    assert sum(rebounded["budgets"]) == pytest.approx(state["timestep_budget"])
    assert rebounded["settings"]["max_budget"] == [10.0, None, None]
    assert rebounded["stats"] == state["stats"] and rebounded["rng"] == state["rng"]
    report = {"spend": rebounded["budgets"], "revenue": [50.0, 1.0, 1.0]}
    _, allocation = policy.advance(rebounded, report)
    assert allocation["budgets"][0] <= 10.0 + 1e-9
    with pytest.raises(EngineError, match="minimum budgets"):
        policy.rebalance(state, [True] * 3, min_budget=[90.0, 90.0, None])
