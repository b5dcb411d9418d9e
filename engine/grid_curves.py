"""Response curves given on spend grids rather than by a formula, vectorized over campaigns.

`GridCurves` takes the response at each grid point (piecewise linear, so its marginal is a
step function): the nonparametric local-slope estimator and ensembles. `MarginalGridCurves`
takes the marginal (linearly interpolated, so the allocator equalizes it exactly): ensembles,
whose marginal is known at every grid point. Both grids have shape (K, G), start at spend 0
and describe concave curves; past the last point the response is flat.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.errors import EngineError
from engine.response import ResponseCurves


def _grids(
    spend: np.ndarray, values: np.ndarray, names: list[str] | None, what: str
) -> tuple[np.ndarray, np.ndarray, Callable[[int], str]]:
    """Both grids as finite 2-D float arrays of one shape, and how to name a campaign row."""
    knots = np.atleast_2d(np.asarray(spend, dtype=float))
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if knots.shape != values.shape or knots.shape[1] < 2:
        raise EngineError(f"spend and {what} grids need the same shape, two points or more")
    if not (np.all(np.isfinite(knots)) and np.all(np.isfinite(values))):
        raise EngineError(f"spend and {what} grids must be finite numbers")
    return knots, values, (lambda row: repr(names[row])) if names else (lambda row: f"#{row}")


def _refuse(checks: dict[str, np.ndarray], label: Callable[[int], str]) -> None:
    """Raise for the first problem any campaign row has."""
    for problem, rows in checks.items():
        if np.any(rows):
            raise EngineError(f"campaign {label(int(np.flatnonzero(rows)[0]))}: grid {problem}")


class GridCurves(ResponseCurves):
    """Curves given on spend grids: piecewise-linear response, so piecewise-constant marginal.

    Grids must be concave (non-increasing slopes, within a small tolerance); repeated spend
    points (padding) are allowed.
    """

    CONCAVITY_TOLERANCE = 1e-9

    def __init__(self, spend: np.ndarray, response: np.ndarray, names: list[str] | None = None):
        self.knots, self.levels, label = _grids(spend, response, names, "response")
        self.widths = np.diff(self.knots, axis=1)
        rises = np.diff(self.levels, axis=1)
        checks = {
            "must start at spend 0": np.abs(self.knots[:, 0]) > 0,
            "spend must not decrease": np.any(self.widths < 0, axis=1),
            "response must not decrease": np.any(rises < 0, axis=1),
            "the grid has no spend range": self.knots[:, -1] <= 0,
        }
        _refuse(checks, label)
        with np.errstate(divide="ignore", invalid="ignore"):
            slopes = np.where(self.widths > 0, rises / self.widths, np.nan)
        floor = np.fmin.accumulate(slopes, axis=1)
        previous = np.concatenate([np.full((len(slopes), 1), np.inf), floor[:, :-1]], axis=1)
        tolerance = self.CONCAVITY_TOLERANCE * (1.0 + np.abs(previous))
        bad = np.any(slopes > previous + tolerance, axis=1)
        if np.any(bad):
            row = label(int(np.flatnonzero(bad)[0]))
            raise EngineError(f"campaign {row}: response grid is not concave (slopes increase)")
        # Exactly non-increasing; zero-width (padding) segments take the next real slope.
        cleaned = np.where(np.isnan(slopes), np.nan, floor)
        self.slopes = np.nan_to_num(np.fmax.accumulate(cleaned[:, ::-1], axis=1)[:, ::-1])

    @property
    def size(self) -> int:
        return self.knots.shape[0]

    def _segment(self, x: np.ndarray) -> np.ndarray:
        return np.minimum(
            np.sum(self.knots[:, 1:] < x[..., None], axis=-1), self.slopes.shape[1] - 1
        )

    def response(self, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=float), 0.0, self.knots[:, -1])
        segment = self._segment(x)
        rows = np.arange(self.size)
        return self.levels[rows, segment] + self.slopes[rows, segment] * (
            x - self.knots[rows, segment]
        )

    def marginal(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        segment = self._segment(x)
        slope = self.slopes[np.arange(self.size), segment]
        return np.where(x > self.knots[:, -1], 0.0, slope)

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        lam = np.asarray(lam, dtype=float)
        spend = np.sum(self.widths * (self.slopes > lam[..., None]), axis=-1)
        return np.where(lam <= 0, np.inf, spend)


class MarginalGridCurves(ResponseCurves):
    """Curves given by their marginal on spend grids, linearly interpolated between points.

    The marginal must be non-negative and non-increasing (concave response); the response is
    its integral from spend 0, and past the last point the marginal is 0. Unlike a
    piecewise-linear response, the marginal is continuous, so the allocator equalizes it
    exactly.
    """

    def __init__(self, spend: np.ndarray, marginal: np.ndarray, names: list[str] | None = None):
        self.knots, self.marginals, label = _grids(spend, marginal, names, "marginal")
        self.widths = np.diff(self.knots, axis=1)
        drops = np.diff(self.marginals, axis=1)
        tolerance = 1e-9 * (1.0 + np.abs(self.marginals[:, :-1]))
        checks = {
            "must start at spend 0": np.abs(self.knots[:, 0]) > 0,
            "spend must increase": np.any(self.widths <= 0, axis=1),
            "marginal must be >= 0": np.any(self.marginals < 0, axis=1),
            "marginal must not increase (response not concave)": np.any(drops > tolerance, axis=1),
        }
        _refuse(checks, label)
        self.marginals = np.minimum.accumulate(self.marginals, axis=1)
        areas = 0.5 * (self.marginals[:, 1:] + self.marginals[:, :-1]) * self.widths
        self.levels = np.concatenate([np.zeros((self.size, 1)), np.cumsum(areas, axis=1)], axis=1)

    @property
    def size(self) -> int:
        return self.knots.shape[0]

    def _locate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment index, offset into it and the marginal's slope there, for each spend."""
        x = np.clip(np.asarray(x, dtype=float), 0.0, self.knots[:, -1])
        segment = np.minimum(
            np.sum(self.knots[:, 1:-1] < x[..., None], axis=-1), self.widths.shape[1] - 1
        )
        rows = np.arange(self.size)
        offset = x - self.knots[rows, segment]
        tilt = (self.marginals[rows, segment + 1] - self.marginals[rows, segment]) / self.widths[
            rows, segment
        ]
        return segment, offset, tilt

    def response(self, x: np.ndarray) -> np.ndarray:
        segment, offset, tilt = self._locate(x)
        rows = np.arange(self.size)
        start = self.marginals[rows, segment]
        return self.levels[rows, segment] + offset * (start + 0.5 * tilt * offset)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        segment, offset, tilt = self._locate(x)
        value = self.marginals[np.arange(self.size), segment] + tilt * offset
        return np.where(np.asarray(x, dtype=float) > self.knots[:, -1], 0.0, value)

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        lam = np.asarray(lam, dtype=float)
        above = np.sum(self.marginals > lam[..., None], axis=-1)
        last = self.knots.shape[1] - 1
        segment = np.clip(above - 1, 0, last - 1)
        rows = np.arange(self.size)
        high = self.marginals[rows, segment]
        low = self.marginals[rows, segment + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.clip((high - lam) / (high - low), 0.0, 1.0)
        inside = self.knots[rows, segment] + np.nan_to_num(fraction) * self.widths[rows, segment]
        spend = np.where(above == 0, 0.0, np.where(above > last, self.knots[:, -1], inside))
        return np.where(lam <= 0, np.inf, spend)
