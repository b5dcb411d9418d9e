"""The benchmark player told only every curve's family (benchmarks.known_family): exactly the
known-shapes player when told the scale, an exact scale posterior, and one that learns."""

import numpy as np
import pytest

from benchmarks.known_family import (
    KnownFamily,
    broad_family_prior,
    point_scale_prior,
    scale_log_posterior,
    spread_family_prior,
)
from benchmarks.known_shapes import KnownShapes, broad_prior
from engine.simulate import make_broad_world, run
from engine.spread_worlds import make_spread_world


def _fed(player: KnownFamily, world, spends: np.ndarray, seed: int = 0) -> dict:
    """The player's statistics after reports of the world at `spends` (T, K), through the
    engine API (the reports say what was spent, whatever the player planned)."""
    settings = {
        "budget": world.timestep_budget * world.timesteps,
        "timesteps": world.timesteps,
        "step": 1.0,
        "floor": 0.0,
        "objective": "revenue",
        "seed": seed,
    }
    state = player.init(world.n_campaigns, settings)
    rng = np.random.default_rng([seed, 1])
    for t, spend in enumerate(spends):
        state, _ = player.advance(state, world.observe(spend, t, rng))
    return state["stats"]


def _varied(world, timesteps: int, seed: int = 3) -> np.ndarray:
    """Spends from a tenth to three equal shares, log-uniform, every campaign every timestep."""
    equal = world.timestep_budget / world.n_campaigns
    rng = np.random.default_rng(seed)
    return equal * np.exp(rng.uniform(np.log(0.1), np.log(3.0), (timesteps, world.n_campaigns)))


def _brute_force(prior, sums, value_cv):
    """The scale posterior by a fine grid in (log A, log V) (broad priors only)."""
    a = np.linspace(-12.0, 14.0, 1301)[:, None]
    v = np.linspace(0.5, 7.0, 401)[None, :]
    shape = 1.0 / value_cv**2
    k, points = sums["exposure"].shape
    log_evidence = np.zeros((k, points))
    for i in range(k):
        value = -shape * (sums["valued"][i] * v + sums["revenue"][i] * np.exp(-v))
        for j in range(points):
            (ma, mv), p = prior.mean[i, j], prior.precision[i, j]
            da, dv = a - ma, v - mv
            quadratic = p[0, 0] * da**2 + 2 * p[0, 1] * da * dv + p[1, 1] * dv**2
            f = sums["conversions"][i] * a - sums["exposure"][i, j] * np.exp(a) + value
            f = f - 0.5 * quadratic
            top = f.max()
            log_evidence[i, j] = (
                top + np.log(np.exp(f - top).sum()) + 0.5 * np.log(np.linalg.det(p))
            )
    log_weight = prior.log_weight + sums["log_exposure"] + log_evidence
    return log_weight - np.logaddexp.reduce(log_weight, axis=1, keepdims=True)


def test_told_the_true_scale_it_plays_exactly_like_known_shapes():
    world = make_broad_world("mixed", 7, 12, 3)
    shapes = run(KnownShapes(world, "thompson", broad_prior(world)), world, 3)
    told = run(KnownFamily(world, point_scale_prior(world, broad_prior(world))), world, 3)
    assert told.efficiency == shapes.efficiency
    np.testing.assert_array_equal(told.shares, shapes.shares)


def test_the_scale_posterior_matches_a_fine_grid():
    world = make_broad_world("hill", 4, 6, 2)
    player = KnownFamily(world, broad_family_prior(world, points=12))
    stats = _fed(player, world, _varied(world, 3))
    sums = player._sums(stats)
    mine = scale_log_posterior(player.family_prior, sums, player.value_cv)
    np.testing.assert_allclose(
        np.exp(mine), np.exp(_brute_force(player.family_prior, sums, player.value_cv)), atol=1e-4
    )


@pytest.mark.parametrize("family", ["negexp", "michaelis_menten", "hill"])
def test_the_scale_posterior_concentrates_at_the_true_scale(family):
    """Many conversions reported at varied spends tell the scales apart: after six timesteps
    most of every campaign's posterior lies within 30 % of its true saturation spend, and
    its mean log scale within a quarter."""
    world = make_spread_world(family, 5, 10, 4, conversions=20_000)
    player = KnownFamily(world, spread_family_prior(world))
    before = player.scale_posterior(player.initial_stats(5, {}))
    after = player.scale_posterior(_fed(player, world, _varied(world, 6)))
    log_scale = np.log(player.family_prior.scale)
    near = np.abs(log_scale - np.log(world.scale[:, None])) < np.log(1.3)
    assert np.all((after * near).sum(axis=1) > 0.8)
    assert np.all((before * near).sum(axis=1) < 0.3)
    error = (after * log_scale).sum(axis=1) - np.log(world.scale)
    assert np.all(np.abs(error) < np.log(1.25))


def test_the_scale_posteriors_are_calibrated_on_many_small_campaigns():
    """200 campaigns reporting a handful of conversions each: the truth's place in each
    posterior is spread evenly, as under an exact posterior of the world's own prior."""
    world = make_broad_world("negexp", 200, 6, 11)
    player = KnownFamily(world)
    weights = player.scale_posterior(_fed(player, world, _varied(world, 5)))
    below = (weights * (player.family_prior.scale < world.scale[:, None])).sum(axis=1)
    counts = np.histogram(below, bins=4, range=(0.0, 1.0))[0]
    assert np.all(counts > 30)  # 50 expected in each quarter
    log_scale = np.log(player.family_prior.scale)
    mean = (weights * log_scale).sum(axis=1)
    sd = np.sqrt((weights * (log_scale - mean[:, None]) ** 2).sum(axis=1))
    z = (np.log(world.scale) - mean) / sd
    assert 0.8 < np.sqrt(np.mean(z**2)) < 1.25
    assert np.median(sd) < 1.0  # learnt: the prior's sd of log scale is 1.33


def test_late_corrections_and_launches_keep_each_campaigns_sums():
    world = make_broad_world("mixed", 12, 10, 6, delays=True, launches=True)
    result = run(KnownFamily(world), world, 6)
    assert 0.5 < result.efficiency <= 1.0
    assert np.all(result.shares[:, ~world.live(9)][9] == 0)
