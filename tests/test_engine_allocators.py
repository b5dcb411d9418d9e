"""The value-estimate bandits as budget allocators: invariants of their splits, what they learn,
and their `rule: "step"` option reproducing the first Oktopus API's move."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import make_policy
from engine.errors import EngineError

ALLOCATORS = ("ucb", "epsilon_greedy", "softmax", "optimistic")
TOLERANCE = 1e-9

STEP_RULE_PATHS = {
    "ucb": [
        [0.233333, 0.433333, 0.333333],
        [0.133333, 0.533333, 0.333333],
        [0.05, 0.633333, 0.316667],
        [0.05, 0.733333, 0.216667],
        [0.05, 0.833333, 0.116667],
        [0.05, 0.9, 0.05],
    ],
    "epsilon_greedy": [
        [0.233333, 0.433333, 0.333333],
        [0.133333, 0.533333, 0.333333],
        [0.05, 0.516667, 0.433333],
        [0.05, 0.616667, 0.333333],
        [0.15, 0.616667, 0.233333],
        [0.05, 0.716667, 0.233333],
    ],
    "softmax": [
        [0.233333, 0.433333, 0.333333],
        [0.133333, 0.533333, 0.333333],
        [0.05, 0.633333, 0.316667],
        [0.05, 0.733333, 0.216667],
        [0.05, 0.833333, 0.116667],
        [0.05, 0.9, 0.05],
    ],
    "optimistic": [
        [0.233333, 0.433333, 0.333333],
        [0.133333, 0.533333, 0.333333],
        [0.05, 0.633333, 0.316667],
        [0.05, 0.733333, 0.216667],
        [0.15, 0.733333, 0.116667],
        [0.25, 0.7, 0.05],
    ],
}
"""Shares of each timestep, 3 campaigns at floor 0.05 and step 0.1, as the first Oktopus API's
rule made them before the split rule existed (epsilon 0.5, see `step_rule_run`)."""


def step_rule_run(name: str, params: dict) -> list[list[float]]:
    policy = make_policy(name, params | ({"epsilon": 0.5} if name == "epsilon_greedy" else {}))
    state = policy.init(
        3, {"budget": 3000.0, "timesteps": 8, "seed": 5, "step": 0.1, "floor": 0.05}
    )
    path = []
    for t in range(6):
        spend = state["budgets"]
        revenue = [spend[0] * 1.0, spend[1] * 2.0 - t, spend[2] * 1.5 + 3 * t]
        state, allocation = policy.advance(state, {"spend": spend, "revenue": revenue})
        path.append([round(share, 6) for share in allocation["shares"]])
    return path


@pytest.mark.parametrize("name", ALLOCATORS)
def test_the_step_rule_reproduces_the_first_oktopus_moves(name):
    assert step_rule_run(name, {"rule": "step"}) == STEP_RULE_PATHS[name]
    # The default split rule decides otherwise on the same reports.
    assert step_rule_run(name, {}) != STEP_RULE_PATHS[name]


@pytest.mark.parametrize("name", ALLOCATORS)
def test_an_unknown_rule_or_saturation_is_refused_naming_it(name):
    with pytest.raises(EngineError, match="'rule'"):
        make_policy(name, {"rule": "jump"})
    with pytest.raises(EngineError, match="'saturation'"):
        make_policy(name, {"saturation": 0.0})


@st.composite
def runs(draw: st.DrawFn) -> tuple:
    name = draw(st.sampled_from(ALLOCATORS))
    k = draw(st.integers(2, 12))
    floor = draw(st.sampled_from([0.0, 0.01, 0.5 / k]))
    step = draw(st.sampled_from([0.02, 0.1, 0.5, 1.0]))
    returns = draw(st.lists(st.floats(0.0, 50.0), min_size=k, max_size=k))
    scales = draw(st.lists(st.floats(0.05, 20.0), min_size=k, max_size=k))
    seed = draw(st.integers(0, 2**16))
    return name, k, floor, step, np.array(returns), np.array(scales), seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_splits_sum_to_one_within_floor_bounds_and_step_and_hold_no_nan(run):
    name, k, floor, step, returns, scales, seed = run
    policy = make_policy(name)
    budget, timesteps = 1000.0 * k * 8, 8
    max_budget = [None] * (k - 1) + [1.5 * budget / timesteps / k]
    state = policy.init(
        k,
        {
            "budget": budget,
            "timesteps": timesteps,
            "floor": floor,
            "step": step,
            "seed": seed,
            "max_budget": max_budget,
        },
    )
    rng = np.random.default_rng(seed)
    for _ in range(timesteps - 1):
        previous = np.array(state["shares"])
        spend = np.array(state["budgets"])
        unit = budget / timesteps / k
        revenue = returns * scales * unit * -np.expm1(-spend / (scales * unit))
        report = {"spend": spend.tolist(), "revenue": rng.poisson(revenue).astype(float).tolist()}
        state, allocation = policy.advance(json.loads(json.dumps(state)), report)
        shares = np.array(allocation["shares"])
        budgets = np.array(allocation["budgets"])
        assert np.isfinite(shares).all() and np.isfinite(budgets).all()
        assert shares.sum() == pytest.approx(1.0, abs=TOLERANCE)
        assert np.all(shares >= floor - TOLERANCE)
        assert np.max(np.abs(shares - previous)) <= step + TOLERANCE
        assert budgets[-1] <= max_budget[-1] * (1 + TOLERANCE)
        json.dumps(state, allow_nan=False)


def saturating_world(state: dict, top: list[float], scale: list[float]) -> dict:
    spend = np.array(state["budgets"])
    revenue = np.array(top) * -np.expm1(-spend / np.array(scale))
    return {"spend": spend.tolist(), "revenue": revenue.tolist()}


@pytest.mark.parametrize("name", ALLOCATORS)
def test_the_split_earns_more_than_moving_step_to_one_winner(name):
    # Campaign 0 returns most but saturates early: the split funds the others as far as its
    # curves say they earn it, where the first Oktopus API's rule keeps moving `step` to one.
    top, scale = np.array([6000.0, 3000.0, 2000.0]), np.array([500.0, 2000.0, 2000.0])
    earned = {}
    for rule in ("shares", "step"):
        params = {"rule": rule} | ({"epsilon": 0.0} if name == "epsilon_greedy" else {})
        policy = make_policy(name, params)
        state = policy.init(3, {"budget": 3000.0 * 20, "timesteps": 20, "seed": 2, "step": 0.2})
        for _ in range(15):
            state, allocation = policy.advance(state, saturating_world(state, top, scale))
        spend = np.array(allocation["budgets"])
        earned[rule] = float(np.sum(top * -np.expm1(-spend / scale)))
    assert earned["shares"] > earned["step"]


def test_an_old_state_without_exposure_keeps_learning():
    policy = make_policy("ucb", {"scales": "fixed"})
    state = policy.init(3, {"budget": 3000.0, "timesteps": 5})
    state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [10.0, 30.0, 20.0]})
    del state["stats"]["exposure"]
    state, allocation = policy.advance(
        state, {"spend": state["budgets"], "revenue": [10.0, 30.0, 20.0]}
    )
    assert len(state["stats"]["exposure"]) == 3
    assert allocation["shares"][1] == max(allocation["shares"])
