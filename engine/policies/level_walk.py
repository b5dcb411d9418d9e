"""Each campaign's level: a random walk on its amplitude multiplier, followed by a Kalman filter.

The `curve` policy fits one amplitude a campaign from all its rows, while drift moves each
campaign's response over the run: the fit then serves the run's average level instead of the
current one. Forgetting every statistic (`discount`) follows the level but learns the
curvature from fewer rows too, which costs stationary markets.

With `level_walk` w > 0, each campaign's observed value is its base curve (the fit of the
rows so far) times a level L that moves as a random walk: y = L * p + noise, p the base
fit's prediction at the row's spend, and L's variance grows by (w * L)^2 a timestep (w is the
sd of the level's log change per timestep). A scalar Kalman filter per campaign follows L from
the rows; each row enters the fit divided by the level filtered at it, so the fit learns the
curve at one level, and a decision multiplies each campaign's amplitude by its level now. The
measurement noise is the campaign's residual about its best grid curve, shrunk toward the
policy's counting noise prior. Off by default (w = 0): on the tuning worlds it gained less on
drift than it cost without drift (docs/decision_quality.md). The statistics are the walk and
two lists of K numbers (each level's mean and variance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

_LEVEL_RANGE = (0.2, 5.0)
_PRIOR_ROWS = 2.0
"""Rows' worth of the counting noise prior in each campaign's measurement noise."""


def empty_levels(n_campaigns: int, walk: float) -> dict:
    """Every level 1 and known exactly: the fit's amplitude is the level of the first rows."""
    return {"walk": float(walk), "mean": [1.0] * n_campaigns, "var": [0.0] * n_campaigns}


def levels_of(stats: Mapping, walk: float, n_campaigns: int) -> dict:
    """The levels `stats` keep, or new ones where they keep none for this walk (statistics
    made before the levels, or under another walk: the rows already in the sums stay, and the
    levels are followed from here on, relative to their fit)."""
    levels = stats.get("levels")
    if levels is None or float(levels["walk"]) != float(walk):
        return empty_levels(n_campaigns, walk)
    return levels


def measurement_noise(sums: Mapping[str, np.ndarray], prior: np.ndarray) -> np.ndarray:
    """Each campaign's noise variance (K,): the residual of its best grid curve per row,
    shrunk toward the counting prior `prior` (K,) by `_PRIOR_ROWS` rows' worth."""
    ff, fy, yy = sums["ff"], sums["fy"], sums["yy"]
    explained = np.divide(fy * fy, ff, out=np.zeros_like(fy), where=ff > 0)
    residual = np.maximum(yy - explained.max(axis=1), 0.0)
    return (residual + _PRIOR_ROWS * prior) / (sums["count"] + _PRIOR_ROWS)


def filtered(
    levels: Mapping,
    value: np.ndarray,
    weight: np.ndarray,
    predicted: np.ndarray,
    noise: np.ndarray,
) -> tuple[dict, np.ndarray]:
    """The levels after rows (R, K) of values, weights and base predictions (NaN where the
    fit cannot predict yet), with measurement noise (K,); and each row's filtered level (R, K).
    A cell of weight 0, or without a positive prediction, only lets the level's variance grow."""
    n_rows, n_campaigns = value.shape
    walk = float(levels["walk"])
    mean = np.array(levels["mean"], dtype=float)
    var = np.array(levels["var"], dtype=float)
    at_rows = np.ones((n_rows, n_campaigns))
    for r in range(n_rows):
        var = var + (walk * mean) ** 2
        p = np.where(np.isfinite(predicted[r]), predicted[r], 0.0)
        usable = (weight[r] > 0) & (p > 0) & (noise > 0)
        spread = np.divide(noise, weight[r], out=np.ones(n_campaigns), where=usable)
        gain = np.where(usable, var * p / (p * p * var + spread), 0.0)
        mean = np.clip(mean + gain * (np.where(usable, value[r], 0.0) - mean * p), *_LEVEL_RANGE)
        var = var - gain * p * var
        at_rows[r] = mean
    return {"walk": walk, "mean": mean.tolist(), "var": var.tolist()}, at_rows


def resized_levels(levels: Mapping, keep: Sequence[int | None]) -> dict:
    """Levels over a new list of campaigns (`keep[i]`: old index of campaign i, None for one
    added, whose fit starts empty: its level is 1, known exactly)."""
    mean, var = levels["mean"], levels["var"]
    return {
        "walk": float(levels["walk"]),
        "mean": [1.0 if i is None else float(mean[i]) for i in keep],
        "var": [0.0 if i is None else float(var[i]) for i in keep],
    }


class LevelWalk:
    """Mixin of the `curve` policy: its levels, on (`level_walk` > 0) or off, in its statistics."""

    params: dict

    @staticmethod
    def noise_prior(
        stats: Mapping, value_unit: float, s_yy: np.ndarray, count: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError

    def levels_in(self, stats: Mapping, n_campaigns: int) -> dict | None:
        """The levels of statistics `stats`, None where levels are off."""
        walk = float(self.params["level_walk"])
        return levels_of(stats, walk, n_campaigns) if walk > 0 else None

    def level_noise(self, stats: Mapping, sums: Mapping[str, np.ndarray]) -> np.ndarray:
        """Each campaign's measurement noise (K,) in value units: its fit's residual, shrunk
        toward the policy's counting noise prior (`noise_prior`, in value units squared)."""
        value_unit = float(stats["value_total"]) / max(float(stats["value_cells"]), 1.0)
        if not 1e-150 < value_unit < 1e150:
            value_unit = 1.0
        prior = self.noise_prior(stats, value_unit, sums["yy"] / value_unit**2, sums["count"])
        return measurement_noise(sums, prior * value_unit**2)
