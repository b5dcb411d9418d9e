"""A reference player told every campaign's curve shape, learning only its size and value.

`known curves` (benchmarks.peers) knows everything, so it only measures what pacing costs.
`KnownShapes` knows more than `curve` and less than that: each campaign's family, saturation
spend and Hill exponent, and the generator's own priors, and learns from the reports only
each campaign's amplitude A (expected conversions at its saturation spend) and value per
conversion V, with exact posteriors. What it loses against `known curves` is what the reports
hold about the amplitudes and values; what `curve` loses beyond it is curvature learning.

- Likelihoods, as `engine.worlds.World.observe` draws a report: conversions are Poisson
  clicks thinned binomially, so a report's conversions are Poisson with mean A x u(spend),
  u the known unit curve (the campaign's expected conversions at amplitude 1); the clicks,
  which carry a little more about the rate, are not used. The revenue of c conversions is
  gamma, shape c / cv^2 and scale V cv^2 (cv 0.5). Both give two sums per campaign, kept in
  the state by `update_stats` like a real policy's: conversions and sum u(spend); conversions
  with a reported revenue and that revenue. With log-normal order values (`value_sigma`, the
  `real` column) the gamma of the same cv stands in for the sum of log-normals: not exact.
- Priors (`ShapePrior`: a Gaussian in (log A, log V), a log-uniform value where one is):
  broad worlds draw revenue at the scale A V = 3 equal shares x LogNormal(-0.32, 0.8) (times
  their `volume`) apart from V ~ LogNormal(log 40, 0.5), so log A and log V are correlated a
  priori, and the posterior is joint; the first simulator's worlds draw A V = (half of) scale x
  LogNormal(log 4, 0.5) and V ~ LogNormal(log 40, 0.4); spread worlds draw V log-uniform over
  20 to 80 and scale every amplitude so that an equal split buys a set number of conversions,
  which couples the campaigns: each campaign's prior is the Gaussian fitted to its own
  marginal of log A under the generator (given the known shapes), the coupling is dropped.
- Posterior: exact on a 2-D grid per campaign (121 x 61 points in log A x log V), laid over
  +-10 standard deviations of the Laplace approximation at the mode (Newton's method; the
  log-posterior is concave), so the grid stays fine however many reports come in.
- Decision (`decision`): "mean" splits the coming timestep on the curves E[A V] u(spend), the
  one-step Bayes decision since revenue is linear in A V; "thompson" on one posterior draw of
  (A, V) per campaign. Either way with the oracle's own exact solver
  (`engine.simulate.oracle_spend` on the world with the estimates in place of the truth); the
  framework paces the move by `step` as for every policy.

On `real` (drift, seasonality, a shift, delays, log-normal orders) the player still assumes a
stationary world whose reports are complete: there it is a misspecified learner told the
shapes, not a limit. Rows "known shapes" and "known shapes (thompson)" of
benchmarks.policy_efficiency; the breakdown by campaign count is benchmarks.known_shapes_by_k:

    python -m benchmarks.policy_efficiency --players curve "known shapes" \
        "known shapes (thompson)" "known curves" --distributions negexp spread400
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.context import Context
from engine.errors import EngineError
from engine.framework import Policy
from engine.simulate import World, oracle_spend
from engine.worlds import saturation

DECISIONS = ("mean", "thompson")
GRID = (121, 61)
"""Grid points in log amplitude and in log value per conversion."""
WIDTH = 10.0
"""Half-width of the grid, in Laplace standard deviations."""
NEWTON_STEPS = 60
_SUMS = ("conversions", "exposure", "valued", "revenue")


@dataclass(frozen=True)
class ShapePrior:
    """Gaussian prior of (log amplitude, log value) per campaign: `mean` (K, 2), `precision`
    (K, 2, 2); with `value_bounds`, log value is uniform on those bounds instead (precision 0
    on it)."""

    mean: np.ndarray
    precision: np.ndarray
    value_bounds: tuple[float, float] | None = None


def _correlated(mean_revenue: np.ndarray, sd_revenue: float, mean_value: float, sd_value: float):
    """log(A V) ~ N(mean_revenue, sd_revenue) apart from log V ~ N(mean_value, sd_value)."""
    k = mean_revenue.size
    r, v = 1.0 / sd_revenue**2, 1.0 / sd_value**2
    precision = np.tile(np.array([[r, r], [r, r + v]]), (k, 1, 1))
    mean = np.column_stack([mean_revenue - mean_value, np.full(k, mean_value)])
    return ShapePrior(mean=mean, precision=precision)


def broad_prior(world: World, volume: float = 1.0) -> ShapePrior:
    """`engine.worlds.make_broad_world`'s own prior, at the world's `volume` (a factor on
    every amplitude, so on revenue at the scale: log A's mean moves by log volume)."""
    equal_share = world.timestep_budget / world.n_campaigns
    mean_revenue = np.full(world.n_campaigns, np.log(3.0 * volume * equal_share) - 0.32)
    return _correlated(mean_revenue, 0.8, np.log(40.0), 0.5)


def first_prior(world: World) -> ShapePrior:
    """`engine.worlds.make_world`'s own prior (amplitudes are half of Michaelis-Menten and
    Hill curves' maximum)."""
    half = np.where(world.kind == 0, 1.0, 0.5)
    return _correlated(np.log(half * world.scale * 4.0), 0.5, np.log(40.0), 0.4)


def spread_prior(world: World, draws: int = 20_000) -> ShapePrior:
    """`engine.spread_worlds.make_spread_world`'s prior: each amplitude's marginal under the
    generator given the known shapes (a Gaussian fitted to `draws` draws of log A), values
    log-uniform over 20 to 80. The world's own conversions level is read off its amplitudes
    and shapes (an equal split's expected conversions), as the generator sets it."""
    k = world.n_campaigns
    equal = np.full(k, world.timestep_budget / k)
    conversions = float(world.expected_conversions(equal, 0).sum())
    half = np.where(world.kind == 0, 1.0, 0.5)
    rng = np.random.default_rng([4057, k])
    most = rng.lognormal(0.0, 0.8, (draws, k))
    at_equal = most * saturation(world.kind, equal / world.scale, world.shape)
    log_amplitude = np.log(half * most * conversions / at_equal.sum(axis=1, keepdims=True))
    precision = np.zeros((k, 2, 2))
    precision[:, 0, 0] = 1.0 / log_amplitude.var(axis=0)
    mean = np.column_stack([log_amplitude.mean(axis=0), np.full(k, np.log(40.0))])
    return ShapePrior(mean=mean, precision=precision, value_bounds=(np.log(20.0), np.log(80.0)))


def point_prior(world: World, precision: float = 1e16) -> ShapePrior:
    """The true amplitude (at timestep 0) and value of every campaign, as a point mass."""
    mean = np.column_stack([np.log(world.amplitude[0]), np.log(world.value_per_conversion)])
    return ShapePrior(mean=mean, precision=np.tile(np.eye(2) * precision, (mean.shape[0], 1, 1)))


@dataclass(frozen=True)
class Posterior:
    """Grid posterior per campaign: `log_amplitude` (K, Na), `log_value` (K, Nv) and
    `weights` (K, Na, Nv) summing to 1 per campaign."""

    log_amplitude: np.ndarray
    log_value: np.ndarray
    weights: np.ndarray

    def mean_amplitude(self) -> np.ndarray:
        """E[A] per campaign."""
        return np.einsum("kav,ka->k", self.weights, np.exp(self.log_amplitude))

    def mean_value(self) -> np.ndarray:
        """E[V] per campaign."""
        return np.einsum("kav,kv->k", self.weights, np.exp(self.log_value))

    def mean_revenue(self) -> np.ndarray:
        """E[A V] per campaign: the expected revenue per unit of the known unit curve."""
        product = np.exp(self.log_amplitude[:, :, None] + self.log_value[:, None, :])
        return np.einsum("kav,kav->k", self.weights, product)

    def draw_revenue(self, rng: np.random.Generator) -> np.ndarray:
        """One posterior draw of A V per campaign."""
        return self.revenue_at(rng.random(self.weights.shape[0]))

    def revenue_at(self, uniform: np.ndarray) -> np.ndarray:
        """A V per campaign at the posterior quantile `uniform` (K,) of the grid cells (in
        their row-major order): a draw, given uniform draws on [0, 1)."""
        k, n_a, n_v = self.weights.shape
        cdf = np.cumsum(self.weights.reshape(k, -1), axis=1)
        cell = np.minimum((cdf < uniform[:, None] * cdf[:, -1:]).sum(axis=1), n_a * n_v - 1)
        rows = np.arange(k)
        return np.exp(self.log_amplitude[rows, cell // n_v] + self.log_value[rows, cell % n_v])


def posterior(prior: ShapePrior, sums: Mapping[str, np.ndarray], value_cv: float) -> Posterior:
    """The exact posterior of (log A, log V) per campaign given the sufficient sums (see the
    module): conversions, exposure (sum of u(spend)), valued conversions and their revenue."""
    shape = 1.0 / value_cv**2  # the gamma's: -shape (c v + r e^-v) per report
    count, exposure = sums["conversions"], sums["exposure"]
    valued, revenue = shape * sums["valued"], shape * sums["revenue"]
    k = count.size
    precision, centre = prior.precision, prior.mean
    ridge = np.zeros((k, 2, 2))
    low, high = prior.value_bounds or (-np.inf, np.inf)
    x = centre.copy()
    if prior.value_bounds is not None:
        ridge[:, 1, 1] = 1.0 / (high - low) ** 2  # only steadies Newton on a flat value prior
        x[:, 1] = 0.5 * (low + high)
    for _ in range(NEWTON_STEPS):
        hessian, gradient = _derivatives(x, centre, precision, count, exposure, valued, revenue)
        move = np.linalg.solve(hessian - ridge, -gradient[:, :, None])[:, :, 0]
        x = x + np.clip(move, -2.0, 2.0)
        x[:, 1] = np.clip(x[:, 1], low, high)
    hessian, _ = _derivatives(x, centre, precision, count, exposure, valued, revenue)
    spread = np.sqrt(np.diagonal(np.linalg.inv(ridge - hessian), axis1=1, axis2=2))
    lows, highs = x - WIDTH * spread, x + WIDTH * spread
    lows[:, 1], highs[:, 1] = np.maximum(lows[:, 1], low), np.minimum(highs[:, 1], high)
    a = np.linspace(lows[:, 0], highs[:, 0], GRID[0], axis=1)
    v = np.linspace(lows[:, 1], highs[:, 1], GRID[1], axis=1)
    da, dv = (a - centre[:, :1])[:, :, None], (v - centre[:, 1:])[:, None, :]
    quadratic = (
        precision[:, 0, 0, None, None] * da**2
        + 2.0 * precision[:, 0, 1, None, None] * da * dv
        + precision[:, 1, 1, None, None] * dv**2
    )
    amplitude_part = count[:, None] * a - exposure[:, None] * np.exp(a)
    value_part = -valued[:, None] * v - revenue[:, None] * np.exp(-v)
    log_density = -0.5 * quadratic + amplitude_part[:, :, None] + value_part[:, None, :]
    log_density -= log_density.max(axis=(1, 2), keepdims=True)
    weights = np.exp(log_density)
    weights /= weights.sum(axis=(1, 2), keepdims=True)
    return Posterior(log_amplitude=a, log_value=v, weights=weights)


def _derivatives(
    x: np.ndarray,
    centre: np.ndarray,
    precision: np.ndarray,
    count: np.ndarray,
    exposure: np.ndarray,
    valued: np.ndarray,
    revenue: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Hessian (K, 2, 2) and gradient (K, 2) of the log-posterior at x (K, 2)."""
    at_a, at_v = exposure * np.exp(x[:, 0]), revenue * np.exp(-x[:, 1])
    gradient = -np.einsum("kij,kj->ki", precision, x - centre)
    gradient += np.column_stack([count - at_a, at_v - valued])
    hessian = -precision.copy()
    hessian[:, 0, 0] -= at_a
    hessian[:, 1, 1] -= at_v
    return hessian, gradient


def running_ids(world: World, stats: Mapping, keep: Sequence[int | None]) -> list[int]:
    """The world's campaigns running at the next timestep, checked against `keep` (the
    engine's resize: each new place's old index, None for a launched campaign)."""
    ids = np.flatnonzero(world.live(stats["t"])).tolist()
    if len(ids) != len(keep) or any(
        old is not None and stats["ids"][old] != ids[i] for i, old in enumerate(keep)
    ):
        raise EngineError("the resized campaigns are not those the world runs next")
    return ids


class KnownShapes(Policy):
    """Told every campaign's curve shape and the generator's prior; learns amplitudes and
    values exactly (see the module). `prior` defaults to the broad worlds' own."""

    name = "uniform"  # a benchmark player: its statistics are its own, not a product policy's

    def __init__(
        self, world: World, decision: str = "mean", prior: ShapePrior | None = None
    ) -> None:
        super().__init__()
        if decision not in DECISIONS:
            raise EngineError(f"decision must be one of {DECISIONS} (got {decision!r})")
        self.world, self.decision = world, decision
        self.prior = broad_prior(world) if prior is None else prior
        sigma = world.value_sigma
        self.value_cv = float(np.sqrt(np.expm1(sigma**2))) if sigma > 0 else world.value_cv

    def _campaigns(self, ids: Sequence[int]) -> World:
        """The world's campaigns `ids`, at amplitude 1 and value 1 (their unit curves)."""
        index = np.asarray(ids, dtype=int)
        w = self.world
        return replace(
            w,
            amplitude=np.ones((1, index.size)),
            scale=w.scale[index],
            shape=w.shape[index],
            kind=w.kind[index],
            value_per_conversion=np.ones(index.size),
            cost_per_click=w.cost_per_click[index],
            click_through=w.click_through[index],
            delay_share=None,
            shift=None,
            start=None,
            end=None,
        )

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict:
        ids = np.flatnonzero(self.world.live(0)).tolist()
        if len(ids) != n_campaigns:
            raise EngineError(f"the world runs {len(ids)} campaigns at first, not {n_campaigns}")
        return self._fresh(ids)

    @staticmethod
    def _fresh(ids: list[int]) -> dict:
        return {"ids": list(ids), "t": 0, **{key: [0.0] * len(ids) for key in _SUMS}}

    def refold_base(self, stats: dict, n_campaigns: int, settings: Mapping) -> dict:
        """Folding again starts from nothing observed, for the campaigns the state holds."""
        return self._fresh(stats["ids"])

    def update_stats(self, stats: dict, context: Context) -> dict:
        """The finished timestep's conversions and exposure u(spend), and the revenue of the
        conversions that report one, added to the sums."""
        conversions = context.observed["conversions"]
        revenue = context.observed["revenue"]
        seen = np.isfinite(conversions)
        valued = seen & np.isfinite(revenue)
        unit = self._campaigns(stats["ids"]).expected_conversions(context.spend, 0)
        added = {
            "conversions": np.where(seen, conversions, 0.0),
            "exposure": np.where(seen, unit, 0.0),
            "valued": np.where(valued, conversions, 0.0),
            "revenue": np.where(valued, revenue, 0.0),
        }
        sums = {key: (np.array(stats[key]) + added[key]).tolist() for key in _SUMS}
        return {"ids": list(stats["ids"]), "t": stats["t"] + 1, **sums}

    def resize_stats(self, stats: dict, keep: Sequence[int | None], n_old: int) -> dict:
        """The campaigns running at the next timestep (the world says which), each kept one
        with its sums, an added one with none."""
        ids = running_ids(self.world, stats, keep)
        sums = {key: [0.0 if old is None else stats[key][old] for old in keep] for key in _SUMS}
        return {"ids": ids, "t": stats["t"], **sums}

    def posterior(self, stats: Mapping) -> Posterior:
        """The posterior of the campaigns the state holds."""
        ids = np.asarray(stats["ids"], dtype=int)
        prior = ShapePrior(
            mean=self.prior.mean[ids],
            precision=self.prior.precision[ids],
            value_bounds=self.prior.value_bounds,
        )
        sums = {key: np.asarray(stats[key], dtype=float) for key in _SUMS}
        return posterior(prior, sums, self.value_cv)

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """The exact split of the coming timestep on the estimated curves (see the module)."""
        stats = context.stats
        belief = self.posterior(stats)
        draw = self.decision == "thompson"
        revenue = belief.draw_revenue(rng) if draw else belief.mean_revenue()
        ids = np.asarray(stats["ids"], dtype=int)
        t = min(context.t, self.world.timesteps - 1)
        estimated = replace(self._campaigns(ids), amplitude=revenue[None, :])
        upper = np.where(self.world.live(t)[ids], np.inf, 0.0)
        spend = oracle_spend(estimated, 0, np.zeros(ids.size), upper)
        return spend / self.world.timestep_budget
