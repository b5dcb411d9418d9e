"""Multi-period budget plans with adstock carry-over, two ways to compare (after the marketing
budget allocation study).

- Sequential: month by month, each period's budget goes where it adds the most response
  on top of the adstock carried over from earlier periods (exact KKT per period).
- Static ("bilevel"): one weight vector w, the same shares applied to every period's
  budget. With geometric adstock the stock of campaign i in period t is
  w_i * D_it + c_it (D: adstocked budgets, c: decayed prior stock), so the total response
  sum_t f_i(w_i * D_it + c_it) is concave in w_i alone: the upper level is itself a
  separable concave problem on the simplex, which the KKT allocator solves exactly.
Responses are f(adstock) per period, so both plans are scored by the same measure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.adstock import carried_in, check_max_lag, decay_matrix, geometric_adstock
from engine.allocator import resolve_bounds, solve_budget
from engine.errors import EngineError
from engine.response import OffsetCurves, ResponseCurves

WEIGHT_BISECTIONS = 60


class PeriodSumCurves(ResponseCurves):
    """F_i(w) = sum_t f_i(w * D_it + c_it): total response of a constant share w over T periods."""

    def __init__(self, base: ResponseCurves, scale: np.ndarray, offset: np.ndarray):
        self.base = base
        self.scale = np.asarray(scale, dtype=float)
        self.offset = np.asarray(offset, dtype=float)

    @property
    def size(self) -> int:
        return self.base.size

    def _stock(self, weight: np.ndarray) -> np.ndarray:
        return np.asarray(weight, dtype=float)[..., None, :] * self.scale + self.offset

    def response(self, x: np.ndarray) -> np.ndarray:
        return self.base.response(self._stock(x)).sum(axis=-2)

    def true_response(self, x: np.ndarray) -> np.ndarray:
        return self.base.true_response(self._stock(x)).sum(axis=-2)

    def marginal(self, x: np.ndarray) -> np.ndarray:
        return (self.scale * self.base.marginal(self._stock(x))).sum(axis=-2)

    def inverse_marginal(self, lam: float | np.ndarray) -> np.ndarray:
        """Bisection on the share in [0, 1] (a share never exceeds 1); vectorized over lam."""
        lam = np.asarray(lam, dtype=float)
        shape = np.broadcast_shapes(lam.shape, (self.size,))
        low, high = np.zeros(shape), np.ones(shape)
        for _ in range(WEIGHT_BISECTIONS):
            middle = 0.5 * (low + high)
            above = self.marginal(middle) > lam
            low = np.where(above, middle, low)
            high = np.where(above, high, middle)
        share = np.where(self.marginal(np.ones(shape)) > lam, 1.0, 0.5 * (low + high))
        return np.where(self.marginal(np.zeros(shape)) <= lam, 0.0, share)


def _validated_budgets(budgets: Sequence[float]) -> np.ndarray:
    budgets = np.asarray(budgets, dtype=float)
    if budgets.ndim != 1 or budgets.size == 0:
        raise EngineError("budgets must be a list with one budget per period")
    if not np.all(np.isfinite(budgets)) or np.any(budgets < 0):
        raise EngineError("budgets must be finite numbers >= 0")
    return budgets


def _validated_theta(theta: np.ndarray | None, size: int) -> np.ndarray:
    if theta is None:
        return np.zeros(size)
    theta = np.broadcast_to(np.asarray(theta, dtype=float), size)
    if not np.all(np.isfinite(theta)) or np.any(theta < 0) or np.any(theta >= 1):
        raise EngineError("adstock theta must lie in [0, 1)")
    return theta


def _period_rows(names, spend, response):
    total = spend.sum()
    return [
        {
            "campaign": names[i],
            "spend": float(spend[i]),
            "share": float(spend[i] / total) if total > 0 else 0.0,
            "response": float(response[i]),
        }
        for i in range(len(names))
    ]


def plan_summary(names, budgets, spend, stock, curves) -> dict:
    """JSON-able plan: per period its budget, allocation and response, and the totals."""
    response = curves.true_response(stock)
    per_period = response.sum(axis=1)
    return {
        "periods": [
            {
                "period": t,
                "budget": float(budgets[t]),
                "allocation": _period_rows(names, spend[t], response[t]),
                "response": float(per_period[t]),
            }
            for t in range(len(budgets))
        ],
        "total_response": float(per_period.sum()),
        "total_spend": float(spend.sum()),
    }


def plan_sequential(
    curves: ResponseCurves,
    budgets: Sequence[float],
    theta: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    initial_stock: np.ndarray | None = None,
    max_lag: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Spend (T, K) and adstock (T, K) of the month-by-month plan (with `max_lag`, spend
    carries over for that many periods only)."""
    budgets = _validated_budgets(budgets)
    theta = _validated_theta(theta, curves.size)
    low, high = resolve_bounds(curves.size, lower, upper)
    check_max_lag(max_lag)
    stock_before = np.zeros(curves.size) if initial_stock is None else np.asarray(initial_stock)
    spend = np.zeros((budgets.size, curves.size))
    stock = np.zeros_like(spend)
    if max_lag is not None:
        weights = decay_matrix(budgets.size, theta, max_lag)
        from_before = carried_in(budgets.size, theta, stock_before, max_lag)
    for period, budget in enumerate(budgets):
        if max_lag is None:
            carried = theta * stock_before
        else:  # the cut decay: only the last max_lag periods' spend still counts
            earlier = np.einsum("ks,sk->k", weights[:, period, :period], spend[:period])
            carried = earlier + from_before[period]
        spend[period] = solve_budget(OffsetCurves(curves, carried), budget, low, high).spend
        stock[period] = spend[period] + carried
        stock_before = stock[period]
    return spend, stock


