"""Every policy: invariants under random and adversarial use, determinism, and learning.

What the curve policy's grid prior learns across campaigns is in tests/test_curve_priors.py.
"""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import POLICY_NAMES, EngineError, make_policy

TOLERANCE = 1e-7
PROPERTY_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def campaign_count(name: str, draw) -> int:
    return 2 if name == "rps" else draw(st.integers(2, 5))


@st.composite
def runs(draw, name: str, min_timesteps: int = 1):
    """Feasible settings and a few timesteps of arbitrary (possibly adversarial) reports."""
    k = campaign_count(name, draw)
    timesteps = draw(st.integers(min_timesteps, 6))
    budget = draw(st.floats(10.0, 1e5))
    per_step = budget / timesteps
    floor = draw(st.sampled_from([0.0, 0.5 / k, 1.0 / k]))
    settings_ = {
        "budget": budget,
        "timesteps": timesteps,
        "step": draw(st.sampled_from([0.05, 0.1, 0.3, 1.0])),
        "floor": floor,
        "objective": draw(st.sampled_from(["revenue", "conversions", "profit"])),
        "seed": draw(st.integers(0, 2**31)),
    }
    if floor < 1.0 / k and draw(st.booleans()):
        room = per_step * (1 - floor * k)
        lows = [room * draw(st.floats(0, 0.9)) / k for _ in range(k)]
        settings_["min_budget"] = lows
        settings_["max_budget"] = [None] + [
            max(low, per_step * floor) + per_step * draw(st.floats(0.1, 2.0)) / k
            for low in lows[1:]
        ]
    reports = []
    spends = st.sampled_from([0.0, 0.5, 1.0, 1.0, 3.0, None])
    for _ in range(draw(st.integers(1, 6))):
        factors = draw(st.lists(spends, min_size=k, max_size=k))
        rates = draw(st.lists(st.floats(0.0, 5.0), min_size=k, max_size=k))
        active = draw(st.lists(st.booleans(), min_size=k, max_size=k))
        reports.append((factors, rates, active))
    return k, settings_, reports


def observations(state: dict, factors: list, rates: list) -> dict:
    spend = [None if f is None else b * f for f, b in zip(factors, state["budgets"], strict=True)]
    seen = [b if s is None else s for s, b in zip(spend, state["budgets"], strict=True)]
    clicks = [s / 2.0 for s in seen]
    conversions = [c * min(r / 5.0, 1.0) for c, r in zip(clicks, rates, strict=True)]
    return {
        "spend": spend,
        "clicks": clicks,
        "conversions": conversions,
        "revenue": [c * 20.0 for c in conversions],
    }


def check_allocation(state: dict, allocation: dict, active: list[bool]) -> None:
    shares, budgets = np.array(state["shares"]), np.array(state["budgets"])
    assert allocation["shares"] == state["shares"] and allocation["budgets"] == state["budgets"]
    assert np.all(budgets >= 0) and np.all(shares >= -TOLERANCE)
    assert budgets.sum() == pytest.approx(state["timestep_budget"], rel=1e-9, abs=1e-9)
    spent = min(state["spent"], state["settings"]["budget"])
    assert spent + state["timestep_budget"] <= state["settings"]["budget"] * (1 + 1e-9)
    if state["timestep_budget"] > 0:
        assert shares[np.array(active)].sum() == pytest.approx(1.0)
        assert np.all(shares[~np.array(active)] == 0)
    maxima = state["settings"]["max_budget"]
    for budget, high in zip(budgets, maxima, strict=True):
        assert high is None or budget <= high * (1 + 1e-9) + 1e-9


