"""Response-curve families, vectorized over K campaigns.

Every family exposes the three functions the KKT allocator needs: the response, its
marginal (first derivative) and the inverse of the marginal. The allocator only ever
sees concave curves; a family that is not concave (Hill with n > 1) is optimized through
its concave envelope and says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy.special import expit

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
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            spend = (self._log_initial_marginal - np.log(np.maximum(lam, 0.0))) / self.mu
        # fmax also maps the undefined 0/0 case (alpha == 0, lam == 0) to no spend.
        return np.fmax(spend, 0.0)


class MichaelisMentenCurves(ResponseCurves):
    """Michaelis-Menten saturation vmax * x / (k + x): half of vmax is reached at spend k."""

    def __init__(self, vmax: np.ndarray, k: np.ndarray):
        self.vmax = as_campaign_array("vmax", vmax)
        self.k = as_campaign_array("k", k)
        self._size = _same_size(vmax=self.vmax, k=self.k)
        if np.any(self.vmax < 0):
            raise EngineError("vmax must be >= 0")
        if np.any(self.k <= 0):
            raise EngineError("k must be > 0")
        self._vmax_k = self.vmax * self.k

    @property
    def size(self) -> int:
        return self._size

    def response(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):  # callers check for infinities
            return self.vmax * x / (self.k + x)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self._vmax_k / (self.k + np.asarray(x, dtype=float)) ** 2

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            spend = np.sqrt(self._vmax_k / np.maximum(lam, 0.0)) - self.k
        return np.fmax(spend, 0.0)


class LogisticCurves(ResponseCurves):
    """Logistic saturation beta * (1 - exp(-lam * x)) / (1 + exp(-lam * x)), PyMC-Marketing's
    default: beta * tanh(lam * x / 2), concave for x >= 0, marginal beta * lam / 2 at zero.

    The inverse marginal is in closed form: with s = 2 * m / (beta * lam) = sech^2(u) and
    u = lam * x / 2, u = log(1 + sqrt(1 - s)) - log(s) / 2, which stays exact both near the
    start (s close to 1) and far up the curve (s subnormal, taken in logs).
    """

    def __init__(self, beta: np.ndarray, lam: np.ndarray):
        self.beta = as_campaign_array("beta", beta)
        self.lam = as_campaign_array("lam", lam)
        self._size = _same_size(beta=self.beta, lam=self.lam)
        if np.any(self.beta < 0):
            raise EngineError("beta must be >= 0")
        if np.any(self.lam <= 0):
            raise EngineError("lam must be > 0")
        self._initial_marginal = 0.5 * self.beta * self.lam
        with np.errstate(divide="ignore"):
            self._log_initial_marginal = np.log(self._initial_marginal)

    @property
    def size(self) -> int:
        return self._size

    def response(self, x: np.ndarray) -> np.ndarray:
        return self.beta * np.tanh(0.5 * self.lam * np.asarray(x, dtype=float))

    def marginal(self, x: np.ndarray) -> np.ndarray:
        decay = np.exp(-self.lam * np.abs(np.asarray(x, dtype=float)))
        return 2.0 * self._initial_marginal * 2.0 * decay / (1.0 + decay) ** 2

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_s = np.log(np.maximum(lam, 0.0)) - self._log_initial_marginal
            log_s = np.minimum(log_s, 0.0)
            half = np.log1p(np.sqrt(-np.expm1(log_s))) - 0.5 * log_s
            spend = 2.0 * half / self.lam
        # NaN only for a flat curve at lam == 0 (0 - -inf): no spend, as the other families.
        return np.fmax(spend, 0.0)


class HillCurves(ResponseCurves):
    """Hill saturation vmax * x^n / (k^n + x^n), as in Meta's Robyn.

    For n > 1 the curve is S-shaped and not concave at low spend, so `response`,
    `marginal` and `inverse_marginal` describe its concave envelope: the straight line
    from the origin to the tangent point x_t = k * (n - 1)^(1/n), then the curve itself.
    The envelope equals the curve at 0 and beyond x_t; the allocator leaves at most one
    campaign strictly inside (0, x_t), and `true_response` reports the curve there.
    """

    NEWTON_STEPS = 60

    def __init__(self, vmax: np.ndarray, k: np.ndarray, n: np.ndarray):
        self.vmax = as_campaign_array("vmax", vmax)
        self.k = as_campaign_array("k", k)
        self.n = as_campaign_array("n", n)
        self._size = _same_size(vmax=self.vmax, k=self.k, n=self.n)
        if np.any(self.vmax < 0):
            raise EngineError("vmax must be >= 0")
        if np.any(self.k <= 0) or np.any(self.n <= 0):
            raise EngineError("k and n must be > 0")
        s_shaped = self.n > 1
        self.tangent_spend = np.where(s_shaped, self.k * np.abs(self.n - 1) ** (1 / self.n), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            tangent_slope = self.true_response(self.tangent_spend) / self.tangent_spend
        self.tangent_slope = np.where(
            s_shaped, tangent_slope, self.true_marginal(np.zeros(self._size))
        )

    @property
    def size(self) -> int:
        return self._size

    def true_response(self, x: np.ndarray) -> np.ndarray:
        ratio = np.asarray(x, dtype=float) / self.k
        with np.errstate(divide="ignore", over="ignore"):
            return self.vmax / (1.0 + ratio ** (-self.n))

    def true_marginal(self, x: np.ndarray) -> np.ndarray:
        """Derivative of the S-curve itself."""
        ratio = np.asarray(x, dtype=float) / self.k
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            value = (self.vmax * self.n / self.k) * ratio ** (self.n - 1) / (1 + ratio**self.n) ** 2
        return np.nan_to_num(value, nan=0.0, posinf=np.inf)

    def response(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        on_line = x < self.tangent_spend
        line = np.where(on_line, self.tangent_slope, 0.0) * x
        return np.where(on_line, line, self.true_response(x))

    def marginal(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x < self.tangent_spend, self.tangent_slope, self.true_marginal(x))

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        """Solve the curve's marginal == lam past the tangent point by Newton in log spend.

        In t = log(x / k) the log-marginal (n-1) t - 2 log(1 + e^(n t)) is concave and
        decreasing past the tangent point, so Newton started right of the root converges
        monotonically (there is no closed form for general n).
        """
        lam = np.asarray(lam, dtype=float)
        solvable = (lam > 0) & (lam < self.tangent_slope)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            level = np.log(np.where(solvable, lam, 1.0)) - np.log(self.vmax * self.n / self.k)
            start_right = np.where(level <= 0, -level / (self.n + 1), level / (self.n - 1))
            t = np.where(solvable & np.isfinite(start_right), start_right, 0.0)
            for _ in range(self.NEWTON_STEPS):
                slope = (self.n - 1) - 2 * self.n * expit(self.n * t)
                step = ((self.n - 1) * t - 2 * np.logaddexp(0.0, self.n * t) - level) / slope
                step = np.where(solvable & np.isfinite(step), step, 0.0)
                t = t - step
                if np.max(np.abs(step), initial=0.0) < 1e-12:
                    break
            spend = self.k * np.exp(t)
        spend = np.where(lam >= self.tangent_slope, 0.0, spend)
        return np.where(lam <= 0, np.inf, spend)


class OffsetCurves(ResponseCurves):
    """Curves f(x + offset): what a period's spend adds on top of carried-over adstock."""

    def __init__(self, base: ResponseCurves, offset: np.ndarray):
        self.base = base
        self.offset = np.broadcast_to(as_campaign_array("offset", offset), base.size)
        if np.any(self.offset < 0):
            raise EngineError("carried-over spend must be >= 0")

    @property
    def size(self) -> int:
        return self.base.size

    def response(self, x: np.ndarray) -> np.ndarray:
        return self.base.response(np.asarray(x, dtype=float) + self.offset)

    def true_response(self, x: np.ndarray) -> np.ndarray:
        return self.base.true_response(np.asarray(x, dtype=float) + self.offset)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self.base.marginal(np.asarray(x, dtype=float) + self.offset)

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        return np.maximum(self.base.inverse_marginal(lam) - self.offset, 0.0)


