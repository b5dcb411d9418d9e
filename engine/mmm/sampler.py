"""Posterior of the marketing-mix model: a collapsed Gibbs sampler over hyperparameter grids.

Given each channel's hyperparameters (one option of its grid), the model is linear in its
coefficients. With the conjugate normal-inverse-gamma prior (coefficients N(m0, sigma^2 /
lam0), noise variance sigma^2 ~ IG(a0, b0)), coefficients and noise integrate out in closed
form: the marginal likelihood of an option. The sampler visits the channels in turn and
draws a channel's option from its conditional posterior, evaluated for every option at once
by a rank-one block elimination (O(p^2) per option). Channel effects are non-negative:
the truncation enters an option's weight through the posterior probability that each
effect is positive (a product of the marginal probabilities: the approximation), and the
coefficient draws that follow are exact draws from the truncated normal posterior
(Gibbs sweeps over the channel coefficients, then the baseline given them).

Channels without a user prior share a hierarchical prior on their ROI: normal around a
common centre with a common spread, truncated at zero, both learnt from all of them at
once (drawn in each sweep from their grids, `CENTRES` and `SCALES`, in units of the
data's KPI per unit of total spend). A channel the data say little about is pulled
toward the level of the others rather than toward zero, as Meridian's ROI prior and
PyMC-Marketing's hierarchical priors do; user ROI priors (lift tests) stay as given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtri_exp

TRUNCATED_SWEEPS = 25
# Spreads of the shared ROI prior, learnt jointly (a shared shrinkage scale).
SCALES = np.array([0.1, 0.15, 0.22, 0.33, 0.5, 0.75, 1.1, 1.6])
# Centres of the shared ROI prior, learnt jointly (0: shrink toward no effect).
CENTRES = np.array([0.0, 0.05, 0.1, 0.15, 0.22, 0.33, 0.5, 0.75, 1.0])


@dataclass(frozen=True)
class Tables:
    """Sufficient statistics of the fitted periods for every option, prior included.

    q baseline columns, C channels, G options per channel. Precisions are in units of the
    noise variance (the normal-inverse-gamma convention).
    """

    gbb: np.ndarray  # (q, q) baseline Gram plus prior precision
    gbf: np.ndarray  # (q, C, G)
    gff: np.ndarray  # (C, G, C, G)
    by: np.ndarray  # (q,)
    fy: np.ndarray  # (C, G)
    yy: float
    lam0: np.ndarray  # (C, G) channel prior precision at scale 1
    scaled: np.ndarray  # (C,) channels whose prior centre and scale are the shared, learnt ones
    m0: np.ndarray  # (C, G) channel prior mean (at centre 1 for the shared-prior channels)
    prior_positive: np.ndarray  # (C, G) log prior probability that the effect is positive
    option_prior: np.ndarray  # (G,) log prior weight of each curve option (0: uniform)
    base_prior: float  # log det of the baseline prior precision (constant)
    rows: int
    a0: float
    b0: float
    noise_reference: float

    @property
    def q(self) -> int:
        return self.gbb.shape[0]

    @property
    def channels(self) -> int:
        return self.fy.shape[0]


def build_tables(
    base: np.ndarray,
    media: np.ndarray,
    y: np.ndarray,
    base_lam0: np.ndarray,
    lam0: np.ndarray,
    m0: np.ndarray,
    scaled: np.ndarray,
    noise_reference: float,
    option_prior: np.ndarray | None = None,
) -> Tables:
    """Tables from the fitted rows: base (T, q), media (C, G, T), y (T,); `option_prior`
    (G,) the log prior weight of each curve option (None: uniform over the grid)."""
    channels, options, periods = media.shape
    flat = media.reshape(channels * options, periods)
    return Tables(
        gbb=base.T @ base + np.diag(base_lam0),
        gbf=(base.T @ flat.T).reshape(base.shape[1], channels, options),
        gff=(flat @ flat.T).reshape(channels, options, channels, options),
        by=base.T @ y,
        fy=(flat @ y).reshape(channels, options),
        yy=float(y @ y),
        lam0=lam0,
        scaled=scaled,
        m0=m0,
        prior_positive=log_ndtr(m0 * np.sqrt(lam0 / noise_reference)),
        option_prior=np.zeros(options) if option_prior is None else option_prior,
        base_prior=float(np.sum(np.log(base_lam0))),
        rows=periods,
        a0=1.0,
        b0=0.5 * noise_reference,
        noise_reference=noise_reference,
    )


def per_channel(value: np.ndarray | None, options: np.ndarray) -> np.ndarray:
    """A prior hyperparameter per state (S,) or per state and channel (S, C), as (S, C);
    None is 0."""
    if value is None:
        return np.zeros(options.shape)
    value = np.asarray(value, dtype=float)
    return np.broadcast_to(value[:, None] if value.ndim == 1 else value, options.shape)


def state_precision(tables: Tables, options: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Prior precision of each channel's effect (S, C) for option states and the prior
    scales of the shared-prior channels, one per state (S,) or per state and channel."""
    rows = np.arange(tables.channels)
    shrink = np.where(tables.scaled[None, :], per_channel(scale, options) ** 2, 1.0)
    return tables.lam0[rows, options] / shrink


