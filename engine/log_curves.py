"""Logarithmic response curves: diminishing returns that never saturate.

The fourth family of the simulated worlds (engine.worlds), beside the three the response
module fits (negative exponential, Michaelis-Menten, Hill).
"""

from __future__ import annotations

import numpy as np

from engine import response


class LogCurves(response.ResponseCurves):
    """Diminishing returns that never saturate: vmax * log(1 + x / k) / log(2)."""

    def __init__(self, vmax: np.ndarray, k: np.ndarray):
        self.vmax = response.as_campaign_array("vmax", vmax)
        self.k = response.as_campaign_array("k", k)

    @property
    def size(self) -> int:
        return self.vmax.size

    def response(self, x: np.ndarray) -> np.ndarray:
        return self.vmax * np.log1p(np.maximum(x, 0.0) / self.k) / np.log(2.0)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return self.vmax / (np.log(2.0) * (self.k + np.maximum(x, 0.0)))

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", over="ignore"):
            spend = self.vmax / (np.log(2.0) * np.asarray(lam, dtype=float)) - self.k
        return np.maximum(spend, 0.0)
