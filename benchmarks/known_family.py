"""A reference player told every campaign's curve family, learning its saturation spend too.

`KnownShapes` (benchmarks.known_shapes) is told each campaign's family, saturation spend and
Hill exponent, and learns only its amplitude A and value per conversion V. `KnownFamily` is
told less: each campaign's family and Hill exponent, and the generator's own prior over
saturation spends; it learns the saturation spend (the scale), A and V from the reports, with
an exact posterior. What it loses against `KnownShapes` is what the reports hold about the
scales; what `curve` loses beyond it is `curve`'s own approximations of that learning.

- Scales: a grid per campaign over the generator's prior (`SCALE_POINTS` points, the midpoints
  of equal bins in log scale), each point weighted by the prior mass of its bin: the broad
  worlds' log-uniform 0.1 to 10 equal shares, the spread worlds' 0.2 to 5, the first
  simulator's log-normal (sd 0.5 around an equal share, +-4 sd).
- Likelihood: as in `KnownShapes`, a report's conversions c are Poisson with mean
  A u_s(spend), u_s the unit curve at scale s. Per campaign and scale point the state keeps
  sum u_s(spend) and sum c log u_s(spend) (`update_stats`, JSON-able), so the Poisson
  likelihood of every (s, A) is exact; the scale-free sums of `KnownShapes` (conversions,
  valued conversions, revenue) give V's.
- Priors of (log A, log V) given the scale, the generators' own: the broad worlds' does not
  depend on the scale (revenue at the scale is drawn apart from it); the first simulator's
  revenue at the scale is proportional to it; the spread worlds scale every amplitude so that
  an equal split buys a set number of conversions, so each campaign's log A given its own
  scale has the Gaussian fitted to its marginal under the generator, the other campaigns'
  scales and sizes drawn (their families and Hill exponents told), and V is log-uniform.
- Posterior: the weight of each scale point is its prior mass times its marginal likelihood,
  the integral over (log A, log V) by Gauss-Hermite quadrature (`QUADRATURE` points a
  dimension) laid on the Laplace approximation at the mode (Newton's method; the integrand is
  log-concave); on the spread worlds V's factor is the same at every scale and only log A is
  integrated. Given the scale, (log A, log V) has `KnownShapes`' exact grid posterior.
- Decision: Thompson sampling. One uniform draw per campaign picks the scale by its
  posterior's inverse distribution function, and what is left of it picks (A, V) given that
  scale, so that with one scale point the player draws exactly as "known shapes (thompson)";
  the split is the oracle's exact solver on the world with the drawn scales and A V. The
  mean rule, on the posterior-mean curves (mixtures over scales), is
  benchmarks.known_family_mean.

Row "known family (thompson)" of benchmarks.policy_efficiency:

    python -m benchmarks.policy_efficiency --players curve "known shapes (thompson)" \
        "known family (thompson)" "known curves" --distributions negexp spread400
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import logsumexp, ndtr

from benchmarks.known_shapes import (
    KnownShapes,
    Posterior,
    ShapePrior,
    _correlated,
    broad_prior,
    posterior,
    running_ids,
)
from engine.context import Context
from engine.errors import EngineError
from engine.simulate import World, oracle_spend
from engine.spread_worlds import SPREAD
from engine.worlds import saturation

SCALE_POINTS = 48
QUADRATURE = 10
NEWTON_STEPS = 60
_SCALAR = ("conversions", "valued", "revenue")
_PER_SCALE = ("exposure", "log_exposure")


@dataclass(frozen=True)
class FamilyPrior:
    """Per campaign (K) and scale point (G): `scale` (K, G), its prior `log_weight` (K, G)
    (normalized per campaign), and the Gaussian prior of (log A, log V) given it, `mean`
    (K, G, 2) and `precision` (K, G, 2, 2); with `value_bounds`, log V is uniform on those
    bounds instead and apart from log A (precision 0 on it)."""

    scale: np.ndarray
    log_weight: np.ndarray
    mean: np.ndarray
    precision: np.ndarray
    value_bounds: tuple[float, float] | None = None

    def given(self, ids: np.ndarray, points: np.ndarray) -> ShapePrior:
        """`KnownShapes`' prior of campaigns `ids` at their scale points `points`."""
        return ShapePrior(
            self.mean[ids, points], self.precision[ids, points], value_bounds=self.value_bounds
        )


