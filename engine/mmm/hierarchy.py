"""A prior on the channels' ROI learnt from the data set: shrinkage on the log scale.

Each channel without a user prior has its ROI drawn from one of the components of a fixed
ladder (`LEVELS`, doubling, in units of the data's KPI per unit of total spend), a normal
truncated at zero with a spread of `SPREAD` times its level: together a prior close to
log-normal, which the conjugate sampler can use as it is. Which component a channel takes
is a latent label, and the labels are drawn from a discretized normal on the log level
whose centre and spread (`LOG_CENTRES`, `LOG_SPREADS`) are common to the data set's channels
and learnt from them: the channels' ROIs are shrunk toward their common level in ratio,
not in difference, as their returns spread (a channel's ROI several times another's).
User ROI priors (lift tests) stay as given.

The sweep: each channel's curve option (sampler.option_weights), each channel's label
given everything else (its conditional over the ladder, from the collapsed posterior), then
the common centre and spread given the labels alone (a grid, exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from engine.mmm.sampler import Tables, _draw, log_target, option_weights

LEVELS = np.array([0.03, 0.06, 0.12, 0.25, 0.5, 1.0, 2.0])
SPREAD = 0.5  # each component's standard deviation, a share of its level
LOG_CENTRES = np.log(np.geomspace(0.03, 2.0, 13))
LOG_SPREADS = np.array([0.35, 0.7, 1.4, 2.8])


def label_weights() -> np.ndarray:
    """Log prior of each label (H, K) under each (centre, spread) pair of the grid (H = the
    pairs, centre-major): a normal on the log level, discretized over the ladder."""
    centre, spread = np.meshgrid(LOG_CENTRES, LOG_SPREADS, indexing="ij")
    z = (np.log(LEVELS)[None, :] - centre.ravel()[:, None]) / spread.ravel()[:, None]
    log_density = -0.5 * z**2
    return log_density - logsumexp(log_density, axis=1, keepdims=True)


def gibbs_ladder(
    tables: Tables,
    chains: int,
    burn: int,
    keep: int,
    rng: np.random.Generator,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Option draws (chains * keep, C) and each channel's prior scale and centre per draw
    (chains * keep, C), chains side by side from random starts."""
    channels = tables.channels
    weights = label_weights()
    state = rng.integers(tables.fy.shape[1], size=(chains, channels))
    labels = rng.integers(LEVELS.size, size=(chains, channels))
    pair = rng.integers(weights.shape[0], size=chains)
    shared = np.flatnonzero(tables.scaled)
    kept = np.empty((keep, chains, channels), dtype=int)
    kept_labels = np.empty((keep, chains, channels), dtype=int)
    sweeps = burn + keep
    for sweep in range(sweeps):
        centre = LEVELS[labels]
        scale = SPREAD * centre
        for channel in rng.permutation(channels):
            log_weight = option_weights(tables, state, scale, channel, centre)
            state[:, channel] = _draw(log_weight, rng)
        for channel in rng.permutation(shared):
            candidates = np.empty((chains, LEVELS.size))
            for k, level in enumerate(LEVELS):
                centre[:, channel], scale[:, channel] = level, SPREAD * level
                candidates[:, k] = log_target(tables, state, scale, centre)
            labels[:, channel] = _draw(candidates + weights[pair], rng)
            centre[:, channel] = LEVELS[labels[:, channel]]
            scale[:, channel] = SPREAD * centre[:, channel]
        if shared.size:
            taken = weights[:, labels[:, shared]].sum(axis=-1)  # (H, chains)
            pair = _draw(taken.T, rng)
        if sweep >= burn:
            kept[sweep - burn] = state
            kept_labels[sweep - burn] = labels
        if progress is not None and (sweep % 10 == 9 or sweep == sweeps - 1):
            progress((sweep + 1) / sweeps)
    options = kept.transpose(1, 0, 2).reshape(chains * keep, channels)
    centres = LEVELS[kept_labels.transpose(1, 0, 2).reshape(chains * keep, channels)]
    return options, SPREAD * centres, centres
