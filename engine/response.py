"""Response-curve families, vectorized over K campaigns.

Every family exposes the three functions the KKT allocator needs: the response, its
marginal (first derivative) and the inverse of the marginal. The allocator only ever
sees concave curves; a family that is not concave (Hill with n > 1) is optimized through
its concave envelope and says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from engine.errors import EngineError


def as_campaign_array(name: str, values: np.ndarray | list[float] | float) -> np.ndarray:
    """Validate one parameter vector: finite floats, one dimension."""
    array = np.atleast_1d(np.asarray(values, dtype=float))
    if array.ndim != 1:
        raise EngineError(f"{name} must be one value per campaign")
    if not np.all(np.isfinite(array)):
        raise EngineError(f"{name} must be finite numbers")
    return array


def _same_size(**arrays: np.ndarray) -> int:
    sizes = {name: array.size for name, array in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise EngineError(f"parameter vectors differ in length: {sizes}")
    size = next(iter(sizes.values()))
    if size == 0:
        raise EngineError("at least one campaign is needed")
    return size


def _lambda_array(lam: float | np.ndarray, size: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(lam, dtype=float), (size,))


class ResponseCurves(ABC):
    """K concave response curves; spend and multipliers are arrays of shape (K,)."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of campaigns."""

    @abstractmethod
    def response(self, x: np.ndarray) -> np.ndarray:
        """Expected response at spend x (the concave curve the allocator maximizes)."""

    @abstractmethod
    def marginal(self, x: np.ndarray) -> np.ndarray:
        """Derivative of `response` at spend x (left derivative at kinks)."""

    @abstractmethod
    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        """Spend where the marginal falls to lam (0 if it starts below, inf if it never does)."""

    def true_response(self, x: np.ndarray) -> np.ndarray:
        """Response of the fitted curve itself; differs from `response` only for envelopes."""
        return self.response(x)

    def subset(self, index: np.ndarray) -> ResponseCurves:
        """The curves of the campaigns selected by an index or mask."""
        raise NotImplementedError(f"{type(self).__name__} does not support subsets")


class NegExpCurves(ResponseCurves):
    """Negative-exponential saturation alpha * (1 - exp(-mu * x)).

    alpha is the asymptotic response, mu the rate at which it is approached.
    """

    def __init__(self, alpha: np.ndarray, mu: np.ndarray):
        self.alpha = as_campaign_array("alpha", alpha)
        self.mu = as_campaign_array("mu", mu)
        self._size = _same_size(alpha=self.alpha, mu=self.mu)
        if np.any(self.alpha < 0):
            raise EngineError("alpha must be >= 0")
        if np.any(self.mu <= 0):
            raise EngineError("mu must be > 0")
        self._initial_marginal = self.alpha * self.mu
        with np.errstate(divide="ignore"):
            self._log_initial_marginal = np.log(self._initial_marginal)

    @property
    def size(self) -> int:
        return self._size

    def response(self, x: np.ndarray) -> np.ndarray:
        return -self.alpha * np.expm1(-self.mu * np.asarray(x, dtype=float))

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self._initial_marginal * np.exp(-self.mu * np.asarray(x, dtype=float))

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            spend = (self._log_initial_marginal - np.log(np.maximum(lam, 0.0))) / self.mu
        # fmax also maps the undefined 0/0 case (alpha == 0, lam == 0) to no spend.
        return np.fmax(spend, 0.0)

    def saturation_spend(self, share: float) -> np.ndarray:
        """Spend at which the curve reaches `share` of its asymptote."""
        return -np.log1p(-share) / self.mu

    def subset(self, index: np.ndarray) -> NegExpCurves:
        return NegExpCurves(self.alpha[index], self.mu[index])