def plan_static(
    curves: ResponseCurves,
    budgets: Sequence[float],
    theta: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    initial_stock: np.ndarray | None = None,
    max_lag: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares (K,), spend (T, K) and adstock (T, K) of the best single weight vector.

    Per-period bounds hold in every period with a positive budget, which bounds each share
    by lower / min(budget) ... upper / max(budget).
    """
    budgets = _validated_budgets(budgets)
    theta = _validated_theta(theta, curves.size)
    low, high = resolve_bounds(curves.size, lower, upper)
    funded = budgets[budgets > 0]
    if funded.size == 0:
        raise EngineError("at least one period needs a positive budget")
    share_low = np.max(low[None, :] / funded[:, None], axis=0)
    share_high = np.minimum(np.min(high[None, :] / funded[:, None], axis=0), 1.0)
    scale = geometric_adstock(
        np.repeat(budgets[:, None], curves.size, axis=1), theta, max_lag=max_lag
    )
    offset = np.zeros_like(scale)
    if initial_stock is not None:
        offset = geometric_adstock(
            np.zeros_like(scale), theta, initial=initial_stock, max_lag=max_lag
        )
    shares = solve_budget(PeriodSumCurves(curves, scale, offset), 1.0, share_low, share_high).spend
    spend = budgets[:, None] * shares
    return shares, spend, shares * scale + offset


def plan_budgets(
    curves: ResponseCurves,
    budgets: Sequence[float],
    theta: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    initial_stock: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    max_lag: int | None = None,
) -> dict:
    """Both plans side by side with their total responses (JSON-able); `max_lag` cuts the
    carry-over after that many periods."""
    names = list(names) if names is not None else [f"campaign_{i}" for i in range(curves.size)]
    if len(names) != curves.size:
        raise EngineError("one name per campaign is needed")
    budgets = _validated_budgets(budgets)
    spend, stock = plan_sequential(curves, budgets, theta, lower, upper, initial_stock, max_lag)
    sequential = plan_summary(names, budgets, spend, stock, curves)
    shares, static_spend, static_stock = plan_static(
        curves, budgets, theta, lower, upper, initial_stock, max_lag
    )
    static = plan_summary(names, budgets, static_spend, static_stock, curves)
    static["weights"] = {names[i]: float(shares[i]) for i in range(curves.size)}
    return {
        "sequential": sequential,
        "static": static,
        "total_response": {
            "sequential": sequential["total_response"],
            "static": static["total_response"],
        },
    }
