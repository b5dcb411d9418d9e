"""Fitting the parametric response curves, with adstock and holdout evaluation.

Curves are fitted by scipy's least_squares with bounds in normalized units (spend and
response divided by their maxima), from several starting points, keeping the best: flat,
tiny or noisy data give a valid (if useless) curve rather than an exception. Data that
cannot be fitted at all (too few points, no spend) raises EngineError naming the campaign.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import lfilter

from engine.errors import EngineError
from engine.response import (
    HillCurves,
    MichaelisMentenCurves,
    NegExpCurves,
    ResponseCurves,
)

PARAMETERS: dict[str, tuple[str, ...]] = {
    "negexp": ("alpha", "mu"),
    "mm": ("vmax", "k"),
    "hill": ("vmax", "k", "n"),
}
THETA_GRID = np.linspace(0.0, 0.9, 37)


def _negexp(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -p[0] * np.expm1(-p[1] * x)


def _negexp_jacobian(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    decay = np.exp(-p[1] * x)
    return np.column_stack([1.0 - decay, p[0] * x * decay])


def _mm(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p[0] * x / (p[1] + x)


def _mm_jacobian(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.column_stack([x / (p[1] + x), -p[0] * x / (p[1] + x) ** 2])


def _hill_share(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ratio = np.maximum(x, 0.0) / p[1]
    with np.errstate(divide="ignore", over="ignore"):
        log_ratio = np.log(ratio)
        return 1.0 / (1.0 + np.exp(-p[2] * log_ratio)), log_ratio


def _hill(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p[0] * _hill_share(x, p)[0]


def _hill_jacobian(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    share, log_ratio = _hill_share(x, p)
    spread = share * (1.0 - share)
    with np.errstate(invalid="ignore"):
        by_n = np.where(np.isfinite(log_ratio), p[0] * spread * log_ratio, 0.0)
    return np.column_stack([share, -p[0] * p[2] / p[1] * spread, by_n])


# Normalized units: spend and response scaled to at most 1.
_SHAPES = {"negexp": _negexp, "mm": _mm, "hill": _hill}
_JACOBIANS = {"negexp": _negexp_jacobian, "mm": _mm_jacobian, "hill": _hill_jacobian}
_BOUNDS = {
    "negexp": ([0.0, 1e-3], [1e3, 1e3]),
    "mm": ([0.0, 1e-3], [1e3, 1e3]),
    "hill": ([0.0, 1e-3, 0.3], [1e3, 1e3, 6.0]),
}
MAX_EVALUATIONS = 200
_RATE_GRID = np.logspace(-3, 3, 121)
_HILL_GRID = np.array([(k, n) for k in np.logspace(-2, 1.5, 36) for n in np.linspace(0.4, 5, 24)])


def _shape_grid(family: str) -> np.ndarray:
    """Candidate shape parameters (all but the scale) for the starting-point search."""
    return _HILL_GRID if family == "hill" else _RATE_GRID[:, None]


def _basis(family: str, xs: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Curve of scale 1 for each candidate shape: shape (candidates, ..., points)."""
    first = shapes[:, :1].reshape((-1,) + (1,) * xs.ndim)
    if family == "negexp":
        return -np.expm1(-first * xs)
    if family == "mm":
        return xs / (first + xs)
    exponent = shapes[:, 1:2].reshape((-1,) + (1,) * xs.ndim)
    with np.errstate(divide="ignore", over="ignore"):
        return 1.0 / (1.0 + np.exp(-exponent * np.log(xs / first)))