class SpendScaledCurves(ResponseCurves):
    """Curves f(scale * x): e.g. the steady state of adstocked spend, scale = 1 / (1 - theta)."""

    def __init__(self, base: ResponseCurves, scale: np.ndarray):
        self.base = base
        self.scale = np.broadcast_to(as_campaign_array("scale", scale), base.size)
        if np.any(self.scale <= 0):
            raise EngineError("spend scale must be > 0")

    @property
    def size(self) -> int:
        return self.base.size

    def response(self, x: np.ndarray) -> np.ndarray:
        return self.base.response(self.scale * np.asarray(x, dtype=float))

    def true_response(self, x: np.ndarray) -> np.ndarray:
        return self.base.true_response(self.scale * np.asarray(x, dtype=float))

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self.scale * self.base.marginal(self.scale * np.asarray(x, dtype=float))

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        return self.base.inverse_marginal(np.asarray(lam, dtype=float) / self.scale) / self.scale


class CombinedCurves(ResponseCurves):
    """Several curve sets side by side (e.g. campaigns of different families) as one set."""

    def __init__(self, parts: list[tuple[ResponseCurves, np.ndarray]]):
        self.parts = [(curves, np.asarray(index, dtype=int)) for curves, index in parts]
        self._size = sum(index.size for _, index in self.parts)
        covered = np.sort(np.concatenate([index for _, index in self.parts]))
        if not np.array_equal(covered, np.arange(self._size)):
            raise EngineError("combined curves must cover each campaign exactly once")

    @property
    def size(self) -> int:
        return self._size

    def _apply(self, method: str, values: float | np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        values = (
            np.broadcast_to(values, (*values.shape[:-1], self._size))
            if values.ndim
            else (np.full(self._size, float(values)))
        )
        out = np.empty(values.shape)
        for curves, index in self.parts:
            out[..., index] = getattr(curves, method)(values[..., index])
        return out

    def response(self, x: np.ndarray) -> np.ndarray:
        return self._apply("response", x)

    def true_response(self, x: np.ndarray) -> np.ndarray:
        return self._apply("true_response", x)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self._apply("marginal", x)

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        return self._apply("inverse_marginal", lam)


FAMILY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "negexp": ("alpha", "mu"),
    "mm": ("vmax", "k"),
    "hill": ("vmax", "k", "n"),
    "logistic": ("beta", "lam"),
}
_FAMILY_CLASSES: dict[str, type[ResponseCurves]] = {
    "negexp": NegExpCurves,
    "mm": MichaelisMentenCurves,
    "hill": HillCurves,
    "logistic": LogisticCurves,
}


def family_curves(
    family: str, params: dict[str, np.ndarray | list[float] | float]
) -> ResponseCurves:
    """Curves of a parametric family (negexp, mm, hill, logistic) from parameter vectors."""
    if family not in FAMILY_PARAMETERS:
        raise EngineError(
            f"unknown curve family {family!r} (known: {', '.join(FAMILY_PARAMETERS)})"
        )
    missing = [name for name in FAMILY_PARAMETERS[family] if name not in params]
    if missing:
        raise EngineError(f"{family} curves need parameters {', '.join(missing)}")
    return _FAMILY_CLASSES[family](*(params[name] for name in FAMILY_PARAMETERS[family]))