def state_mean(tables: Tables, options: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """Prior mean of each channel's effect (S, C) for option states and shared centres
    (None: centre 0, a prior at no effect for the shared-prior channels)."""
    rows = np.arange(tables.channels)
    m0 = tables.m0[rows, options]
    return np.where(tables.scaled[None, :], per_channel(centre, options) * m0, m0)


def state_positive(
    tables: Tables, options: np.ndarray, scale: np.ndarray, centre: np.ndarray | None = None
) -> np.ndarray:
    """Log prior probability (S, C) that each channel's effect is positive: the truncated
    prior's normalizer (for the shared prior, Phi(centre / scale), the same for any option)."""
    rows = np.arange(tables.channels)
    shared = log_ndtr(per_channel(centre, options) / per_channel(scale, options))
    return np.where(tables.scaled[None, :], shared, tables.prior_positive[rows, options])


def system(
    tables: Tables, options: np.ndarray, scale: np.ndarray, centre: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior precision M (S, p, p) and vector v (S, p) of states `options` (S, C)."""
    states, channels = options.shape
    q = tables.q
    size = q + channels
    rows = np.arange(channels)
    matrix = np.empty((states, size, size))
    matrix[:, :q, :q] = tables.gbb
    cross = tables.gbf[:, rows[None, :], options]  # (q, S, C)
    matrix[:, :q, q:] = cross.transpose(1, 0, 2)
    matrix[:, q:, :q] = cross.transpose(1, 2, 0)
    block = tables.gff[
        rows[None, :, None], options[:, :, None], rows[None, None, :], options[:, None, :]
    ]
    lam0 = state_precision(tables, options, scale)
    block[:, rows, rows] += lam0
    matrix[:, q:, q:] = block
    vector = np.empty((states, size))
    vector[:, :q] = tables.by
    vector[:, q:] = tables.fy[rows, options] + lam0 * state_mean(tables, options, centre)
    return matrix, vector


def _rate(tables: Tables, prior_quadratic: np.ndarray, quadratic: np.ndarray) -> np.ndarray:
    rate = tables.b0 + 0.5 * (tables.yy + prior_quadratic - quadratic)
    return np.maximum(rate, 1e-12 * tables.b0)


@dataclass(frozen=True)
class Posterior:
    """The conjugate posterior of option states (S,): the normal equations' vector (S, p),
    their inverse (S, p, p) and log-determinant (S,), the mean (S, p), and the prior's
    precisions and means (S, p)."""

    vector: np.ndarray
    inverse: np.ndarray
    logdet: np.ndarray
    mean: np.ndarray
    lam0: np.ndarray
    m0: np.ndarray


def posterior(
    tables: Tables, options: np.ndarray, scale: np.ndarray, centre: np.ndarray | None = None
) -> Posterior:
    """The conjugate posterior of option states, scales and centres, one inversion each."""
    matrix, vector = system(tables, options, scale, centre)
    inverse = np.linalg.inv(matrix)
    _, logdet = np.linalg.slogdet(matrix)
    return Posterior(
        vector=vector,
        inverse=inverse,
        logdet=logdet,
        mean=np.einsum("spr,sr->sp", inverse, vector),
        lam0=state_precision(tables, options, scale),
        m0=state_mean(tables, options, centre),
    )


def log_target(
    tables: Tables, options: np.ndarray, scale: np.ndarray, centre: np.ndarray | None = None
) -> np.ndarray:
    """Log posterior of option states, scales and centres (S,), up to one constant."""
    q = tables.q
    post = posterior(tables, options, scale, centre)
    vector, inverse, logdet, mean, lam0, m0 = (
        post.vector, post.inverse, post.logdet, post.mean, post.lam0, post.m0
    )  # fmt: skip
    shape = tables.a0 + 0.5 * tables.rows
    rate = _rate(tables, np.sum(lam0 * m0**2, axis=1), np.einsum("sp,sp->s", vector, mean))
    variance = np.diagonal(inverse, axis1=1, axis2=2)[:, q:] * (rate / shape)[:, None]
    positive = np.sum(log_ndtr(mean[:, q:] / np.sqrt(variance)), axis=1)
    positive -= np.sum(state_positive(tables, options, scale, centre), axis=1)
    shapes = np.sum(tables.option_prior[options], axis=1)
    return (
        0.5 * np.sum(np.log(lam0), axis=1) - 0.5 * logdet - shape * np.log(rate) + positive + shapes
    )


def option_weights(
    tables: Tables,
    options: np.ndarray,
    scale: np.ndarray,
    channel: int,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Log posterior of each option of `channel` given the rest, (S, G), up to a constant
    per state: the same differences as `log_target`, for all G options in O(p^2) each."""
    q, channels = tables.q, tables.channels
    rows = np.arange(channels)
    slot = q + channel
    matrix, vector = system(tables, options, scale, centre)
    matrix[:, slot, :] = 0.0
    matrix[:, :, slot] = 0.0
    matrix[:, slot, slot] = 1.0
    vector[:, slot] = 0.0
    inverse = np.linalg.inv(matrix)
    _, logdet = np.linalg.slogdet(matrix)
    z = np.einsum("spr,sr->sp", inverse, vector)
    others = tables.gff[channel][:, rows[None, :], options]  # (G, S, C)
    count = tables.fy.shape[1]
    columns = np.empty((options.shape[0], q + channels, count))
    columns[:, :q, :] = tables.gbf[:, channel, :][None]
    columns[:, q:, :] = others.transpose(1, 2, 0)
    columns[:, slot, :] = 0.0
    projected = inverse @ columns  # (S, p, G)
    own_scale = per_channel(scale, options)[:, channel]
    shrink = own_scale**2 if tables.scaled[channel] else np.ones_like(own_scale)
    lam0 = tables.lam0[channel][None, :] / shrink[:, None]  # (S, G)
    level = per_channel(centre, options)[:, channel]
    m0 = tables.m0[channel][None, :] * (level[:, None] if tables.scaled[channel] else 1.0)
    diagonal = tables.gff[channel, np.arange(count), channel, np.arange(count)][None, :] + lam0
    schur = diagonal - np.einsum("spg,spg->sg", columns, projected)
    schur = np.maximum(schur, 1e-12 * diagonal)
    residual = tables.fy[channel][None, :] + lam0 * m0 - np.einsum("spg,sp->sg", columns, z)
    quadratic = np.einsum("sp,sp->s", vector, z)[:, None] + residual**2 / schur
    kept = np.arange(channels) != channel
    state_lam0 = state_precision(tables, options, scale)[:, kept]
    state_m0 = state_mean(tables, options, centre)[:, kept]
    prior_quadratic = np.sum(state_lam0 * state_m0**2, axis=1)[:, None] + lam0 * m0**2
    shape = tables.a0 + 0.5 * tables.rows
    rate = _rate(tables, prior_quadratic, quadratic)
    log_weight = 0.5 * np.log(lam0) - 0.5 * (logdet[:, None] + np.log(schur))
    log_weight -= shape * np.log(rate)
    effect = residual / schur
    means = z[:, q:, None] - projected[:, q:, :] * effect[:, None, :]
    variances = (
        np.diagonal(inverse, axis1=1, axis2=2)[:, q:, None]
        + projected[:, q:, :] ** 2 / schur[:, None, :]
    )
    means[:, channel, :] = effect
    variances[:, channel, :] = 1.0 / schur
    spread = np.sqrt(np.maximum(variances * (rate / shape)[:, None, :], 1e-300))
    log_weight += np.sum(log_ndtr(means / spread), axis=1)
    if not tables.scaled[channel]:  # the shared prior's normalizer is the same for any option
        log_weight -= tables.prior_positive[channel][None, :]
    return log_weight + tables.option_prior[None, :]


def _draw(log_weight: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.argmax(log_weight + rng.gumbel(size=log_weight.shape), axis=1)


def gibbs(
    tables: Tables,
    chains: int,
    burn: int,
    keep: int,
    rng: np.random.Generator,
    progress: Callable[[float], None] | None = None,
    centres: np.ndarray = CENTRES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Option draws (chains * keep, C) and the shared prior's scale and centre draws,
    chains side by side from random starts; `centres` is the centre's grid ([0]: the
    shared prior sits at no effect and only its scale is learnt)."""
    options_per_channel = tables.fy.shape[1]
    state = rng.integers(options_per_channel, size=(chains, tables.channels))
    scale = SCALES[rng.integers(SCALES.size, size=chains)]
    centre = centres[rng.integers(centres.size, size=chains)]
    kept = np.empty((keep, chains, tables.channels), dtype=int)
    kept_hyper = np.empty((keep, 2, chains))
    sweeps = burn + keep
    shared = bool(np.any(tables.scaled))
    for sweep in range(sweeps):
        for channel in rng.permutation(tables.channels):
            weights = option_weights(tables, state, scale, channel, centre)
            state[:, channel] = _draw(weights, rng)
        if shared:
            candidates = np.stack(
                [log_target(tables, state, np.full(chains, value), centre) for value in SCALES],
                axis=1,
            )
            scale = SCALES[_draw(candidates, rng)]
            if centres.size > 1:
                candidates = np.stack(
                    [log_target(tables, state, scale, np.full(chains, value)) for value in centres],
                    axis=1,
                )
                centre = centres[_draw(candidates, rng)]
        if sweep >= burn:
            kept[sweep - burn] = state
            kept_hyper[sweep - burn] = scale, centre
        if progress is not None and (sweep % 10 == 9 or sweep == sweeps - 1):
            progress((sweep + 1) / sweeps)
    options = kept.transpose(1, 0, 2).reshape(chains * keep, tables.channels)
    hyper = kept_hyper.transpose(1, 2, 0).reshape(2, chains * keep)
    return options, hyper[0], hyper[1]


def truncated_normal(mean: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws of N(mean, sd^2) truncated to [0, inf), stable far in either tail."""
    lower = -mean / sd
    log_u = np.log(rng.uniform(size=np.shape(mean)))
    return mean + sd * np.maximum(-ndtri_exp(log_u + log_ndtr(-lower)), lower)


def truncated_effects(
    centre: np.ndarray, covariance: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draws (S, C) of N(centre_s, covariance_s) truncated to the positive orthant.

    Gibbs sweeps over the coordinates, each a univariate truncated normal, started at
    the clipped unconstrained draw.
    """
    precision = np.linalg.inv(covariance)
    free = np.linalg.cholesky(covariance) @ rng.standard_normal((*centre.shape, 1))
    effects = np.maximum(centre + free[..., 0], 0.0)
    for _ in range(TRUNCATED_SWEEPS):
        for j in range(centre.shape[1]):
            pull = np.einsum("sk,sk->s", precision[:, j, :], effects - centre)
            pull -= precision[:, j, j] * (effects[:, j] - centre[:, j])
            conditional = centre[:, j] - pull / precision[:, j, j]
            effects[:, j] = truncated_normal(conditional, 1.0 / np.sqrt(precision[:, j, j]), rng)
    return effects


def coefficient_draws(
    tables: Tables,
    options: np.ndarray,
    scale: np.ndarray,
    rng: np.random.Generator,
    centre: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (S, p) and noise variances (S,) drawn given each option state (S, C)
    and the shared prior's scale and centre.

    sigma^2 from its marginal inverse-gamma; the channel effects from their truncated
    normal marginal; the baseline from its normal conditional given the effects.
    """
    q = tables.q
    matrix, vector = system(tables, options, scale, centre)
    inverse = np.linalg.inv(matrix)
    mean = np.einsum("spr,sr->sp", inverse, vector)
    lam0 = state_precision(tables, options, scale)
    prior = np.sum(lam0 * state_mean(tables, options, centre) ** 2, axis=1)
    shape = tables.a0 + 0.5 * tables.rows
    rate = _rate(tables, prior, np.einsum("sp,sp->s", vector, mean))
    sigma2 = rate / rng.gamma(shape, size=rate.shape)
    centre = mean[:, q:]
    effects = truncated_effects(centre, inverse[:, q:, q:] * sigma2[:, None, None], rng)
    base_precision = matrix[:, :q, :q]
    shift = np.linalg.solve(base_precision, matrix[:, :q, q:] @ (effects - centre)[..., None])
    base_factor = np.linalg.cholesky(base_precision)
    noise = np.linalg.solve(
        base_factor.transpose(0, 2, 1), rng.standard_normal((len(sigma2), q, 1))
    )
    base = mean[:, :q] - shift[..., 0] + np.sqrt(sigma2)[:, None] * noise[..., 0]
    return np.concatenate([base, effects], axis=1), sigma2