def _log_uniform(world: World, low: float, high: float, points: int) -> np.ndarray:
    """(K, G) midpoints of equal log bins from low to high equal shares."""
    edges = np.linspace(np.log(low), np.log(high), points + 1)
    ratio = np.exp(0.5 * (edges[1:] + edges[:-1]))
    return np.tile(world.timestep_budget / world.n_campaigns * ratio, (world.n_campaigns, 1))


def _spread_out(shape_prior: ShapePrior, points: int) -> tuple[np.ndarray, np.ndarray]:
    """A prior of (log A, log V) that does not depend on the scale, on every scale point."""
    mean = np.repeat(shape_prior.mean[:, None, :], points, axis=1)
    return mean, np.repeat(shape_prior.precision[:, None], points, axis=1)


def broad_family_prior(
    world: World, points: int = SCALE_POINTS, volume: float = 1.0
) -> FamilyPrior:
    """`make_broad_world`'s own prior at `volume`: scales log-uniform 0.1 to 10 equal shares."""
    scale = _log_uniform(world, 0.1, 10.0, points)
    mean, precision = _spread_out(broad_prior(world, volume), points)
    return FamilyPrior(scale, np.full(scale.shape, -np.log(points)), mean, precision)


def first_family_prior(world: World, points: int = SCALE_POINTS) -> FamilyPrior:
    """`engine.worlds.make_world`'s own prior: scales log-normal (sd 0.5) around an equal share,
    revenue at the scale scale x LogNormal(log 4, 0.5) (half of it for Michaelis-Menten and
    Hill), values LogNormal(log 40, 0.4)."""
    k, sd = world.n_campaigns, 0.5
    edges = np.linspace(-4.0, 4.0, points + 1)
    mass = np.diff(ndtr(edges))
    mass[0], mass[-1] = mass[0] + ndtr(-4.0), mass[-1] + ndtr(-4.0)  # the tails, in the ends
    ratio = np.exp(sd * 0.5 * (edges[1:] + edges[:-1]))
    scale = np.tile(world.timestep_budget / k * ratio, (k, 1))
    half = np.where(world.kind == 0, 1.0, 0.5)[:, None]
    shape_prior = _correlated(np.log(half * scale * 4.0).ravel(), 0.5, np.log(40.0), 0.4)
    mean = shape_prior.mean.reshape(k, points, 2)
    precision = shape_prior.precision.reshape(k, points, 2, 2)
    return FamilyPrior(scale, np.tile(np.log(mass), (k, 1)), mean, precision)


def spread_family_prior(world: World, points: int = SCALE_POINTS, draws: int = 4000) -> FamilyPrior:
    """`engine.spread_worlds.make_spread_world`'s prior: scales log-uniform over 0.2 to 5 equal
    shares; log A given the campaign's own scale Gaussian, fitted to `draws` draws of the
    generator (the other campaigns' scales and sizes drawn, every family and Hill exponent
    told); values log-uniform over 20 to 80. The conversions level is read off the world, as
    the generator sets it."""
    k = world.n_campaigns
    equal_share = world.timestep_budget / k
    conversions = float(world.expected_conversions(np.full(k, equal_share), 0).sum())
    half_spread = 0.5 * np.log(SPREAD)
    scale = _log_uniform(world, np.exp(-half_spread), np.exp(half_spread), points)
    rng = np.random.default_rng([4057, k, 2])
    most = rng.lognormal(0.0, 0.8, (draws, k))
    drawn = equal_share * np.exp(rng.uniform(-half_spread, half_spread, (draws, k)))
    part = most * saturation(world.kind, equal_share / drawn, world.shape)
    others = part.sum(axis=1, keepdims=True) - part  # (D, K): every other campaign's
    own = saturation(world.kind[:, None], equal_share / scale, world.shape[:, None])  # (K, G)
    half = np.where(world.kind == 0, 1.0, 0.5)[:, None]
    log_amplitude = np.log(half * most[:, :, None] * conversions) - np.log(
        others[:, :, None] + most[:, :, None] * own[None]
    )
    mean = np.zeros((k, points, 2))
    mean[:, :, 0] = log_amplitude.mean(axis=0)
    mean[:, :, 1] = np.log(40.0)
    precision = np.zeros((k, points, 2, 2))
    precision[:, :, 0, 0] = 1.0 / log_amplitude.var(axis=0)
    log_weight = np.full((k, points), -np.log(points))
    return FamilyPrior(scale, log_weight, mean, precision, (np.log(20.0), np.log(80.0)))


