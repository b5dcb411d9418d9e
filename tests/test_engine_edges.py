"""Engine edge cases at extreme magnitudes: allocators and policies stay right, not just finite."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import EngineError, make_policy
from engine.allocator import allocate_budget
from engine.context import Context
from engine.negexp_allocator import allocate_negexp, allocate_negexp_blend, blend_tangent
from engine.policies.thompson import sample_returns
from engine.response import MichaelisMentenCurves, NegExpCurves


def negexp_value(alpha: np.ndarray, mu: np.ndarray, spend: np.ndarray) -> np.ndarray:
    return (alpha * -np.expm1(-mu * spend)).sum(axis=-1)


def test_blend_allocator_is_right_far_up_the_curves():
    # mu * upper = 1000: exp(-mu * upper) underflows, the optimum still splits evenly.
    alpha, mu = np.array([[1.0, 2.0]]), np.array([[1.0, 1.0]])
    lower, upper = np.zeros(2), np.full(2, 1000.0)
    spend = allocate_negexp_blend(alpha, mu, np.zeros((1, 2)), 1000.0, lower, upper)
    exact = allocate_negexp(alpha, mu, 1000.0, lower, upper)
    np.testing.assert_allclose(spend, exact, rtol=1e-12)
    assert negexp_value(alpha, mu, spend)[0] == pytest.approx(3.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(1, 4), st.floats(0.0, 4.0), st.integers(0, 2**32 - 1))
def test_blend_allocator_without_s_curves_matches_the_closed_form(size, draws, reach, seed):
    # mu * upper around 10 ** reach: 1 .. 1e4, where exp(-mu * upper) underflows from ~745.
    rng = np.random.default_rng(seed)
    budget = 100.0 * size
    upper = np.full(size, budget)
    lower = np.zeros(size)
    mu = 10.0**reach * rng.uniform(0.5, 2.0, (draws, size)) / budget
    alpha = rng.lognormal(0.0, 1.0, (draws, size))
    spend = allocate_negexp_blend(alpha, mu, np.zeros((draws, size)), budget, lower, upper)
    exact = allocate_negexp(alpha, mu, budget, lower, upper)
    np.testing.assert_allclose(spend, exact, rtol=1e-9, atol=1e-9 * budget)


def log_envelope_marginal(alpha, mu, blend, spend):
    """Log marginal of the concave envelope of alpha * (1 - z)(1 - w z), z = exp(-mu * spend),
    in log space so that it stays exact where the marginal itself underflows."""
    tangent = np.array([blend_tangent(value) for value in blend])
    log_z = np.minimum(-mu * spend, -tangent)
    return np.log(alpha * mu) + log_z + np.log(1 + blend - 2 * blend * np.exp(log_z))


@settings(max_examples=20, deadline=None)
@given(st.integers(60, 200), st.integers(0, 2**32 - 1))
def test_blend_allocator_is_optimal_on_draws_like_the_curve_policys(size, seed):
    # The curve policy draws mu = 1 / (scale * budget / K) on scales from 0.05 up, concave
    # (w = 0) or S-shaped (w = 1): mu * budget = K / scale passes 745 from K = 38 on; here
    # every campaign is drawn near the smallest scale, as when all saturate early.
    rng = np.random.default_rng(seed)
    budget = 1000.0
    scale = np.geomspace(0.05, 50.0, 40)[rng.integers(0, 3, (4, size))]
    mu = size / (scale * budget)
    alpha = rng.lognormal(0.0, 1.0, (4, size))
    blend = rng.choice([0.0, 1.0], (4, size), p=[0.8, 0.2])
    lower, upper = np.zeros(size), np.full(size, budget)
    batch = allocate_negexp_blend(alpha, mu, blend, budget, lower, upper)
    for draw in range(4):
        spend = batch[draw]
        assert spend.sum() == pytest.approx(budget, rel=1e-9)
        log_marginal = log_envelope_marginal(alpha[draw], mu[draw], blend[draw], spend)
        # No campaign that could take budget has a higher marginal than one that could give.
        can_give = spend > lower + 1e-6 * budget
        can_take = spend < upper - 1e-6 * budget
        assert log_marginal[can_take].max() <= log_marginal[can_give].min() + 1e-6


def test_kkt_solver_does_not_give_the_budget_to_a_worthless_campaign():
    # A subnormal marginal at an upper bound made the multiplier bracket's ratio overflow.
    curves = MichaelisMentenCurves([1e-310, 1.0], [1.0, 1.0])
    spend = allocate_budget(curves, 1.0)
    assert spend[1] == pytest.approx(1.0, rel=1e-9)
    curves = NegExpCurves([1.0, 1e6], [1.0, 0.1])
    spend = allocate_budget(curves, 700.0)
    assert curves.response(spend).sum() == pytest.approx(1e6 + 1.0, rel=1e-9)


def no_transfer_improves(curves, spend: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
    """No move of part of one campaign's spend to another raises the total response."""
    value = curves.response(spend).sum()
    for giver in range(spend.size):
        for taker in range(spend.size):
            room = min(spend[giver] - lower[giver], upper[taker] - spend[taker])
            if giver == taker or room <= 0:
                continue
            for part in (1e-3, 0.1, 1.0):
                moved = spend.copy()
                moved[giver] -= part * room
                moved[taker] += part * room
                assert curves.response(moved).sum() <= value * (1 + 1e-9)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from([NegExpCurves, MichaelisMentenCurves]),
    st.lists(st.floats(-315.0, 10.0), min_size=2, max_size=6),
    st.integers(0, 2**32 - 1),
    st.floats(-2.0, 4.0),
)
def test_kkt_solver_is_optimal_at_extreme_magnitudes(family, log_alpha, seed, log_budget):
    rng = np.random.default_rng(seed)
    size = len(log_alpha)
    alpha = 10.0 ** np.asarray(log_alpha)
    shape = 10.0 ** rng.uniform(-3.0, 3.0, size)
    budget = 10.0**log_budget
    lower = np.zeros(size)
    upper = np.where(rng.random(size) < 0.5, budget, np.inf)
    curves = family(alpha, shape)
    spend = allocate_budget(curves, budget, lower, upper)
    assert spend.sum() == pytest.approx(budget, rel=1e-9)
    no_transfer_improves(curves, spend, lower, np.minimum(upper, budget))


