"""The benchmark player told only every curve's family (benchmarks.known_family): exactly the
known-shapes player when told the scale, an exact scale posterior, and one that learns."""

import numpy as np
import pytest

from benchmarks.known_family import (
    KnownFamily,
    broad_family_prior,
    point_scale_prior,
    scale_log_posterior,
    split_draw,
    spread_family_prior,
    unit_curves,
)
from benchmarks.known_family_mean import KnownFamilyMean
from benchmarks.known_shapes import KnownShapes, broad_prior, posterior
from engine.simulate import make_broad_world, run, run_settings
from engine.spread_worlds import make_spread_world


def _fed(player: KnownFamily, world, spends: np.ndarray, seed: int = 0) -> dict:
    """The player's statistics after reports of the world at `spends` (T, K), through the
    engine API (the reports say what was spent, whatever the player planned)."""
    state = player.init(world.n_campaigns, run_settings(world, seed, step=1.0))
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
    sums = player.sums_of(stats)
    mine, _ = scale_log_posterior(player.family_prior, sums, player.value_cv)
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


def test_the_mean_rule_told_the_true_scale_splits_like_known_shapes():
    """With one scale point, the truth, the posterior-mean curve is known shapes' E[A V] u:
    the same curve (to the quadrature's accuracy) and nearly the same run (to the spend
    grid's)."""
    world = make_broad_world("mixed", 9, 6, 5)
    told = KnownFamilyMean(world, point_scale_prior(world, broad_prior(world)))
    stats = _fed(told, world, _varied(world, 3))
    spend = np.geomspace(10.0, 5000.0, 7)
    truth = world.scale[:, None]
    unit = np.column_stack(
        [unit_curves(world.kind, world.shape, np.full(9, x), truth)[:, 0] for x in spend]
    )
    keys = ("conversions", "valued", "revenue")
    sums = {key: np.asarray(stats[key], dtype=float) for key in keys}
    sums["exposure"] = np.asarray(stats["exposure"])[:, 0]
    mean = posterior(broad_prior(world), sums, told.value_cv).mean_revenue()
    np.testing.assert_allclose(told.expected_revenue(stats, spend), mean[:, None] * unit, rtol=2e-3)
    shapes = KnownShapes(world, "mean", broad_prior(world))
    assert run(told, world, 5).efficiency == pytest.approx(
        run(shapes, world, 5).efficiency, abs=2e-3
    )


class _PriorOnly(KnownFamilyMean):
    """The mean rule on the prior alone: no report is ever folded in."""

    def update_stats(self, stats: dict, context) -> dict:
        return {**stats, "t": stats["t"] + 1}


def test_the_mean_rule_learns_on_a_spread_world():
    world = make_spread_world("michaelis_menten", 5, 12, 2, conversions=400)
    prior = spread_family_prior(world)
    learnt = run(KnownFamilyMean(world, prior), world, 2, step=0.25).efficiency
    assert learnt > run(_PriorOnly(world, prior), world, 2, step=0.25).efficiency + 0.02
    assert learnt > 0.93


@pytest.mark.parametrize(("family", "within"), [("negexp", 0.05), ("hill", 0.15)])
def test_the_posterior_mean_curve_approaches_the_true_curve(family, within):
    """After many conversions reported at varied spends, each campaign's posterior-mean
    revenue curve comes close to its true one from a fifth to three equal shares (Hill's
    less so: an S-shaped campaign saturating beyond the spends tried is known less well at
    low spends)."""
    world = make_spread_world(family, 5, 10, 4, conversions=20_000)
    player = KnownFamilyMean(world, spread_family_prior(world))
    stats = _fed(player, world, _varied(world, 6))
    equal = world.timestep_budget / world.n_campaigns
    spend = equal * np.geomspace(0.2, 3.0, 6)
    truth = np.column_stack(
        [world.expected_conversions(np.full(5, x), 0) * world.value_per_conversion for x in spend]
    )
    np.testing.assert_allclose(player.expected_revenue(stats, spend), truth, rtol=within)


def test_a_uniform_draw_splits_into_a_point_and_a_fresh_uniform():
    """Thompson's draw: points follow the weights, and what is left of the uniform draw is
    uniform whatever the point, so (A, V) given the scale is drawn from its own posterior."""
    weights = np.array([[0.1, 0.6, 0.0, 0.3], [0.25, 0.25, 0.25, 0.25]])
    uniform = np.random.default_rng(8).random((20_000, 1)) * np.ones((1, 2))
    drawn = [split_draw(weights, u) for u in uniform]
    points = np.array([p for p, _ in drawn])
    within = np.array([w for _, w in drawn])
    for row in range(2):
        share = np.bincount(points[:, row], minlength=4) / len(points)
        np.testing.assert_allclose(share, weights[row], atol=0.01)
        for point in np.flatnonzero(weights[row]):
            left = within[points[:, row] == point, row]
            assert abs(left.mean() - 0.5) < 0.02 and abs(left.var() - 1 / 12) < 0.01