@pytest.mark.parametrize("name", POLICY_NAMES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_invariants_hold_under_adversarial_reports(name, data):
    k, settings_, reports = data.draw(runs(name))
    policy = make_policy(name)
    state = policy.init(k, settings_)
    check_allocation(state, policy._allocation(state), [True] * k)
    for factors, rates, active in reports:
        if state["done"]:
            break
        before = json.dumps(state)
        obs = observations(state, factors, rates)
        new_state, allocation = policy.advance(state, obs, active)
        assert json.dumps(state) == before, "advance must not mutate its input"
        again = policy.advance(json.loads(before), obs, active)
        assert again == (new_state, allocation), "equal inputs must give equal outputs"
        json.dumps(new_state, allow_nan=False)
        check_allocation(new_state, allocation, active)
        state = new_state


@pytest.mark.parametrize("name", POLICY_NAMES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_constraints_hold_when_spend_is_as_planned(name, data):
    k, settings_, reports = data.draw(runs(name, min_timesteps=4))
    policy = make_policy(name)
    state = policy.init(k, settings_)
    floor, step = settings_["floor"], settings_["step"]
    lows = settings_.get("min_budget") or [0.0] * k
    for _, rates, _ in reports[: settings_["timesteps"] - 1]:
        previous = np.array(state["shares"])
        state, _ = policy.advance(state, observations(state, [1.0] * k, rates))
        shares, budgets = np.array(state["shares"]), np.array(state["budgets"])
        per_step = settings_["budget"] / settings_["timesteps"]
        assert state["timestep_budget"] == pytest.approx(per_step)
        assert np.all(shares >= floor - TOLERANCE)
        assert np.all(budgets >= np.array(lows) * (1 - 1e-9) - 1e-9)
        assert np.max(np.abs(shares - previous)) <= step + TOLERANCE


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_rebalance_pauses_without_learning(name):
    k = 2 if name == "rps" else 3
    policy = make_policy(name)
    state = policy.init(k, {"budget": 900.0, "timesteps": 9, "floor": 0.1})
    state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [1.0] * k})
    paused = [True] + [False] * (k - 1)
    rebalanced = policy.rebalance(state, paused)
    assert rebalanced["shares"][0] == pytest.approx(1.0)
    assert rebalanced["budgets"][0] == pytest.approx(100.0)
    assert rebalanced["stats"] == state["stats"] and rebalanced["rng"] == state["rng"]


# --- learning -----------------------------------------------------------------------------------


def linear_world(state: dict, returns: list[float], cost_per_click: list[float]) -> dict:
    spend = state["budgets"]
    clicks = [s / c for s, c in zip(spend, cost_per_click, strict=True)]
    revenue = [s * r for s, r in zip(spend, returns, strict=True)]
    return {
        "spend": spend,
        "clicks": clicks,
        "conversions": [r / 10.0 for r in revenue],
        "revenue": revenue,
    }


@pytest.mark.parametrize("name", [name for name in POLICY_NAMES if name != "uniform"])
def test_every_policy_moves_budget_toward_a_clearly_best_campaign(name):
    k = 2 if name == "rps" else 3
    returns = [3.0] + [1.0] * (k - 1)
    cost_per_click = [1.0] + [3.0] * (k - 1)
    policy = make_policy(name)
    state = policy.init(k, {"budget": 20_000.0, "timesteps": 20, "seed": 3})
    for _ in range(15):
        state, allocation = policy.advance(state, linear_world(state, returns, cost_per_click))
    assert allocation["shares"][0] > 0.55
    assert allocation["shares"][0] == max(allocation["shares"])


@pytest.mark.parametrize("tau", [5e-324, 1e-310, 1e-3])
def test_softmax_with_a_vanishing_tau_turns_greedy_not_nan(tau):
    policy = make_policy("softmax", {"tau": tau})
    state = policy.init(3, {"budget": 3000.0, "timesteps": 10, "floor": 0.0, "seed": 1})
    for _ in range(3):
        state, allocation = policy.advance(state, linear_world(state, [1, 3, 2], [1, 1, 1]))
    assert np.isfinite(allocation["shares"]).all()
    assert allocation["shares"][1] == max(allocation["shares"]) > 0.5


def test_uniform_keeps_equal_shares():
    policy = make_policy("uniform")
    state = policy.init(4, {"budget": 400.0, "timesteps": 4})
    state, allocation = policy.advance(state, linear_world(state, [5, 1, 1, 1], [1, 1, 1, 1]))
    assert allocation["shares"] == pytest.approx([0.25] * 4)


