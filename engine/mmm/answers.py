"""What a fitted marketing-mix model answers, as plain data.

Intervals are 90% credible intervals: `low` the 5th and `high` the 95th percentile of the
posterior draws. ROI is a channel's total contribution over the data's periods divided by
its total spend there; marginal ROI is the contribution of one more unit of spend spread
like the current spend (every period scaled up alike).
"""

from __future__ import annotations

import numpy as np

from engine.mmm.caveats import data_warnings, interval_warnings
from engine.mmm.features import steady_response
from engine.mmm.model import MarketingMixModel

CURVE_POINTS = 25
CURVE_REACH = 3.0  # a channel's curve spans 0 to this multiple of its mean spend per period


def interval(draws: np.ndarray) -> dict[str, float]:
    """Posterior mean and 90% interval of one quantity's draws."""
    low, high = np.percentile(draws, [5, 95])
    return {"mean": float(np.mean(draws)), "low": float(low), "high": float(high)}


def _saturation(model: MarketingMixModel, channel: int) -> dict:
    """Steady-state curve parameters in spend units, in the allocator's families."""
    grid = model.grid
    picks = model.options[:, channel]
    scale = float(model.spend_scale[channel])
    q = model.base.matrix.shape[1]
    height = model.coefficients[:, q + channel] * model.y_scale
    k = grid.k[picks] * scale
    if model.saturation == "hill":
        params = {"vmax": interval(height), "k": interval(k), "n": interval(grid.n[picks])}
    else:
        params = {"alpha": interval(height), "mu": interval(1.0 / k)}
    return {"family": model.saturation, "params": params}


def _diagnostics(model: MarketingMixModel, fitted: np.ndarray, shares: np.ndarray) -> dict:
    y = model.data.y
    rows = model.fit_rows
    residual = y[:rows] - fitted[:rows]
    spread = float(np.ptp(y[:rows]))
    total = float(np.sum((y[:rows] - y[:rows].mean()) ** 2))
    held = slice(rows, None)
    mape = None
    if model.holdout_periods > 0:
        actual = y[held]
        nonzero = actual != 0
        if np.any(nonzero):
            mape = float(np.mean(np.abs((actual - fitted[held])[nonzero] / actual[nonzero])))
    spend = model.data.spend.sum(axis=0)
    spend_shares = spend / spend.sum()
    return {
        "r2": float(1 - residual @ residual / total) if total > 0 else None,
        "nrmse": float(np.sqrt(np.mean(residual**2)) / spread) if spread > 0 else None,
        "mape_holdout": mape,
        "decomp_rssd": float(np.sqrt(np.sum((shares - spend_shares) ** 2))),
    }


def summary(model: MarketingMixModel) -> dict:
    """The model's answer: per channel contribution, ROI, mROI, adstock and saturation with
    intervals, the fit diagnostics and warnings a user can act on."""
    data = model.data
    channels = []
    contributions = []
    rois = []
    fitted = model.predict_draws().mean(axis=0)
    for c, name in enumerate(data.channels):
        spend = float(data.spend[:, c].sum())
        total = model.channel_contributions(c).sum(axis=1)
        contributions.append(total.mean())
        rois.append(total / spend)
        channels.append(
            {
                "channel": name,
                "spend": spend,
                "contribution": interval(total),
                "roi": interval(total / spend),
                "mroi": interval(model.channel_elasticity(c) / spend),
                "adstock": {"theta": interval(model.grid.theta[model.options[:, c]])},
                "saturation": _saturation(model, c),
            }
        )
    paid = np.asarray(contributions)
    shares = paid / paid.sum() if paid.sum() > 0 else np.zeros_like(paid)
    return {
        "kpi": data.kpi,
        "periods": data.periods,
        "channels": channels,
        "diagnostics": _diagnostics(model, fitted, shares),
        "warnings": data_warnings(data, model.fit_rows) + interval_warnings(data.channels, rois),
    }


def decomposition(model: MarketingMixModel) -> dict:
    """Posterior mean of each component per period; the components add up to `fitted`."""
    data = model.data
    blocks = model.base_components()
    channels = {
        name: model.channel_contributions(c).mean(axis=0) for c, name in enumerate(data.channels)
    }
    fitted = sum(blocks.values()) + sum(channels.values())
    return {
        "dates": [day.isoformat() for day in data.dates],
        "holdout_from": data.dates[model.fit_rows].isoformat() if model.holdout_periods else None,
        "actual": data.y.tolist(),
        "fitted": fitted.tolist(),
        **{block: values.tolist() for block, values in blocks.items()},
        "channels": {name: values.tolist() for name, values in channels.items()},
    }


def response_draws(model: MarketingMixModel, channel: int, spend: np.ndarray) -> np.ndarray:
    """Steady-state KPI per period at each spend per period, per draw: (D, S)."""
    q = model.base.matrix.shape[1]
    picks = model.options[:, channel]
    unique, inverse = np.unique(picks, return_inverse=True)
    shapes = steady_response(
        spend,
        float(model.spend_scale[channel]),
        model.grid.k[unique],
        model.grid.n[unique],
        model.saturation,
    )
    height = model.coefficients[:, q + channel] * model.y_scale
    return height[:, None] * shapes[inverse]


def curves(model: MarketingMixModel, points: int = CURVE_POINTS) -> dict:
    """Each channel's steady-state response curve on a spend grid: mean and 90% band."""
    data = model.data
    answer = []
    for c, name in enumerate(data.channels):
        spend = np.linspace(0.0, CURVE_REACH * float(data.spend[:, c].mean()), points)
        draws = response_draws(model, c, spend)
        low, high = np.percentile(draws, [5, 95], axis=0)
        answer.append(
            {
                "channel": name,
                "family": model.saturation,
                "current_spend": float(data.spend[:, c].mean()),
                "spend": spend.tolist(),
                "mean": draws.mean(axis=0).tolist(),
                "low": low.tolist(),
                "high": high.tolist(),
            }
        )
    return {"kpi": data.kpi, "channels": answer}