def point_scale_prior(world: World, shape_prior: ShapePrior) -> FamilyPrior:
    """Each campaign's true scale as its only point, with `shape_prior` given it."""
    mean, precision = _spread_out(shape_prior, 1)
    scale = world.scale[:, None].copy()
    return FamilyPrior(scale, np.zeros(scale.shape), mean, precision, shape_prior.value_bounds)


def unit_curves(
    kind: np.ndarray, shape: np.ndarray, spend: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """(K, G) expected conversions at amplitude 1 of campaigns (K,) at `spend` (K,), for each
    of their scale points `scale` (K, G), as `World.expected_conversions` computes them."""
    top = np.where(kind == 1, 2.0, np.where(kind == 2, 2.0, 1.0))[:, None]
    return top * saturation(kind[:, None], spend[:, None] / scale, shape[:, None])


def _newton(gradient_hessian, x: np.ndarray) -> np.ndarray:
    """The maximum of a concave function from x (N, d) by clipped Newton steps; d is 1 or 2."""
    for _ in range(NEWTON_STEPS):
        gradient, hessian = gradient_hessian(x)
        if x.shape[1] == 1:
            move = -gradient / hessian[:, :, 0]
        else:
            h00, h01, h11 = hessian[:, 0, 0], hessian[:, 0, 1], hessian[:, 1, 1]
            det = h00 * h11 - h01**2
            move = (
                -np.column_stack(
                    [
                        h11 * gradient[:, 0] - h01 * gradient[:, 1],
                        h00 * gradient[:, 1] - h01 * gradient[:, 0],
                    ]
                )
                / det[:, None]
            )
        move = np.clip(move, -2.0, 2.0)
        x = x + move
        if np.abs(move).max(initial=0.0) < 1e-10:
            break
    return x


def log_evidence(
    mean: np.ndarray,
    precision: np.ndarray,
    count: np.ndarray,
    exposure: np.ndarray,
    valued: np.ndarray,
    revenue: np.ndarray,
    with_value: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """log of the integral over (log A, log V) of exp(count a - exposure e^a - valued v -
    revenue e^-v) against the Gaussian prior (`mean` (N, 2), `precision` (N, 2, 2)), and the
    log posterior mean of A V; without `with_value`, over log A alone (the value factor left
    out) and of A. Adaptive Gauss-Hermite quadrature on the Laplace approximation."""
    d = 2 if with_value else 1
    centre, inverse = mean[:, :d], precision[:, :d, :d]

    def gradient_hessian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at_a = exposure * np.exp(x[:, 0])
        gradient = -np.einsum("nij,nj->ni", inverse, x - centre)
        hessian = -inverse.copy()
        gradient[:, 0] += count - at_a
        hessian[:, 0, 0] -= at_a
        if with_value:
            at_v = revenue * np.exp(-x[:, 1])
            gradient[:, 1] += at_v - valued
            hessian[:, 1, 1] -= at_v
        return gradient, hessian

    mode = _newton(gradient_hessian, centre.copy())
    _, hessian = gradient_hessian(mode)
    cov = np.linalg.inv(-hessian)
    chol = np.linalg.cholesky(cov)  # (N, d, d)
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE)
    if d == 1:
        z = nodes[None, :]  # (1, Q)
        log_w = np.log(weights)
    else:
        z = np.stack(np.meshgrid(nodes, nodes, indexing="ij")).reshape(2, -1)  # (2, Q^2)
        log_w = np.log(np.outer(weights, weights)).ravel()
    points = mode[:, :, None] + np.einsum("nij,jq->niq", chol, z)  # (N, d, Q^d)
    delta = points - centre[:, :, None]
    quadratic = np.einsum("nij,niq,njq->nq", inverse, delta, delta)
    log_f = count[:, None] * points[:, 0] - exposure[:, None] * np.exp(points[:, 0])
    if with_value:
        log_f -= valued[:, None] * points[:, 1] + revenue[:, None] * np.exp(-points[:, 1])
    values = log_f - 0.5 * quadratic + 0.5 * (z**2).sum(axis=0)[None, :]
    log_det_chol = np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(axis=1)
    log_det_precision = np.linalg.slogdet(inverse)[1]
    integral = logsumexp(values + log_w[None, :], axis=1)
    log_mean = logsumexp(values + log_w[None, :] + points.sum(axis=1), axis=1) - integral
    normalizer = log_det_chol + 0.5 * log_det_precision - 0.5 * d * np.log(2.0 * np.pi)
    return integral + normalizer, log_mean


def scale_log_posterior(
    prior: FamilyPrior, sums: Mapping[str, np.ndarray], value_cv: float
) -> tuple[np.ndarray, np.ndarray]:
    """(K, G) log posterior weights of the scale points, normalized per campaign, given the
    sums (see the module): `conversions`, `valued`, `revenue` (K,), and per scale point
    `exposure` and `log_exposure` (K, G); and (K, G) the log posterior mean of A V given each
    scale point (of A alone with `value_bounds`)."""
    k, points = sums["exposure"].shape
    shape = 1.0 / value_cv**2
    with_value = prior.value_bounds is None

    def flat(key: str) -> np.ndarray:
        return np.repeat(np.asarray(sums[key], dtype=float), points) * (
            shape if key in ("valued", "revenue") else 1.0
        )

    evidence, log_mean = log_evidence(
        prior.mean.reshape(k * points, 2),
        prior.precision.reshape(k * points, 2, 2),
        flat("conversions"),
        sums["exposure"].ravel(),
        flat("valued"),
        flat("revenue"),
        with_value,
    )
    log_weight = prior.log_weight + sums["log_exposure"] + evidence.reshape(k, points)
    normalized = log_weight - logsumexp(log_weight, axis=1, keepdims=True)
    return normalized, log_mean.reshape(k, points)


def split_draw(weights: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One uniform draw per row of `weights` (K, G) made into a draw of a point by the inverse
    distribution function, and what is left of it: a uniform draw apart from the point."""
    cdf = np.cumsum(weights, axis=1)
    scaled = uniform * cdf[:, -1]
    points = np.minimum((cdf < scaled[:, None]).sum(axis=1), weights.shape[1] - 1)
    rows = np.arange(weights.shape[0])
    below = cdf[rows, points] - weights[rows, points]
    within = np.clip((scaled - below) / weights[rows, points], 0.0, np.nextafter(1.0, 0.0))
    return points, within


class KnownFamily(KnownShapes):
    """Told every campaign's family and Hill exponent and the generator's priors; learns
    scales, amplitudes and values exactly and plays Thompson sampling (see the module).
    `prior` defaults to the broad worlds' own."""

    def __init__(self, world: World, prior: FamilyPrior | None = None) -> None:
        super().__init__(world, "thompson", broad_prior(world))
        self.family_prior = broad_family_prior(world) if prior is None else prior
        if self.family_prior.scale.shape[0] != world.n_campaigns:
            raise EngineError("the family prior must hold one row per campaign of the world")

    def _fresh(self, ids: list[int]) -> dict:
        points = self.family_prior.scale.shape[1]
        per_scale = {key: [[0.0] * points for _ in ids] for key in _PER_SCALE}
        return {"ids": list(ids), "t": 0, **{key: [0.0] * len(ids) for key in _SCALAR}, **per_scale}

    def update_stats(self, stats: dict, context: Context) -> dict:
        """The finished timestep's conversions, and per scale point u_s(spend) and
        conversions x log u_s(spend), and the revenue of the conversions that report one,
        added to the sums."""
        conversions = context.observed["conversions"]
        revenue = context.observed["revenue"]
        seen = np.isfinite(conversions)
        valued = seen & np.isfinite(revenue)
        ids = np.asarray(stats["ids"], dtype=int)
        w = self.world
        unit = unit_curves(w.kind[ids], w.shape[ids], context.spend, self.family_prior.scale[ids])
        counted = np.where(seen, conversions, 0.0)
        with np.errstate(divide="ignore"):
            log_unit = np.log(np.maximum(unit, 1e-300))
        added = {
            "conversions": counted,
            "valued": np.where(valued, conversions, 0.0),
            "revenue": np.where(valued, revenue, 0.0),
            "exposure": np.where(seen[:, None], unit, 0.0),
            "log_exposure": np.where(counted[:, None] > 0, counted[:, None] * log_unit, 0.0),
        }
        sums = {
            key: (np.array(stats[key]) + added[key]).tolist() for key in (*_SCALAR, *_PER_SCALE)
        }
        return {"ids": list(stats["ids"]), "t": stats["t"] + 1, **sums}

    def resize_stats(self, stats: dict, keep: Sequence[int | None], n_old: int) -> dict:
        """The campaigns running at the next timestep (the world says which), each kept one
        with its sums, an added one with none."""
        ids = running_ids(self.world, stats, keep)
        fresh = self._fresh(ids)
        for key in (*_SCALAR, *_PER_SCALE):
            fresh[key] = [
                fresh[key][i] if old is None else stats[key][old] for i, old in enumerate(keep)
            ]
        fresh["t"] = stats["t"]
        return fresh

    def sums_of(self, stats: Mapping) -> dict[str, np.ndarray]:
        """The state's sums as arrays: (K,) scale-free, (K, G) per scale point."""
        return {key: np.asarray(stats[key], dtype=float) for key in (*_SCALAR, *_PER_SCALE)}

    def prior_of(self, ids: np.ndarray) -> FamilyPrior:
        """The family prior of the world's campaigns `ids`."""
        p = self.family_prior
        return FamilyPrior(
            p.scale[ids], p.log_weight[ids], p.mean[ids], p.precision[ids], p.value_bounds
        )

    def scale_posterior(self, stats: Mapping) -> np.ndarray:
        """(K, G) posterior weights of the scale points of the campaigns the state holds."""
        ids = np.asarray(stats["ids"], dtype=int)
        log_weight, _ = scale_log_posterior(self.prior_of(ids), self.sums_of(stats), self.value_cv)
        return np.exp(log_weight)

    def posterior_given(self, stats: Mapping, points: np.ndarray) -> Posterior:
        """The (log A, log V) posterior of the campaigns the state holds, at scale points
        `points` (K,)."""
        ids = np.asarray(stats["ids"], dtype=int)
        rows = np.arange(ids.size)
        sums = self.sums_of(stats)
        given = {
            "conversions": sums["conversions"],
            "exposure": sums["exposure"][rows, points],
            "valued": sums["valued"],
            "revenue": sums["revenue"],
        }
        return posterior(self.family_prior.given(ids, points), given, self.value_cv)

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """The exact split of the coming timestep on one posterior draw of every campaign's
        (scale, A, V), one uniform draw each (see the module)."""
        stats = context.stats
        ids = np.asarray(stats["ids"], dtype=int)
        points, within = split_draw(self.scale_posterior(stats), rng.random(ids.size))
        revenue = self.posterior_given(stats, points).revenue_at(within)
        t = min(context.t, self.world.timesteps - 1)
        estimated = replace(
            self._campaigns(ids),
            amplitude=revenue[None, :],
            scale=self.family_prior.scale[ids, points],
        )
        upper = np.where(self.world.live(t)[ids], np.inf, 0.0)
        spend = oracle_spend(estimated, 0, np.zeros(ids.size), upper)
        return spend / self.world.timestep_budget