RETURNS_POLICIES = [
    ("softmax", None),
    ("epsilon_greedy", {"epsilon": 0.0}),
    ("ucb", None),
    ("optimistic", None),
]
SETTINGS = {"budget": 1000.0, "timesteps": 10, "step": 1.0, "seed": 1}


@pytest.mark.parametrize(("name", "params"), RETURNS_POLICIES)
def test_returns_policies_treat_a_vanishing_pooled_return_as_no_value_reported(name, params):
    # Total value 5e-324 over a spend of 100: the pooled return underflows to 0.
    policy = make_policy(name, params)
    state, _ = policy.advance(
        policy.init(2, SETTINGS), {"spend": [50.0, 50.0], "revenue": [0.0, 5e-324]}
    )
    assert state["shares"] == [0.5, 0.5]


# Policies without an exploration bonus, which follow the returns alone (the first Oktopus
# API's step rule: the split rule reads an untried campaign as an average one).
@pytest.mark.parametrize(("name", "params"), RETURNS_POLICIES[:2])
def test_returns_policies_read_no_value_at_a_vanishing_spend_as_a_zero_return(name, params):
    # spend * pooled underflows to 0 for campaign 0: its rate was 0 / 0.
    policy = make_policy(name, (params or {}) | {"rule": "step"})
    state, _ = policy.advance(
        policy.init(2, SETTINGS), {"spend": [5e-324, 50.0], "revenue": [0.0, 1e-10]}
    )
    assert np.all(np.isfinite(state["shares"]))
    json.dumps(state, allow_nan=False)
    assert state["shares"][1] >= 0.5


