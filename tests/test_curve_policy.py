"""The `curve` policy's parameters, statistics, posterior and draws: what its tests must see."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine import EngineError, make_policy
from engine.context import Context
from engine.negexp_allocator import allocate_negexp, allocate_negexp_blend
from engine.policies.curve import unit_curve

SETTINGS = {"budget": 3000.0, "timesteps": 10, "seed": 3}


def _run(policy, reports: list[dict], n: int = 3, settings: dict = SETTINGS) -> dict:
    state = policy.init(n, settings)
    for report in reports:
        state, _ = policy.advance(state, {"spend": state["budgets"], **report})
    return state


def _context(policy, state: dict) -> Context:
    n = len(state["shares"])
    return Context(
        t=state["t"],
        observed={},
        previous=np.array(state["shares"]),
        active=np.ones(n, dtype=bool),
        lower=np.zeros(n),
        upper=np.ones(n),
        budget=state["timestep_budget"],
        settings=state["settings"],
        params=policy.params,
        stats=state["stats"],
    )


REPORTS = [
    {"revenue": [300.0, 120.0, 40.0]},
    {"revenue": [310.0, 100.0, 60.0]},
    {"revenue": [280.0, 140.0, 30.0]},
]


def test_an_empty_scale_range_is_refused():
    with pytest.raises(EngineError, match="scale_min"):
        make_policy("curve", {"scale_min": 2.0, "scale_max": 2.0})
    make_policy("curve", {"scale_min": 1.0, "scale_max": 2.0})


def test_statistics_edited_out_of_step_with_the_run_are_refused():
    policy = make_policy("curve")
    state = _run(policy, REPORTS[:2])
    state["stats"]["rows"] = 1
    with pytest.raises(EngineError, match="timestep counter"):
        policy.advance(state, {"spend": state["budgets"], "revenue": [1.0, 1.0, 1.0]})
    state["stats"]["rows"] = 2
    state["stats"]["signature"] = [0.0]
    with pytest.raises(EngineError, match="other curve parameters"):
        policy.advance(state, {"spend": state["budgets"], "revenue": [1.0, 1.0, 1.0]})


def test_value_total_sums_the_reported_values_only():
    # Without a report record every row goes straight into the running sums.
    policy = make_policy("curve", {"report_window": 0})
    state = _run(policy, [{"revenue": [10.0, 20.0, None]}, {"revenue": [1.5, None, 2.5]}])
    assert state["stats"]["value_total"] == 34.0
    assert state["stats"]["value_cells"] == 4.0
    assert state["stats"]["count"] == [2.0, 1.0, 1.0]


def test_all_zero_revenue_gives_a_finite_posterior_without_warnings():
    policy = make_policy("curve")
    state = _run(policy, [{"revenue": [0.0, 0.0, 0.0]}] * 2)  # warnings fail the suite
    post = policy.posterior(_context(policy, state))
    assert post["value_unit"] == 1.0
    for key in ("grid", "mean", "kappa", "scale"):
        assert np.all(np.isfinite(post[key])), key
    assert np.all(np.isfinite(state["shares"]))


def test_tiny_values_are_scaled_to_their_mean():
    policy = make_policy("curve")
    state = _run(policy, [{"revenue": [3e-6, 1e-6, 2e-6]}])
    post = policy.posterior(_context(policy, state))
    assert post["value_unit"] == pytest.approx(2e-6)


def test_pooling_shares_what_the_campaigns_learnt():
    posts = []
    for pooling in (0.0, 1.0):
        policy = make_policy("curve", {"pooling": pooling, "s_shaped_prior": 0.0})
        state = _run(policy, REPORTS)
        posts.append(policy.posterior(_context(policy, state))["grid"])
    assert not np.allclose(posts[0], posts[1], atol=1e-6)
    for grid in posts:
        assert grid.sum(axis=1) == pytest.approx(np.ones(3))


def test_sampled_amplitudes_stay_positive_for_a_campaign_that_earned_nothing():
    policy = make_policy("curve")
    state = _run(policy, [{"revenue": [500.0, 0.0, 400.0]}] * 3)
    post = policy.posterior(_context(policy, state))
    alpha, mu, _ = policy.sample_curves(post, np.random.default_rng(0), 400)
    assert np.all(alpha > 0) and np.all(mu > 0)
    assert alpha.shape == (400, 3)


def test_s_curve_draws_follow_the_median_of_their_allocations(monkeypatch):
    policy = make_policy("curve", {"decision": "mean", "s_shaped_prior": 0.4, "draws": 5})
    state = _run(policy, REPORTS)
    context = _context(policy, state)
    budget = context.budget
    alpha = np.array([[900.0, 900.0, 900.0]] * 4 + [[5000.0, 10.0, 10.0]])
    mu = np.full((5, 3), 3.0 / budget)
    blend = np.ones((5, 3))
    monkeypatch.setattr(policy, "sample_curves", lambda *args, **kwargs: (alpha, mu, blend))
    spend = allocate_negexp_blend(alpha, mu, blend, budget, np.zeros(3), np.full(3, budget))
    median = np.median(spend, axis=0)
    proposed = policy.propose(context, np.random.default_rng(0))
    assert proposed == pytest.approx(median / median.sum())
    assert not np.allclose(proposed, spend.mean(axis=0) / budget, atol=1e-3)


def test_decisions_do_not_depend_on_the_currency_unit():
    """Spend is measured in equal shares of the timestep budget and value in its mean: the
    same run in cents instead of euros allocates the same shares."""
    shares = []
    for unit in (1.0, 100.0):
        policy = make_policy("curve")
        state = policy.init(3, {**SETTINGS, "budget": SETTINGS["budget"] * unit})
        for report in REPORTS:
            revenue = [value * unit for value in report["revenue"]]
            state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": revenue})
        shares.append(state["shares"])
    assert shares[0] == pytest.approx(shares[1], abs=1e-9)


def test_without_s_curves_every_draw_is_concave():
    policy = make_policy("curve", {"s_shaped_prior": 0.0})
    state = _run(policy, REPORTS)
    _, _, blend = policy.sample_curves(
        policy.posterior(_context(policy, state)), np.random.default_rng(1), 50
    )
    assert np.all(blend == 0.0)
    policy = make_policy("curve", {"s_shaped_prior": 0.4, "s_blend": 0.8})
    state = _run(policy, REPORTS)
    _, _, blend = policy.sample_curves(
        policy.posterior(_context(policy, state)), np.random.default_rng(1), 400
    )
    assert set(np.unique(blend)) == {0.0, 0.8}


def test_the_noise_posterior_counts_every_observation():
    policy = make_policy("curve")
    state = _run(policy, [{"revenue": [300.0, None, 40.0]}, {"revenue": [310.0, 100.0, 60.0]}])
    post = policy.posterior(_context(policy, state))
    assert post["shape"] == pytest.approx(1.0 + 0.5 * np.array([2.0, 1.0, 2.0]))


def test_the_amplitude_posterior_after_one_equal_split():
    """Spent at an equal share, every scale's feature is 1: the posterior mean of each
    campaign's amplitude is its value (in units of the mean value) shrunk to the prior's 1
    (a fixed prior weight; by default it follows the noise: tests/test_curve_calibration.py)."""
    policy = make_policy("curve", {"prior_weight": 0.25})
    state = _run(policy, [{"revenue": [300.0, 120.0, 40.0]}])
    post = policy.posterior(_context(policy, state))
    kappa0 = policy.params["prior_weight"]
    values = np.array([300.0, 120.0, 40.0]) / (460.0 / 3)
    expected = (kappa0 + values) / (kappa0 + 1.0)
    assert post["mean"] == pytest.approx(np.repeat(expected[:, None], post["mean"].shape[1], 1))
    # and the noise scale grows by the Normal-inverse-gamma update: the squared distance of
    # each value from the prior's 1, weighed kappa0 / (kappa0 + 1), halved
    grown = 0.01 + 0.5 * kappa0 * (values - 1.0) ** 2 / (kappa0 + 1.0)
    assert post["scale"] == pytest.approx(np.repeat(grown[:, None], post["scale"].shape[1], 1))


@pytest.mark.parametrize("name", ["scale_min", "scale_max", "prior_weight", "scale_spread"])
def test_parameters_that_must_be_positive_refuse_zero(name):
    # refused by the parameter's own range, not by a later check that happens to name it
    with pytest.raises(EngineError, match=rf"'{name}' must be in \(0, inf\]"):
        make_policy("curve", {name: 0.0})
    small = {"scale_min": 1e-4} if name == "scale_max" else {}
    make_policy("curve", {**small, name: 1e-3})


def test_one_draw_of_each_curve_by_default():
    policy = make_policy("curve")
    state = _run(policy, REPORTS[:1])
    post = policy.posterior(_context(policy, state))
    alpha, mu, blend = policy.sample_curves(post, np.random.default_rng(0))
    assert alpha.shape == mu.shape == blend.shape == (1, 3)
    assert np.all(alpha > 0) and np.all(mu > 0)


def test_concave_draws_propose_the_mean_of_their_allocations_as_shares():
    policy = make_policy("curve", {"decision": "mean", "s_shaped_prior": 0.0})
    context = _context(policy, _run(policy, REPORTS))
    shares = policy.propose(context, np.random.default_rng(5))
    post = policy.posterior(context)
    alpha, mu, blend = policy.sample_curves(post, np.random.default_rng(5), policy.params["draws"])
    assert not blend.any()
    budget = context.budget
    spend = allocate_negexp(alpha, mu, budget, context.lower * budget, context.upper * budget)
    assert shares.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(shares, spend.mean(axis=0) / budget, rtol=1e-12)


def test_draws_are_bounded_to_64():
    assert make_policy("curve", {"draws": 64}).params["draws"] == 64
    with pytest.raises(EngineError, match="draws"):
        make_policy("curve", {"draws": 65})


def test_a_discount_of_zero_is_refused():
    with pytest.raises(EngineError, match="discount"):
        make_policy("curve", {"discount": 0.0})
    assert make_policy("curve", {"discount": 1e-3}).params["discount"] == 1e-3


def test_draws_are_in_the_run_value_units():
    # Campaigns earning 300, 120 and 40 a timestep at equal shares: the drawn curves' values
    # at an equal share sit around those amounts (the mean value, 153, is the unit).
    policy = make_policy("curve")
    state = _run(policy, REPORTS)
    post = policy.posterior(_context(policy, state))
    alpha, mu, blend = policy.sample_curves(post, np.random.default_rng(0), 400)
    value = alpha * unit_curve(post["spend_unit"], 1.0 / mu, blend)
    typical = np.median(value, axis=0)
    assert np.all(typical > [200.0, 80.0, 25.0]) and np.all(typical < [400.0, 160.0, 80.0])


def test_the_last_grid_curve_can_be_drawn():
    policy = make_policy("curve")
    state = _run(policy, REPORTS)
    post = dict(policy.posterior(_context(policy, state)))
    last = np.zeros_like(post["grid"])
    last[:, -1] = 1.0
    post["grid"] = last
    _, mu, blend = policy.sample_curves(post, np.random.default_rng(0), 8)
    np.testing.assert_allclose(mu, 1.0 / (policy.grid_scales[-1] * post["spend_unit"]))
    assert np.all(blend == policy.grid_blends[-1])


def test_half_of_the_draws_s_shaped_is_enough_to_follow_the_median(monkeypatch):
    policy = make_policy("curve", {"decision": "mean", "s_shaped_prior": 0.4, "draws": 4})
    state = _run(policy, REPORTS)
    context = _context(policy, state)
    budget = context.budget
    alpha = np.array([[900.0, 900.0, 900.0]] * 3 + [[5000.0, 10.0, 10.0]])
    mu = np.full((4, 3), 3.0 / budget)
    blend = np.array([[1.0] * 3, [0.0] * 3, [1.0] * 3, [0.0] * 3])
    monkeypatch.setattr(policy, "sample_curves", lambda *args, **kwargs: (alpha, mu, blend))
    spend = allocate_negexp_blend(alpha, mu, blend, budget, np.zeros(3), np.full(3, budget))
    median = np.median(spend, axis=0)
    assert not np.allclose(median / median.sum(), spend.mean(axis=0) / budget, atol=1e-3)
    proposed = policy.propose(context, np.random.default_rng(0))
    assert proposed == pytest.approx(median / median.sum())


def test_statistics_made_before_the_report_record_are_still_read():
    # Sums made before the report record were signed without its window and hold no record.
    policy = make_policy("curve")
    state = _run(policy, REPORTS[:1])
    old = {key: value for key, value in state["stats"].items() if key != "reports"}
    old["signature"] = old["signature"][:-1]
    state["stats"] = old
    state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [1.0, 2.0, 3.0]})
    assert state["stats"]["rows"] == 2 and state["stats"]["signature"] == policy.signature


def test_after_one_report_no_discount_has_anything_to_forget():
    posts = []
    for discount in (1.0, 0.5):
        policy = make_policy("curve", {"discount": discount})
        state = _run(policy, REPORTS[:2])
        posts.append(policy.posterior(_context(policy, state)))
    # the latest report counts fully at any discount; the one before at the discount
    assert not np.allclose(posts[0]["kappa"], posts[1]["kappa"])
    policy = make_policy("curve", {"discount": 0.5})
    fresh = make_policy("curve")
    one = [p.posterior(_context(p, _run(p, REPORTS[:1]))) for p in (policy, fresh)]
    for key in ("kappa", "mean", "shape", "scale", "grid"):
        np.testing.assert_allclose(one[0][key], one[1][key], rtol=1e-12)


def test_conversions_left_unreported_add_nothing_to_the_count():
    policy = make_policy("curve")
    report = {"revenue": [300.0, 120.0, 40.0], "conversions": [3.0, None, 1.0]}
    state = _run(policy, [report])
    assert state["stats"]["conversions"] == 4.0
    assert state["stats"]["counted_value"] == 340.0


def test_a_grid_a_little_short_of_one_still_draws_a_grid_curve():
    # Weights summing a rounding error short of 1 leave uniforms above the last cumulative
    # weight; those draws take the last grid curve (here exaggerated to 1e-3 short).
    policy = make_policy("curve")
    state = _run(policy, REPORTS)
    post = dict(policy.posterior(_context(policy, state)))
    post["grid"] = post["grid"] * (1 - 1e-3)
    _, mu, blend = policy.sample_curves(post, np.random.default_rng(0), 4000)
    scales = 1.0 / (mu * post["spend_unit"])
    assert np.all(np.isin(np.round(scales, 9), np.round(policy.grid_scales, 9)))
    assert np.any(np.isclose(scales, policy.grid_scales[-1]) & (blend == policy.grid_blends[-1]))


def test_amplitude_draws_follow_the_posterior_student_t():
    # One grid curve with amplitude mean 10, weight kappa 1 and noise inverse-gamma(3, 0.5):
    # the amplitude at an equal share has variance scale / ((shape - 1) * kappa) = 0.25.
    policy = make_policy("curve")
    state = _run(policy, REPORTS)
    post = dict(policy.posterior(_context(policy, state)))
    grid = np.zeros_like(post["grid"])
    grid[:, 5] = 1.0
    post.update(grid=grid, value_unit=np.array(1.0))
    for key, value in (("mean", 10.0), ("kappa", 1.0), ("scale", 0.5)):
        post[key] = np.full_like(post[key], value)
    post["shape"] = np.full(3, 3.0)
    alpha, _, _ = policy.sample_curves(post, np.random.default_rng(0), 20000)
    at_share = alpha * policy.at_equal_share[5]
    assert at_share.mean() == pytest.approx(10.0, abs=0.02)
    assert at_share.var(axis=0) == pytest.approx([0.25] * 3, rel=0.1)


@pytest.mark.parametrize("discount", [1.0, 0.5])
def test_a_step_uses_the_posterior_its_statistics_give_back(monkeypatch, discount):
    """What a step learns is handed to `propose` already decoded; that posterior must be the
    one read back from the statistics it stores (young report rows aged alike)."""
    policy = make_policy("curve", {"discount": discount})
    seen = []
    propose = policy.propose

    def spy(context, rng):
        seen.append(context)
        return propose(context, rng)

    monkeypatch.setattr(policy, "propose", spy)
    state = _run(policy, REPORTS)
    context = seen[-1]
    live = policy.posterior(context)
    stored = policy.posterior(replace(context, stats=state["stats"], learned=None))
    for key in ("grid", "mean", "kappa", "scale"):
        np.testing.assert_allclose(live[key], stored[key], rtol=1e-10)


def test_when_every_median_is_zero_the_mean_of_the_draws_is_proposed(monkeypatch):
    # Five S-shaped draws each fund one campaign alone: every campaign's median is 0.
    policy = make_policy("curve", {"decision": "mean", "s_shaped_prior": 0.4, "draws": 5})
    state = _run(policy, REPORTS)
    context = _context(policy, state)
    budget = context.budget
    alpha = np.array([[5000.0, 10.0, 10.0], [10.0, 5000.0, 10.0], [10.0, 10.0, 5000.0]] * 2)[:5]
    mu = np.full((5, 3), 3.0 / budget)
    blend = np.ones((5, 3))
    monkeypatch.setattr(policy, "sample_curves", lambda *args, **kwargs: (alpha, mu, blend))
    spend = allocate_negexp_blend(alpha, mu, blend, budget, np.zeros(3), np.full(3, budget))
    assert np.all(np.median(spend, axis=0) == 0)
    proposed = policy.propose(context, np.random.default_rng(0))
    assert proposed == pytest.approx(spend.mean(axis=0) / budget)


def test_the_grid_is_bounded_to_200_scales():
    assert make_policy("curve", {"grid_size": 200}).scales.size == 200
    with pytest.raises(EngineError, match="grid_size"):
        make_policy("curve", {"grid_size": 201})


def test_a_discount_above_one_is_refused():
    with pytest.raises(EngineError, match=r"'discount' must be in \(0, 1\]"):
        make_policy("curve", {"discount": 1.5})
    make_policy("curve", {"discount": 1.0})


def test_the_posterior_weights_may_change_mid_run_and_the_sums_may_not():
    from engine.amend import retune

    policy = make_policy("curve")
    state = _run(policy, REPORTS[:1])
    changed = {
        "prior_weight": 2.0,
        "amplitude_spread": 1.5,
        "pooling": 0.3,
        "draws": 8,
        "scale_spread": 0.8,
    }
    tuned, _ = retune(policy, state, params=changed)
    assert all(tuned.params[name] == value for name, value in changed.items())
    with pytest.raises(EngineError, match="grid_size"):
        retune(policy, state, params={"grid_size": 20})