def test_different_seeds_give_different_thompson_draws():
    def final_shares(seed):
        policy = make_policy("thompson")
        state = policy.init(3, {"budget": 300.0, "timesteps": 3, "seed": seed, "step": 1.0})
        obs = {"spend": state["budgets"], "clicks": [5, 5, 5], "conversions": [1, 1, 1]}
        return policy.advance(state, obs)[1]["shares"]

    assert final_shares(1) != final_shares(2)
    assert final_shares(1) == final_shares(1)


def test_conversions_objective_learns_conversions_not_revenue():
    policy = make_policy("curve")
    state = policy.init(2, {"budget": 2000.0, "timesteps": 20, "objective": "conversions"})
    for _ in range(12):
        spend = state["budgets"]
        obs = {
            "spend": spend,
            "conversions": [spend[0] * 0.01, spend[1] * 0.05],
            "revenue": [spend[0] * 5.0, spend[1] * 0.5],
        }
        state, allocation = policy.advance(state, obs)
    assert allocation["shares"][1] > 0.7


@pytest.mark.parametrize("name", ["curve", "epsilon_greedy", "ucb", "softmax", "optimistic"])
def test_without_any_reported_value_shares_stay_put(name):
    policy = make_policy(name, {"epsilon": 0.0} if name == "epsilon_greedy" else None)
    state = policy.init(3, {"budget": 300.0, "timesteps": 3, "step": 1.0})
    state, allocation = policy.advance(state, {"spend": state["budgets"], "clicks": [9, 9, 9]})
    assert allocation["shares"] == pytest.approx([1 / 3] * 3)


def curve_sums_by_hand(policy, spends, values, budget, timesteps):
    """The curve policy's discounted sums computed from the whole run at once."""
    from engine.policies.curve import unit_curve

    spends, values = np.array(spends), np.array(values)  # (T, K)
    unit = budget / timesteps / spends.shape[1]
    weights = policy.params["discount"] ** np.arange(len(spends))[::-1]
    features = unit_curve(spends[:, :, None] / unit, policy.grid_scales, policy.grid_blends)
    features = features / policy.at_equal_share  # (T, K, G)
    ff = np.einsum("t,tkg->kg", weights, features**2)
    fy = np.einsum("t,tkg,tk->kg", weights, features, values)
    return ff, fy


def curve_grid(state, policy, key):
    from engine.packing import unpack

    return unpack(state["stats"][key], (len(state["shares"]), policy.grid_scales.size))


@pytest.mark.parametrize("s_shaped_prior", [0.0, 0.5])
def test_curve_running_sums_equal_the_sums_over_the_whole_run(s_shaped_prior):
    """The running sums hold the rows older than the report record's window, and with the
    record's rows (never corrected, so complete) they are the sums over the whole run."""
    window = 3
    # No weekly profile: these rows trend, and the sums here are the rows as reported.
    params = {"discount": 0.9, "s_shaped_prior": s_shaped_prior, "report_window": window}
    policy = make_policy("curve", params | {"season_period": 0})
    state = policy.init(3, {"budget": 3000.0, "timesteps": 30, "seed": 5})
    spends, values = [], []
    for step in range(9):
        spend = state["budgets"]
        revenue = [20 * s**2 / (100**2 + s**2) + step for s in spend]
        spends.append(spend)
        values.append(revenue)
        report = {"spend": spend, "revenue": revenue}
        state, _ = policy.advance(json.loads(json.dumps(state)), report)
    ff, fy = curve_sums_by_hand(policy, spends, values, 3000.0, 30)
    left = len(spends) - window
    ff_left, fy_left = curve_sums_by_hand(policy, spends[:left], values[:left], 3000.0, 30)
    assert state["stats"]["rows"] == 9
    assert np.allclose(curve_grid(state, policy, "ff"), 0.9**window * ff_left, rtol=1e-12)
    assert np.allclose(curve_grid(state, policy, "fy"), 0.9**window * fy_left, rtol=1e-12)
    sums = {key: curve_grid(state, policy, key) for key in ("ff", "fy")}
    sums |= {key: np.array(state["stats"][key]) for key in ("yy", "count")}
    read = policy.with_young(sums, state["stats"]["reports"], 3000.0 / 30 / 3, 8)
    assert np.allclose(read["ff"], ff, rtol=1e-12)
    assert np.allclose(read["fy"], fy, rtol=1e-12)
    assert ff.shape == (3, policy.params["grid_size"] * (2 if s_shaped_prior else 1))


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_a_state_does_not_grow_with_the_run_but_for_rps_prices(name):
    k = 2 if name == "rps" else 5
    policy = make_policy(name)
    state = policy.init(k, {"budget": 90_000.0, "timesteps": 90, "seed": 1})
    sizes = []
    for _ in range(40):
        spend = state["budgets"]
        report = {"spend": spend, "revenue": [x**0.5 for x in spend], "clicks": [9.0] * k}
        state, _ = policy.advance(state, report)
        sizes.append(len(json.dumps(state)))
    # From once `curve`'s report record holds its window of latest rows (8 timesteps) and
    # its weekly profile has learnt every day of the week from rows that left the record.
    growth = sizes[-1] - sizes[20]
    # The RPS band rule reads a window of its price streams: two numbers a timestep.
    assert growth > 34 * 2 * 10 if name == "rps" else abs(growth) < 200


