"""The `curve` policy's priors (engine.policies.curve_priors): the grid prior and its candidate
hyperparameters, the amplitude prior's weight, the noise prior, and the posterior grid
weights they give with the campaigns' evidence."""

from __future__ import annotations

import numpy as np
import pytest

from engine import make_policy
from tests.test_curve_policy import SETTINGS, _context, _run

UNEQUAL_SPLITS = [
    {"spend": [100.0, 500.0, 900.0], "revenue": [150.0, 420.0, 60.0]},
    {"spend": [700.0, 200.0, 100.0], "revenue": [600.0, 260.0, 20.0]},
]


def _posterior_and_evidence(policy) -> tuple[dict, np.ndarray]:
    """The posterior after UNEQUAL_SPLITS, and every campaign's marginal likelihood on each
    grid scale s: sqrt(kappa0 / kappa_s) * scale_s ** -shape."""
    state = _run(policy, UNEQUAL_SPLITS)
    post = policy.posterior(_context(policy, state))
    kappa0 = policy.amplitude_weight(state["stats"], float(post["value_unit"]))
    return post, np.sqrt(kappa0 / post["kappa"]) * post["scale"] ** -post["shape"][:, None]


def test_without_data_the_noise_prior_is_its_floor():
    policy = make_policy("curve")
    state = policy.init(3, SETTINGS)
    post = policy.posterior(_context(policy, state))
    assert post["scale"] == pytest.approx(np.full_like(post["scale"], 0.01))
    assert post["shape"] == pytest.approx(np.ones(3))


def test_the_grid_prior_weighs_its_candidates_by_their_evidence():
    policy = make_policy("curve")
    candidates = policy.candidate_priors
    assert candidates.shape[0] > 1
    flat = np.ones((3, candidates.shape[1]))
    assert policy.grid_prior(flat) == pytest.approx(candidates.mean(axis=0))
    fixed = make_policy("curve", {"scale_spread": 0.5, "s_shaped_prior": 0.2})
    assert fixed.grid_prior(flat) == pytest.approx(fixed.candidate_priors[0])


def test_grid_weights_are_each_scales_normal_inverse_gamma_evidence():
    """With a fixed grid prior and no pooling, a campaign's weight on scale s is its prior
    times the marginal likelihood sqrt(kappa0 / kappa_s) * scale_s ** -shape of its data."""
    policy = make_policy("curve", {"pooling": 0.0, "scale_spread": 0.5, "s_shaped_prior": 0.0})
    post, evidence = _posterior_and_evidence(policy)
    assert np.ptp(post["kappa"], axis=1).min() > 0  # the scales see the data differently
    expected = evidence * policy.candidate_priors[0]
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(post["grid"], expected, rtol=1e-9, atol=1e-300)


def test_a_fixed_grid_prior_is_log_normal_around_an_equal_share_split_by_family():
    policy = make_policy("curve", {"scale_spread": 0.5, "s_shaped_prior": 0.2})
    (prior,) = policy.candidate_priors
    size = policy.scales.size
    concave, s_shaped = prior[:size], prior[size:]
    assert concave.sum() == pytest.approx(0.8) and s_shaped.sum() == pytest.approx(0.2)
    shape = np.exp(-0.5 * (np.log(policy.scales) / 0.5) ** 2)
    np.testing.assert_allclose(concave, 0.8 * shape / shape.sum(), rtol=1e-9)
    np.testing.assert_allclose(s_shaped, 0.2 * shape / shape.sum(), rtol=1e-9)


def test_pooling_mixes_the_grid_prior_with_the_campaigns_mean_posterior():
    """grid ∝ likelihood * ((1 - pooling) * prior + pooling * mean over campaigns of each
    campaign's own normalised posterior)."""
    pooling = 0.3
    policy = make_policy("curve", {"pooling": pooling, "scale_spread": 0.5, "s_shaped_prior": 0.0})
    post, likelihood = _posterior_and_evidence(policy)
    prior = policy.candidate_priors[0]
    own = likelihood * prior
    own /= own.sum(axis=1, keepdims=True)
    expected = likelihood * ((1 - pooling) * prior + pooling * own.mean(axis=0))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(post["grid"], expected, rtol=1e-9, atol=1e-300)


def test_value_reported_with_no_conversions_keeps_the_noise_prior_at_its_floor():
    policy = make_policy("curve")
    count, s_yy = np.array([2.0, 1.0]), np.array([4.0, 1.0])
    stats = {"conversions": 0.0, "counted_value": 100.0}
    floor = policy.noise_prior(stats, 1.0, s_yy, count)
    assert np.all(np.isfinite(floor))
    assert floor == pytest.approx(policy.noise_prior({}, 1.0, s_yy, count))


def test_unfixed_hyperparameters_weigh_every_spread_and_s_curve_prior_candidate():
    """Left to the data, the grid prior weighs log-normal spreads 0.5, 0.7, 1, 1.4, 2 and 3
    equal shares against S-curve priors 0.1, 0.2 and 0.4: one candidate per pair."""
    candidates = make_policy("curve").candidate_priors
    expected = [
        make_policy("curve", {"scale_spread": spread, "s_shaped_prior": prior}).candidate_priors[0]
        for spread in (0.5, 0.7, 1.0, 1.4, 2.0, 3.0)
        for prior in (0.1, 0.2, 0.4)
    ]
    np.testing.assert_allclose(candidates, np.array(expected), rtol=1e-12)


def test_the_amplitude_prior_weight_falls_with_the_square_of_its_spread():
    stats = {"conversions": 0.0, "counted_value": 0.0}
    weights = [
        make_policy("curve", {"amplitude_spread": spread}).amplitude_weight(stats, 1.0)
        for spread in (1.0, 2.0)
    ]
    assert weights[0] == pytest.approx(0.01)
    assert weights[1] == pytest.approx(0.01 / 4.0)


def test_the_noise_prior_counts_conversions_per_report():
    """Counting noise: 1.5 x the value of one conversion x a campaign's typical value, over
    the floor; a campaign with no reports is typical at 1."""
    policy = make_policy("curve")
    stats = {"conversions": 10.0, "counted_value": 200.0}  # 20 a conversion
    s_yy, count = np.array([0.04, 0.0, 1e-12]), np.array([1.0, 0.0, 1.0])
    prior = policy.noise_prior(stats, 10.0, s_yy, count)
    np.testing.assert_allclose(prior, [1.5 * 2.0 * 0.2, 1.5 * 2.0 * 1.0, 0.01], rtol=1e-12)


@pytest.mark.parametrize("params", [{"s_blend": 0.0}, {"s_shaped_prior": 0.0}])
def test_without_s_curves_every_candidate_grid_prior_sums_to_one(params):
    policy = make_policy("curve", params)
    np.testing.assert_allclose(policy.candidate_priors.sum(axis=1), 1.0, rtol=1e-12)


def test_counted_value_under_one_unit_still_sets_the_noise_prior():
    # Values reported in large units (thousands): 0.5 of value over 2 conversions is counted.
    policy = make_policy("curve")
    stats = {"conversions": 2.0, "counted_value": 0.5}
    prior = policy.noise_prior(stats, 0.01, np.ones(2), np.ones(2))
    np.testing.assert_allclose(prior, 1.5 * 0.5 / 2.0 / 0.01)