def _profile(family: str, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best non-negative scale and its squared error for every candidate shape.

    For a fixed shape the curve is linear in its scale, so the scale has a closed form
    (variable projection); this makes the start search and the adstock profile cheap.
    """
    basis = _basis(family, xs, _shape_grid(family))
    energy = np.maximum(np.sum(basis**2, axis=-1), 1e-300)
    scale = np.clip(np.sum(basis * ys, axis=-1) / energy, 0.0, _BOUNDS[family][1][0])
    error = np.sum((ys - scale[..., None] * basis) ** 2, axis=-1)
    return scale, error


MAX_EVALUATIONS = 200


def make_curves(family: str, params: Mapping[str, object]) -> ResponseCurves:
    """Curves of a parametric family from parameter vectors (or scalars) by name."""
    if family not in PARAMETERS:
        raise EngineError(f"unknown curve family {family!r} (known: {', '.join(PARAMETERS)})")
    missing = [name for name in PARAMETERS[family] if name not in params]
    if missing:
        raise EngineError(f"{family} curves need parameters {', '.join(missing)}")
    values = [np.atleast_1d(np.asarray(params[name], dtype=float)) for name in PARAMETERS[family]]
    return {"negexp": NegExpCurves, "mm": MichaelisMentenCurves, "hill": HillCurves}[family](
        *values
    )


def adstock_series(spend: np.ndarray, theta: float) -> np.ndarray:
    """Geometric adstock of one series, A_t = x_t + theta * A_{t-1}."""
    return lfilter([1.0], [1.0, -theta], np.asarray(spend, dtype=float))


@dataclass(frozen=True)
class CurveFit:
    """Parameters of one family fitted to (adstocked spend, response)."""

    family: str
    params: dict[str, float]
    sse: float

    def predict(self, stock: np.ndarray) -> np.ndarray:
        return make_curves(self.family, self.params).true_response(np.asarray(stock)[:, None])[:, 0]


def fit_family(family: str, stock: np.ndarray, response: np.ndarray) -> CurveFit:
    """Least-squares fit of one family; the best of several bounded starts."""
    if family not in PARAMETERS:
        raise EngineError(f"unknown curve family {family!r} (known: {', '.join(PARAMETERS)})")
    stock = np.asarray(stock, dtype=float)
    response = np.asarray(response, dtype=float)
    x_scale = float(np.max(stock))
    y_scale = float(np.max(np.abs(response)))
    if x_scale <= 0:
        raise EngineError("all spends are zero: no response curve can be fitted")
    shape, jacobian = _SHAPES[family], _JACOBIANS[family]
    if y_scale <= 0:
        return _denormalize(family, np.array([0.0, *_shape_grid(family)[0]]), x_scale, 1.0, 0.0)
    xs, ys = stock / x_scale, response / y_scale
    lower, upper = _BOUNDS[family]
    scale, error = _profile(family, xs, ys)
    best_index = int(np.argmin(error))
    best = np.clip(np.array([scale[best_index], *_shape_grid(family)[best_index]]), lower, upper)
    best_cost = 0.5 * float(error[best_index])
    try:
        result = least_squares(
            lambda p: shape(xs, p) - ys,
            best,
            jac=lambda p: jacobian(xs, p),
            bounds=(lower, upper),
            max_nfev=MAX_EVALUATIONS,
        )
        if np.all(np.isfinite(result.x)) and result.cost <= best_cost:
            best, best_cost = result.x, float(result.cost)
    except (ValueError, FloatingPointError):
        pass  # the grid start is already a valid fit
    return _denormalize(family, best, x_scale, y_scale, 2.0 * best_cost * y_scale**2)


def _denormalize(
    family: str, p: np.ndarray, x_scale: float, y_scale: float, sse: float
) -> CurveFit:
    if family == "negexp":
        params = {"alpha": p[0] * y_scale, "mu": p[1] / x_scale}
    elif family == "mm":
        params = {"vmax": p[0] * y_scale, "k": p[1] * x_scale}
    else:
        params = {"vmax": p[0] * y_scale, "k": p[1] * x_scale, "n": p[2]}
    return CurveFit(family, {name: float(value) for name, value in params.items()}, float(sse))


def fit_theta(spend: np.ndarray, response: np.ndarray) -> float:
    """Adstock decay that best explains the response under any of the parametric families.

    Profiled on a grid of theta and curve shapes with the scale in closed form (one
    vectorized pass per family). A decay must earn its parameter: it is kept only if it
    lowers the Akaike criterion, n * log(SSE), by more than 2 against no carry-over.
    """
    spend = np.asarray(spend, dtype=float)
    response = np.asarray(response, dtype=float)
    y_scale = float(np.max(np.abs(response)))
    if y_scale <= 0 or not np.any(spend > 0):
        return 0.0
    stocks = np.stack([adstock_series(spend, theta) for theta in THETA_GRID])
    xs = stocks / stocks.max(axis=1, keepdims=True)
    ys = response / y_scale
    profile = np.min([np.min(_profile(family, xs, ys)[1], axis=0) for family in _SHAPES], axis=0)
    best = int(np.argmin(profile))
    floor = 1e-12 * float(np.sum(ys**2))
    gain = spend.size * np.log(max(profile[best], floor) / max(profile[0], floor))
    return float(THETA_GRID[best]) if gain < -2.0 else 0.0


def error_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAPE (over non-zero actuals; None if there are none) and R^2."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    residual = predicted - actual
    # Percentages of (numerically) zero actuals say nothing and overflow: leave them out.
    scale = max(float(np.max(np.abs(actual), initial=0.0)), float(np.max(np.abs(predicted))))
    nonzero = np.abs(actual) > 1e-9 * scale
    spread = float(np.sum((actual - actual.mean()) ** 2))
    sse = float(np.sum(residual**2))
    return {
        "rmse": float(np.sqrt(np.mean(residual**2))),
        "mape": float(np.mean(np.abs(residual[nonzero] / actual[nonzero])))
        if nonzero.any()
        else None,
        "r2": 1.0 - sse / spread if spread > 0 else (1.0 if sse == 0 else 0.0),
    }


def holdout_split(points: int, share: float, parameters: int) -> int:
    """Number of leading points to train on; the rest, the latest dates, are the holdout.

    Returns `points` (no holdout) when the training part would not exceed the parameter count.
    """
    if not 0 <= share < 1:
        raise EngineError("holdout_share must lie in [0, 1)")
    test = round(points * share)
    if share > 0:
        test = max(test, 1)
    train = points - test
    return train if train > parameters else points
