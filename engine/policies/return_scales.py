"""Each campaign's saturation scale for the value-estimate bandits, learnt on a small grid.

The bandits score a campaign's amplitude: its value over its exposure, the sum over its
timesteps of 1 - exp(-spend / scale). On one fixed scale a campaign saturating much earlier
has its amplitude overrated (it earns nearly its top at a fraction of the scale, and is
credited as if it would keep rising), and the split funds it beyond its worth. Here every
campaign keeps, for each scale of a small grid (in equal shares of the timestep budget), the
least-squares sums of its values on that curve; the scale the data fit best, against a
log-normal prior around the fixed one, is the campaign's. Spends that never varied fit every
scale alike, and the prior keeps the fixed scale.
"""

from __future__ import annotations

import numpy as np

GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Candidate scales, in equal shares of the timestep budget."""
_PRIOR_SD = 2.0
"""Sd, in log, of the prior on a campaign's scale around the policy's `saturation`."""


def curve_terms(spend: np.ndarray, unit: float) -> np.ndarray:
    """1 - exp(-spend / scale) for every campaign (K,) and scale of GRID: (K, S)."""
    scales = np.asarray(GRID) * unit
    return -np.expm1(-np.maximum(spend, 0.0)[:, None] / scales[None, :])


def fitted_scales(
    ff: np.ndarray,
    fy: np.ndarray,
    yy: np.ndarray,
    rows: np.ndarray,
    saturation: float,
) -> np.ndarray:
    """Each campaign's index into GRID (K,): the most probable scale, its evidence the
    residual of a least-squares amplitude on that curve (profile likelihood, Gaussian noise),
    its prior log-normal around `saturation`. `ff`, `fy` are
    (K, S) sums over the campaign's observed timesteps; `yy` and `rows` (K,)."""
    safe = np.where(ff > 0, ff, 1.0)
    residual = np.maximum(yy[:, None] - np.where(ff > 0, fy**2 / safe, 0.0), 0.0)
    # Residuals are floored at a small part of the campaign's own spread of values, so that
    # an exact fit does not overwhelm the prior with log(0).
    floor = 1e-6 * np.maximum(yy, np.finfo(float).tiny)[:, None]
    n = np.maximum(rows - 1.0, 0.0)[:, None]
    log_evidence = -0.5 * n * np.log(residual + floor)
    log_prior = -0.5 * (np.log(np.asarray(GRID) / saturation) / _PRIOR_SD) ** 2
    return np.argmax(log_evidence + log_prior[None, :], axis=1)