def test_a_state_made_with_other_curve_parameters_is_rejected():
    policy = make_policy("curve", {"discount": 0.9})
    state = policy.init(3, {"budget": 3000.0, "timesteps": 30, "seed": 5})
    report = {"spend": state["budgets"], "revenue": [100.0, 50.0, 80.0]}
    state, _ = policy.advance(state, report)
    with pytest.raises(EngineError, match="other curve parameters"):
        make_policy("curve", {"discount": 0.5}).advance(state, report)
    for broken in ("not base64!", "AAAA"):
        with pytest.raises(EngineError):
            policy.advance({**state, "stats": {**state["stats"], "ff": broken}}, report)
    with pytest.raises(EngineError, match="malformed"):
        policy.advance({**state, "stats": {"rows": 1}}, report)


def test_curve_with_s_curves_funds_a_campaign_that_pays_off_only_at_high_spend():
    from engine.simulate import make_world, run

    # Hill world where the concave model starves an S-shaped campaign (oracle share 0.42);
    # the default S-curve prior funds it.
    world = make_world("hill", 3, 60, seed=119)
    concave = run("curve", world, 119, params={"s_shaped_prior": 0.0})
    s_shaped = run("curve", world, 119)
    assert s_shaped.efficiency > concave.efficiency + 0.01
    assert s_shaped.shares[:, 2].mean() > concave.shares[:, 2].mean() + 0.05


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_a_version_1_state_with_its_observations_decides_like_the_state_that_learned_live(name):
    k = 2 if name == "rps" else 3
    policy = make_policy(name)
    state = policy.init(k, {"budget": 3000.0, "timesteps": 30, "seed": 2})
    history = {metric: [] for metric in ("spend", "impressions", "clicks", "conversions")}
    history |= {"revenue": [], "planned": []}
    for step in range(6):
        spend = state["budgets"]
        report = {
            "spend": [s * 1.1 for s in spend[:-1]] + [None],
            "clicks": [s / 2 for s in spend],
            "conversions": [s / 20 for s in spend],
            "revenue": [10 * s**0.5 + step if step != 3 else None for s in spend],
        }
        for metric in history:
            values = spend if metric == "planned" else report.get(metric, [None] * k)
            history[metric].append(list(values))
        state, _ = policy.advance(state, report)
    old = {key: value for key, value in state.items() if key != "stats"}
    old = json.loads(json.dumps({**old, "version": 1, "history": history}))
    report = {"spend": state["budgets"], "revenue": [50.0] * k, "clicks": [9.0] * k}
    live, allocation = policy.advance(state, report)
    upgraded, again = policy.advance(old, report)
    assert upgraded["version"] == 2 and "history" not in upgraded
    assert upgraded["stats"] == live["stats"]
    assert again["shares"] == pytest.approx(allocation["shares"], abs=1e-9)
    with pytest.raises(EngineError, match="version 1 state is malformed"):
        policy.advance({**old, "history": {"spend": []}}, report)
