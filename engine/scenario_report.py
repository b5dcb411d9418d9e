"""The report of an allocation: per-campaign spend, share, response, value, ROI and mROI.

Shared by every scenario (engine.scenarios) and the marketing-mix allocations (engine.mmm),
as JSON-able data with None where a ratio is undefined.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.allocator import resolve_weights
from engine.errors import EngineError
from engine.response import ResponseCurves


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def allocation_report(
    curves: ResponseCurves,
    spend: np.ndarray,
    *,
    names: Sequence[str],
    values: np.ndarray | None = None,
    current: np.ndarray | None = None,
    scenario: str = "fixed_budget",
    objective: str = "response",
    multiplier: float | None = None,
    capacity_binding: bool = False,
) -> dict:
    """JSON-able summary of an allocation: per-campaign figures and totals."""
    size = curves.size
    worth = resolve_weights(size, values)
    spend = np.asarray(spend, dtype=float)
    response = curves.true_response(spend)
    value = worth * response
    marginal_roi = worth * curves.marginal(spend)
    total_spend = float(spend.sum())
    if current is not None:
        current = np.broadcast_to(np.asarray(current, dtype=float), size)
        if np.any(np.isinf(current)):
            raise EngineError("current spends must be finite numbers (NaN marks unknown)")
    with np.errstate(divide="ignore", invalid="ignore"):
        roi = np.where(spend > 0, value / spend, np.nan)
    rows = [
        {
            "campaign": names[i],
            "spend": float(spend[i]),
            "share": float(spend[i] / total_spend) if total_spend > 0 else 0.0,
            "response": float(response[i]),
            "value": float(value[i]),
            "roi": _json_number(roi[i]),
            "mroi": _json_number(marginal_roi[i]),
            "change": None
            if current is None or np.isnan(current[i])
            else float(spend[i] - current[i]),
        }
        for i in range(size)
    ]
    total_value = float(value.sum())
    return {
        "scenario": scenario,
        "objective": objective,
        "allocation": rows,
        "total_spend": total_spend,
        "total_response": float(response.sum()),
        "total_value": total_value,
        "net_profit": total_value - total_spend,
        "roi": total_value / total_spend if total_spend > 0 else None,
        "marginal_roi": None if multiplier is None else _json_number(multiplier),
        "capacity_binding": capacity_binding,
    }
