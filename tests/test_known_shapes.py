"""The benchmark player told every curve's shape (benchmarks.known_shapes): exact on the truth,
and its posteriors learn the amplitudes and values the worlds hold."""

import numpy as np
import pytest

from benchmarks.known_shapes import (
    KnownShapes,
    broad_prior,
    first_prior,
    point_prior,
    spread_prior,
)
from benchmarks.peers import KnownCurves
from engine.simulate import make_broad_world, make_world, oracle_spend, run, run_settings
from engine.spread_worlds import make_spread_world


def _played(player: KnownShapes, world, timesteps: int, seed: int = 0, step: float = 1.0):
    """The player's state after `timesteps` reports of the world, through the engine API."""
    state = player.init(world.n_campaigns, run_settings(world, seed, step=step))
    rng = np.random.default_rng([seed, 1])
    for t in range(timesteps):
        state, _ = player.advance(state, world.observe(np.array(state["budgets"]), t, rng))
    return state


def _log_moments(belief):
    """Posterior mean and sd of log amplitude and of log value per campaign."""
    amplitude = belief.weights.sum(axis=2)
    value = belief.weights.sum(axis=1)
    out = []
    for grid, weights in ((belief.log_amplitude, amplitude), (belief.log_value, value)):
        mean = (weights * grid).sum(axis=1)
        out.append((mean, np.sqrt((weights * (grid - mean[:, None]) ** 2).sum(axis=1))))
    return out


@pytest.mark.parametrize("decision", ["mean", "thompson"])
def test_a_point_mass_on_the_truth_plays_like_known_curves(decision):
    world = make_broad_world("negexp", 7, 12, 3)
    known = run(KnownCurves(world), world, 3)
    told = run(KnownShapes(world, decision, point_prior(world)), world, 3)
    assert told.efficiency == pytest.approx(known.efficiency, abs=1e-9)
    np.testing.assert_allclose(told.shares, known.shares, atol=1e-6)


def test_told_the_truth_and_free_to_move_it_splits_as_the_oracle():
    world = make_world("michaelis_menten", 6, 5, 2)
    state = _played(KnownShapes(world, "mean", point_prior(world)), world, 1, step=1.0)
    zero, free = np.zeros(6), np.full(6, np.inf)
    best = oracle_spend(world, 1, zero, free) / world.timestep_budget
    np.testing.assert_allclose(state["shares"], best, atol=1e-6)


def test_the_amplitude_and_value_posteriors_approach_the_truth():
    world = make_spread_world("negexp", 5, 10, 4, conversions=1600)
    player = KnownShapes(world, "mean", spread_prior(world))
    state = _played(player, world, 8, step=0.02)  # near an equal split: every one reports
    belief = player.posterior(state["stats"])
    truth = world.amplitude[0]
    before = player.posterior(player.initial_stats(5, {})).mean_amplitude()
    after = belief.mean_amplitude()
    assert np.all(np.abs(after / truth - 1) < 0.08)
    assert np.abs(np.log(after / truth)).mean() < 0.5 * np.abs(np.log(before / truth)).mean()
    assert np.all(np.abs(belief.mean_value() / world.value_per_conversion - 1) < 0.1)


@pytest.mark.parametrize("family", ["negexp", "hill"])
def test_the_posteriors_are_calibrated_on_many_small_campaigns(family):
    """200 campaigns reporting a handful of conversions each: the truth sits within the
    posterior's spread as often as it should (an exact posterior under the world's own
    prior and likelihood)."""
    world = make_broad_world(family, 200, 6, 11)
    player = KnownShapes(world, "mean", broad_prior(world))
    state = _played(player, world, 5, step=0.1)
    (a_mean, a_sd), (v_mean, v_sd) = _log_moments(player.posterior(state["stats"]))
    for z in (
        (np.log(world.amplitude[0]) - a_mean) / a_sd,
        (np.log(world.value_per_conversion) - v_mean) / v_sd,
    ):
        assert np.abs(z).max() < 4.5
        assert 0.75 < np.sqrt(np.mean(z**2)) < 1.3
    assert np.median(a_sd) < 0.6  # learnt: the prior's sd of log amplitude is 0.94


def test_thompson_draws_follow_the_posterior():
    world = make_world("negexp", 4, 5, 1)
    player = KnownShapes(world, "thompson", first_prior(world))
    belief = player.posterior(_played(player, world, 2)["stats"])
    rng = np.random.default_rng(5)
    draws = np.array([belief.draw_revenue(rng) for _ in range(3000)])
    log_draws = np.log(draws)
    (a_mean, a_sd), (v_mean, _) = _log_moments(belief)
    np.testing.assert_allclose(log_draws.mean(axis=0), a_mean + v_mean, atol=0.03)
    np.testing.assert_allclose(
        draws.mean(axis=0), belief.mean_revenue(), rtol=4 * draws.std(axis=0).max() / 55
    )
    assert np.all(log_draws.std(axis=0) >= 0.5 * a_sd)


def test_late_corrections_and_launches_keep_each_campaigns_sums():
    """On a world whose campaigns launch and end and report late, the player's state follows
    the world's campaigns (refolded and resized by the engine as for every policy)."""
    world = make_broad_world("mixed", 12, 10, 6, delays=True, launches=True)
    result = run(KnownShapes(world), world, 6)
    assert 0.5 < result.efficiency <= 1.0
    assert np.all(result.shares[:, ~world.live(9)][9] == 0)