@pytest.mark.parametrize(("name", "params"), RETURNS_POLICIES)
@pytest.mark.parametrize(
    "report",
    [
        {"spend": [5e-324, 50.0], "revenue": [0.0, 1e-10]},
        {"spend": [1e-300, 50.0], "revenue": [1e150, 1e-300]},
        {"spend": [50.0, 50.0], "revenue": [1e150, 1e150]},
    ],
)
def test_returns_policies_split_extreme_reports_into_finite_shares(name, params, report):
    policy = make_policy(name, params)
    state, _ = policy.advance(policy.init(2, SETTINGS), report)
    state, _ = policy.advance(state, report)
    assert np.all(np.isfinite(state["shares"])) and sum(state["shares"]) == pytest.approx(1.0)
    json.dumps(state, allow_nan=False)


@pytest.mark.parametrize(
    "report",
    [
        {"spend": [50.0, 50.0], "clicks": [1e-310, 1.0]},  # cost per click overflows
        {"spend": [1e-300, 50.0], "clicks": [1e100, 1.0]},  # cost per click underflows
    ],
)
def test_rps_leaves_out_a_cost_per_click_that_is_not_finite_and_positive(report):
    policy = make_policy("rps")
    state, _ = policy.advance(policy.init(2, SETTINGS), report, [False, False])
    assert state["stats"]["cost_per_click"] == [[], []]
    json.dumps(state, allow_nan=False)
    for _ in range(3):
        state, _ = policy.advance(state, {"spend": state["budgets"], "clicks": [10.0, 20.0]})
    assert state["stats"]["cost_per_click"][0]  # priced again, and advancing
    json.dumps(state, allow_nan=False)


def sampler_context(objective: str, **sums: list[float]) -> Context:
    """A two-campaign context holding the running sums `sample_returns` reads."""
    stats = make_policy("thompson").initial_stats(2, {}) | sums
    return Context(
        t=1,
        observed={},
        previous=np.array([0.5, 0.5]),
        active=np.array([True, True]),
        lower=np.zeros(2),
        upper=np.ones(2),
        budget=100.0,
        settings={"objective": objective},
        params={},
        stats=stats,
    )


@pytest.mark.parametrize("name", ["thompson", "step_thompson"])
def test_thompson_samples_clicks_that_all_converted_beyond_2_to_the_53(name):
    # 1 + clicks - conversions rounded to 0 at clicks = conversions = 1e16: beta(b=0) raised.
    policy = make_policy(name)
    report = {"spend": [50.0, 50.0], "clicks": [1e16, 10.0], "conversions": [1e16, 1.0]}
    state, _ = policy.advance(policy.init(2, SETTINGS), report)
    assert state["shares"][0] > 0.5


def test_thompson_draws_stay_finite_when_every_revenue_is_zero():
    # Conversions but no revenue: the revenue per conversion, 0, made every count 0 / 0.
    context = sampler_context(
        "revenue",
        paired_conversions=[5.0, 5.0],
        exposure=[50.0, 50.0],
    )
    draw, mean = sample_returns(context, np.random.default_rng(0), 1.0)
    assert np.all(np.isfinite(draw)) and np.all(draw > 0)
    np.testing.assert_array_equal(mean, mean[0])  # nothing tells the campaigns apart


# --- States edited by hand -------------------------------------------------------------------

_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
_STATE_KEYS = [
    "t",
    "remaining",
    "spent",
    "shares",
    "budgets",
    "previous_shares",
    "active",
    "rng",
    "settings",
    "timestep_budget",
    "done",
]


@pytest.mark.parametrize("name", ["curve", "thompson", "ucb", "softmax", "rps"])
@settings(max_examples=60, deadline=None)
@given(key=st.sampled_from(_STATE_KEYS), value=_JSON_VALUES)
def test_a_state_edited_by_hand_fails_with_engine_error_or_not_at_all(name, key, value):
    """The API answers EngineError with 422; any other exception from a corrupted stored
    state would be a 500 on every later `next` of that state."""
    policy = make_policy(name)
    state = policy.init(2, {"budget": 100.0, "timesteps": 10, "seed": 1})
    state, _ = policy.advance(state, {"spend": [5.0, 5.0], "clicks": [10.0, 4.0]})
    state = {**json.loads(json.dumps(state)), key: value}
    try:
        policy.advance(state, {"spend": [5.0, 5.0], "clicks": [10.0, 4.0]})
        policy.rebalance(state, [True, False])
    except EngineError:
        pass
