"""The `curve` policy's priors (engine.policies.curve_priors) and what they learn.

The grid prior, its candidate hyperparameters and what it learns of them across campaigns,
the amplitude prior's weight, the noise prior, and the posterior grid weights they give with
the campaigns' evidence.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine import EngineError, make_policy
from tests.test_curve_policy import SETTINGS, _context, _run
from tests.test_engine_policies import PROPERTY_SETTINGS

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


def peaked_likelihood(policy, log_scales):
    """Each campaign's likelihood on the curve grid, sharply peaked at its own concave scale."""
    log_grid = np.log(policy.grid_scales)
    concave = policy.grid_blends == 0
    peaks = np.exp(-0.5 * ((log_grid[None, :] - np.array(log_scales)[:, None]) / 0.1) ** 2)
    return np.where(concave[None, :], peaks, 1e-6 * peaks)


def spread_of(prior, policy):
    """The sd of log scale under a grid prior, S-curve family included."""
    log_grid = np.log(policy.grid_scales)
    mean = prior @ log_grid / prior.sum()
    return np.sqrt(prior @ (log_grid - mean) ** 2 / prior.sum())


def test_curve_learns_how_widely_saturation_spends_spread_across_campaigns():
    policy = make_policy("curve")
    fixed = make_policy("curve", {"scale_spread": 1.0, "s_shaped_prior": 0.2})
    assert fixed.candidate_priors.shape[0] == 1
    clustered = peaked_likelihood(policy, [0.1, -0.1, 0.05, 0.0, -0.05, 0.1])
    scattered = peaked_likelihood(policy, [-3.0, 3.0, -2.5, 2.5, -3.0, 3.0])
    narrow = spread_of(policy.grid_prior(clustered), policy)
    wide = spread_of(policy.grid_prior(scattered), policy)
    unlearnt = spread_of(fixed.grid_prior(clustered), fixed)
    assert narrow < 0.6 < unlearnt < wide
    # A fixed hyperprior ignores the data; no data at all leaves the candidates' plain average.
    assert np.array_equal(fixed.grid_prior(scattered), fixed.grid_prior(clustered))
    flat = policy.grid_prior(np.ones((4, policy.grid_scales.size)))
    assert np.allclose(flat, policy.candidate_priors.mean(axis=0))


def test_curve_learns_whether_campaigns_are_s_shaped():
    policy = make_policy("curve", {"scale_spread": 1.0})
    s_family = policy.grid_blends > 0
    concave_fits = peaked_likelihood(policy, np.linspace(-0.6, 0.6, 12))
    s_fits = np.empty_like(concave_fits)  # the same peaks, on the S-curve half of the grid
    s_fits[:, s_family], s_fits[:, ~s_family] = (
        concave_fits[:, ~s_family],
        concave_fits[:, s_family],
    )
    share = {
        "concave": policy.grid_prior(concave_fits)[s_family].sum(),
        "s_shaped": policy.grid_prior(s_fits)[s_family].sum(),
    }
    assert share["concave"] < 0.15 < 0.3 < share["s_shaped"]
    for no_s_curves in ({"s_shaped_prior": 0.0}, {"s_blend": 0.0}):
        concave_only = make_policy("curve", no_s_curves)
        assert concave_only.grid_blends.max() == 0.0
        assert concave_only.grid_scales.size == concave_only.params["grid_size"]


@PROPERTY_SETTINGS
@given(
    spread=st.one_of(st.none(), st.floats(1e-4, 5.0)),
    low=st.floats(-25.0, 25.0),
    decades=st.floats(0.5, 6.0),
    grid_size=st.sampled_from([4, 40, 200]),
    s_shaped_prior=st.sampled_from([None, 0.0, 0.2, 1.0]),
)
@example(spread=1e-4, low=np.log(0.05), decades=np.log(1000.0), grid_size=40, s_shaped_prior=None)
@example(spread=0.01, low=np.log(0.05), decades=np.log(1000.0), grid_size=4, s_shaped_prior=0.2)
@example(spread=None, low=np.log(1e6), decades=np.log(100.0), grid_size=40, s_shaped_prior=None)
@example(spread=None, low=np.log(1e-9), decades=np.log(100.0), grid_size=40, s_shaped_prior=1.0)
def test_curve_grid_prior_is_a_distribution_however_far_the_grid_lies_from_an_equal_share(
    spread, low, decades, grid_size, s_shaped_prior
):
    """A narrow spread, or a grid of scales far from one equal share, leaves each candidate
    prior's mass on the scales nearest an equal share: never 0 / 0 (NaN), which would make
    every draw pick the grid's first point whatever the data."""
    given_params = {"scale_spread": spread, "s_shaped_prior": s_shaped_prior}
    params = {
        "scale_min": float(np.exp(low)),
        "scale_max": float(np.exp(low + decades)),
        "grid_size": grid_size,
        **{name: value for name, value in given_params.items() if value is not None},
    }
    policy = make_policy("curve", params)
    size = policy.grid_scales.size
    rng = np.random.default_rng(0)
    for likelihood in (np.ones((3, size)), rng.random((3, size)), np.eye(3, size)):
        prior = policy.grid_prior(likelihood)
        assert np.all(np.isfinite(prior)) and np.all(prior >= 0), params
        assert prior.sum() == pytest.approx(1.0), params
    by_scale = policy.grid_prior(np.ones((3, size))).reshape(-1, policy.scales.size).sum(axis=0)
    assert by_scale.argmax() == np.argmin(np.abs(np.log(policy.scales))), params


@pytest.mark.parametrize(
    "params", [{"scale_spread": 0.0}, {"scale_spread": -1}, {"s_shaped_prior": 1.5}]
)
def test_curve_hyperparameters_given_out_of_range_are_refused(params):
    with pytest.raises(EngineError, match=next(iter(params))):
        make_policy("curve", params)
