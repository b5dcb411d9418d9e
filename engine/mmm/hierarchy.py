"""Ladders of ROI components: a prior learnt on the log scale, or a fixed log-normal one.

Each channel without a user prior has its ROI drawn from one of the components of a fixed
ladder (`LEVELS`, doubling, in units of the data's KPI per unit of total spend), a normal
truncated at zero with a spread of `SPREAD` times its level: together a prior close to
log-normal, which the conjugate sampler can use as it is. Which component a channel takes
is a latent label, and the labels are drawn from a discretized normal on the log level
whose centre and spread (`LOG_CENTRES`, `LOG_SPREADS`) are common to the data set's channels
and learnt from them: the channels' ROIs are shrunk toward their common level in ratio,
not in difference, as their returns spread (a channel's ROI several times another's).
User ROI priors (lift tests) stay as given.

`lognormal_ladder` gives the same machinery fixed label weights instead: a finer ladder
(`ROI_LEVELS`, a factor 2^(1/3) apart, components of spread `ROI_SPREAD`) in absolute ROI
units (KPI per unit of spend) whose mixture has the log-mean and log-sd of a
LogNormal(mu, sigma) ROI prior (Google Meridian's default for revenue KPIs is
LogNormal(0.2, 0.9)) and close to its quantiles; nothing about it is learnt from the data.

The sweep: each channel's curve option (sampler.option_weights), each channel's label
given everything else (its conditional over the ladder, from the collapsed posterior), then
the common centre and spread given the labels alone (a grid, exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import quad
from scipy.optimize import fsolve
from scipy.special import log_ndtr, logsumexp, ndtr

from engine.mmm.sampler import (
    Tables,
    _draw,
    _rate,
    option_weights,
    posterior,
    state_positive,
)

LEVELS = np.array([0.03, 0.06, 0.12, 0.25, 0.5, 1.0, 2.0])
SPREAD = 0.5  # each component's standard deviation, a share of its level
LOG_CENTRES = np.log(np.geomspace(0.03, 2.0, 13))
LOG_SPREADS = np.array([0.35, 0.7, 1.4, 2.8])
# The fixed log-normal prior's ladder in absolute ROI units, 1/128 to 128: rungs a factor
# 2^(1/3) apart with a spread of a quarter of the rung match the log-normal's quantiles
# (doubling rungs with SPREAD gave its log-moments but a tail four times too thin).
ROI_LEVELS = 2.0 ** (np.arange(-21, 22) / 3)
ROI_SPREAD = 0.25


def _component_log_moments(spread: float) -> tuple[float, float]:
    """Mean and variance of log X for X ~ N(1, spread^2) truncated at zero (a rung at 1)."""
    norm = ndtr(1.0 / spread) * spread * np.sqrt(2 * np.pi)
    density = lambda x: np.exp(-0.5 * ((x - 1.0) / spread) ** 2) / norm  # noqa: E731
    mean = quad(lambda x: np.log(x) * density(x), 0, np.inf, limit=200)[0]
    variance = quad(lambda x: (np.log(x) - mean) ** 2 * density(x), 0, np.inf, limit=200)[0]
    return mean, variance


COMPONENT_LOG_MEAN, COMPONENT_LOG_VARIANCE = _component_log_moments(ROI_SPREAD)
MIN_SIGMA = float(np.sqrt(COMPONENT_LOG_VARIANCE)) + 0.05  # narrower than one rung: refused


def lognormal_ladder(mu: float, sigma: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Rungs (K,) in ROI units, fixed log label weights (1, K) and the rungs' spread, whose
    mixture of truncated normals has the log-mean `mu` and log-sd `sigma` of a
    LogNormal(mu, sigma) ROI prior: the labels follow a normal on the log rung,
    discretized, its centre and spread solved so that the mixture's two log-moments match
    (each rung adds its own log-spread)."""
    if not np.isfinite(mu) or not np.isfinite(sigma) or sigma < MIN_SIGMA:
        raise ValueError(f"a log-normal ROI prior needs a finite mu and sigma >= {MIN_SIGMA:.2f}")
    if abs(mu) + 2.5 * sigma > np.log(ROI_LEVELS[-1]):
        raise ValueError("a log-normal ROI prior must lie well inside ROIs of 1/128 to 128")
    log_levels = np.log(ROI_LEVELS)
    target = np.array([mu - COMPONENT_LOG_MEAN, sigma**2 - COMPONENT_LOG_VARIANCE])

    def weights(params: np.ndarray) -> np.ndarray:
        log_density = -0.5 * ((log_levels - params[0]) / abs(params[1])) ** 2
        return np.exp(log_density - logsumexp(log_density))

    def moments(params: np.ndarray) -> np.ndarray:
        w = weights(params)
        mean = w @ log_levels
        return np.array([mean, w @ (log_levels - mean) ** 2]) - target

    solved = fsolve(moments, [target[0], np.sqrt(target[1])])
    return ROI_LEVELS, np.log(np.maximum(weights(solved), 1e-300))[None, :], ROI_SPREAD


def label_weights() -> np.ndarray:
    """Log prior of each label (H, K) under each (centre, spread) pair of the grid (H = the
    pairs, centre-major): a normal on the log level, discretized over the ladder."""
    centre, spread = np.meshgrid(LOG_CENTRES, LOG_SPREADS, indexing="ij")
    z = (np.log(LEVELS)[None, :] - centre.ravel()[:, None]) / spread.ravel()[:, None]
    log_density = -0.5 * z**2
    return log_density - logsumexp(log_density, axis=1, keepdims=True)


