"""The `curve` policy at its edges: defaults and ranges, the curve family, old statistics,
the value unit's bounds, long runs, bounded and tiny budgets, and the noise prior's inputs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine import EngineError, make_policy
from engine.negexp_allocator import allocate_negexp_blend
from engine.policies.curve import unit_curve
from tests.test_curve_policy import _context, _run

REPORTS = [
    {"revenue": [300.0, 120.0, 40.0]},
    {"revenue": [310.0, 100.0, 60.0]},
    {"revenue": [280.0, 140.0, 30.0]},
]


def test_the_parameters_defaults():
    assert make_policy("curve").params == {
        "grid_size": 40,
        "scale_min": 0.05,
        "scale_max": 50.0,
        "prior_weight": None,
        "amplitude_spread": 1.0,
        "scale_spread": None,
        "pooling": 0.5,
        "discount": 1.0,
        "draws": 16,
        "s_shaped_prior": None,
        "s_blend": 1.0,
        "report_window": 8,
        "shared_factor": 0.0,
        "season_period": 7,
        "decision": "ids",
    }


@pytest.mark.parametrize(
    ("name", "refused", "accepted"),
    [
        ("amplitude_spread", 0.0, 1e-3),
        ("pooling", 1.5, 1.0),
        ("draws", 0, 1),
        ("s_blend", 1.5, 1.0),
        ("report_window", 61, 60),
        ("shared_factor", 1.5, 1.0),
        ("season_period", 367, 366),
    ],
)
def test_the_parameters_ranges(name, refused, accepted):
    with pytest.raises(EngineError, match=name):
        make_policy("curve", {name: refused})
    assert make_policy("curve", {name: accepted}).params[name] == accepted


def test_the_curve_family_is_negexp_at_blend_zero_and_s_shaped_at_one():
    c = 1.0 - np.exp(-1.0)
    assert unit_curve(1.0, 1.0, 0.0) == pytest.approx(c)
    assert unit_curve(1.0, 1.0, 1.0) == pytest.approx(c * c)
    assert unit_curve(1.0, 2.0, 0.5) == pytest.approx(-np.expm1(-0.5) * (1 - 0.5 * np.exp(-0.5)))
    # the squared negexp grows like x^2 at low spend, and saturates at 1
    assert unit_curve(1e-3, 1.0, 1.0) == pytest.approx(1e-6, rel=2e-3)
    assert unit_curve(50.0, 1.0, 1.0) == pytest.approx(1.0)


def test_old_statistics_signed_otherwise_are_refused():
    """Statistics without a report record are read under the signature without its window
    only: any other signature is refused, with or without a record."""
    policy = make_policy("curve")
    state = _run(policy, REPORTS[:1])
    old = {key: value for key, value in state["stats"].items() if key != "reports"}
    old["signature"] = [*old["signature"][:-1], 99.0]
    report = {"spend": state["budgets"], "revenue": [1.0, 2.0, 3.0]}
    with pytest.raises(EngineError, match="other curve parameters"):
        policy.advance({**state, "stats": old}, report)
    cut = {**state["stats"], "signature": state["stats"]["signature"][:-1]}
    with pytest.raises(EngineError, match="other curve parameters"):
        policy.advance({**state, "stats": cut}, report)


@pytest.mark.parametrize("value", [1e-150, 1e150])
def test_values_at_the_value_units_bounds_are_left_unscaled(value):
    policy = make_policy("curve")
    state = _run(policy, [{"revenue": [value, value]}], n=2)
    assert policy.posterior(_context(policy, state))["value_unit"] == 1.0
    # a third of the way inside either bound, values are scaled to their mean
    near = value * 3 if value < 1 else value / 3
    inside = _run(policy, [{"revenue": [near, near]}], n=2)
    assert policy.posterior(_context(policy, inside))["value_unit"] == pytest.approx(near)


def test_the_value_unit_of_one_observed_cell_is_that_value():
    policy = make_policy("curve")
    state = _run(policy, [{"revenue": [300.0, None, None]}])
    assert policy.posterior(_context(policy, state))["value_unit"] == 300.0


def test_a_long_run_keeps_a_finite_posterior():
    """Hundreds of reports make the evidence's logs large: each campaign's likelihood is
    taken relative to its best scale, so none overflows."""
    policy = make_policy("curve", {"draws": 1})
    state = policy.init(3, {"budget": 3000.0, "timesteps": 400})
    state["t"] = 240
    reports = [{"spend": state["budgets"], "revenue": [300.0, 120.0, 40.0]}] * 240
    refolded = policy.refold(state, reports, [state["budgets"]] * 240)
    post = policy.posterior(_context(policy, refolded))
    assert np.all(np.isfinite(post["grid"])) and post["grid"].sum(axis=1) == pytest.approx(1.0)


def test_a_proposal_keeps_the_lower_bounds_it_is_given():
    policy = make_policy("curve", {"s_shaped_prior": 0.0})
    state = _run(policy, REPORTS)
    context = replace(_context(policy, state), lower=np.array([0.0, 0.0, 0.5]))
    proposed = policy.propose(context, np.random.default_rng(0))
    assert proposed[2] >= 0.5 - 1e-9 and proposed.sum() == pytest.approx(1.0)


def _s_curve_draws(budget: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alpha = np.array([[900.0, 900.0, 900.0]] * 4 + [[5000.0, 10.0, 10.0]])
    return alpha, np.full((5, 3), 3.0 / budget), np.ones((5, 3))


def test_s_curve_draws_follow_their_median_under_one_unit_of_budget(monkeypatch):
    policy = make_policy("curve", {"s_shaped_prior": 0.4, "draws": 5, "decision": "mean"})
    state = _run(policy, REPORTS, settings={"budget": 9.0, "timesteps": 10})
    context = _context(policy, state)
    budget = context.budget
    assert budget < 1.0
    alpha, mu, blend = _s_curve_draws(budget)
    monkeypatch.setattr(policy, "sample_curves", lambda *args, **kwargs: (alpha, mu, blend))
    spend = allocate_negexp_blend(alpha, mu, blend, budget, np.zeros(3), np.full(3, budget))
    median = np.median(spend, axis=0)
    assert not np.allclose(median / median.sum(), spend.mean(axis=0) / budget, atol=1e-3)
    assert policy.propose(context, np.random.default_rng(0)) == pytest.approx(median / median.sum())


def test_a_campaign_drawn_only_concave_follows_the_mean_beside_s_curves(monkeypatch):
    policy = make_policy("curve", {"s_shaped_prior": 0.4, "draws": 5, "decision": "mean"})
    state = _run(policy, REPORTS)
    context = _context(policy, state)
    budget = context.budget
    alpha = np.array([[900.0, 900.0, 10.0]] * 3 + [[900.0, 900.0, 5000.0]] * 2)
    mu = np.full((5, 3), 3.0 / budget)
    blend = np.array([[1.0, 1.0, 0.0]] * 5)
    monkeypatch.setattr(policy, "sample_curves", lambda *args, **kwargs: (alpha, mu, blend))
    spend = allocate_negexp_blend(alpha, mu, blend, budget, np.zeros(3), np.full(3, budget))
    expected = np.array([*np.median(spend[:, :2], axis=0), spend[:, 2].mean()])
    assert abs(np.median(spend[:, 2]) - spend[:, 2].mean()) > 1e-3 * budget
    proposed = policy.propose(context, np.random.default_rng(0))
    assert proposed == pytest.approx(expected / expected.sum())


def test_the_noise_prior_needs_both_conversions_and_their_value():
    policy = make_policy("curve")
    s_yy, count = np.array([4.0, 1.0]), np.array([2.0, 1.0])
    floor = np.full(2, 0.01)
    np.testing.assert_allclose(
        policy.noise_prior({"counted_value": 100.0}, 1.0, s_yy, count), floor
    )
    np.testing.assert_allclose(policy.noise_prior({"conversions": 5.0}, 1.0, s_yy, count), floor)
    # half a conversion (an attributed one) is still counting noise
    half = {"conversions": 0.5, "counted_value": 100.0}
    counting = policy.noise_prior(half, 100.0, s_yy, count)
    np.testing.assert_allclose(counting, 1.5 * 2.0 * np.sqrt(s_yy / count))


def test_statistics_from_before_conversions_were_counted_start_counting_from_zero():
    policy = make_policy("curve")
    state = _run(policy, REPORTS[:1])
    old = {
        key: value
        for key, value in state["stats"].items()
        if key not in ("counted_value", "conversions")
    }
    report = {"spend": state["budgets"], "revenue": [30.0, 20.0, 10.0], "conversions": [3, 2, 1]}
    advanced, _ = policy.advance({**state, "stats": old}, report)
    assert advanced["stats"]["counted_value"] == 60.0
    assert advanced["stats"]["conversions"] == 6.0