def rung_targets(
    tables: Tables,
    options: np.ndarray,
    centre: np.ndarray,
    channel: int,
    levels: np.ndarray,
    spread: float = SPREAD,
) -> np.ndarray:
    """Log posterior (S, K) of option states (S, C) with rungs `centre` (S, C) of spread
    `spread`, `channel`'s rung set to each of `levels` in turn: `sampler.log_target` for
    every rung at the cost of one inversion, by rank-one updates (a rung changes one prior
    precision and mean)."""
    q = tables.q
    slot = q + channel
    scale = spread * centre
    post = posterior(tables, options, scale, centre)
    vector, inverse, logdet, mean, lam0, m0 = (
        post.vector, post.inverse, post.logdet, post.mean, post.lam0, post.m0
    )  # fmt: skip
    now_precision, now_mean = lam0[:, channel, None], m0[:, channel, None]
    chosen = options[:, channel]
    precision = tables.lam0[channel, chosen][:, None] / (spread * levels[None, :]) ** 2
    prior_mean = tables.m0[channel, chosen][:, None] * levels[None, :]
    delta = precision - now_precision  # (S, K)
    gamma = precision * prior_mean - now_precision * now_mean
    column = inverse[:, :, slot]  # (S, p)
    own = column[:, slot, None]
    denominator = 1.0 + delta * own
    shift = gamma - delta * (mean[:, slot, None] + gamma * own) / denominator
    means = mean[:, None, :] + shift[:, :, None] * column[:, None, :]  # (S, K, p)
    quadratic = np.einsum("sp,skp->sk", vector, means) + gamma * means[:, :, slot]
    prior_quadratic = (
        np.sum(lam0 * m0**2, axis=1)[:, None]
        - now_precision * now_mean**2
        + precision * prior_mean**2
    )
    shape = tables.a0 + 0.5 * tables.rows
    rate = _rate(tables, prior_quadratic, quadratic)
    diagonal = np.diagonal(inverse, axis1=1, axis2=2)[:, None, q:]
    diagonal = diagonal - (delta / denominator)[:, :, None] * column[:, None, q:] ** 2
    spread = np.sqrt(np.maximum(diagonal * (rate / shape)[:, :, None], 1e-300))
    positive = np.sum(log_ndtr(means[:, :, q:] / spread), axis=2)
    # a shared-prior channel's normalizer, Phi(centre / scale), is the same on every rung
    positive -= np.sum(state_positive(tables, options, scale, centre), axis=1)[:, None]
    log_precision = np.sum(np.log(lam0), axis=1)[:, None] - np.log(now_precision)
    log_precision = log_precision + np.log(precision)
    shapes = np.sum(tables.option_prior[options], axis=1)[:, None]
    return (
        0.5 * log_precision
        - 0.5 * (logdet[:, None] + np.log(denominator))
        - shape * np.log(rate)
        + positive
        + shapes
    )


def gibbs_ladder(
    tables: Tables,
    chains: int,
    burn: int,
    keep: int,
    rng: np.random.Generator,
    progress: Callable[[float], None] | None = None,
    levels: np.ndarray = LEVELS,
    weights: np.ndarray | None = None,
    spread: float = SPREAD,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Option draws (chains * keep, C) and each channel's prior scale and centre per draw
    (chains * keep, C), chains side by side from random starts. `levels` are the rungs
    and `weights` (H, K) the log label prior of each of H (centre, spread) pairs, the pair
    learnt (default: `label_weights()` on `LEVELS`); one row fixes the label prior; each
    component's standard deviation is `spread` times its rung."""
    channels = tables.channels
    weights = label_weights() if weights is None else weights
    state = rng.integers(tables.fy.shape[1], size=(chains, channels))
    labels = rng.integers(levels.size, size=(chains, channels))
    pair = rng.integers(weights.shape[0], size=chains)
    shared = np.flatnonzero(tables.scaled)
    kept = np.empty((keep, chains, channels), dtype=int)
    kept_labels = np.empty((keep, chains, channels), dtype=int)
    sweeps = burn + keep
    for sweep in range(sweeps):
        centre = levels[labels]
        scale = spread * centre
        for channel in rng.permutation(channels):
            log_weight = option_weights(tables, state, scale, channel, centre)
            state[:, channel] = _draw(log_weight, rng)
        for channel in rng.permutation(shared):
            candidates = rung_targets(tables, state, centre, channel, levels, spread)
            labels[:, channel] = _draw(candidates + weights[pair], rng)
            centre[:, channel] = levels[labels[:, channel]]
            scale[:, channel] = spread * centre[:, channel]
        if shared.size and weights.shape[0] > 1:
            taken = weights[:, labels[:, shared]].sum(axis=-1)  # (H, chains)
            pair = _draw(taken.T, rng)
        if sweep >= burn:
            kept[sweep - burn] = state
            kept_labels[sweep - burn] = labels
        if progress is not None and (sweep % 10 == 9 or sweep == sweeps - 1):
            progress((sweep + 1) / sweeps)
    options = kept.transpose(1, 0, 2).reshape(chains * keep, channels)
    centres = levels[kept_labels.transpose(1, 0, 2).reshape(chains * keep, channels)]
    return options, spread * centres, centres
