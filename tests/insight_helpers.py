"""What the insights tests share: histories from arrays, campaigns c0, c1, ..., a lookup by id."""

from __future__ import annotations

import numpy as np

from engine.insight_inputs import CampaignInfo


def history_from(spend, revenue=None, conversions=None, clicks=None, silent=()):
    """History rows from (T, K) arrays; campaign k is named "c{k}"; `silent` = (t, k) pairs."""
    spend = np.asarray(spend, dtype=float)
    n_rows, n_campaigns = spend.shape
    ids = [f"c{k}" for k in range(n_campaigns)]
    rows = []
    for t in range(n_rows):
        metrics = {}
        for k, cid in enumerate(ids):
            if (t, k) in silent:
                metrics[cid] = None
                continue
            metrics[cid] = {
                "spend": spend[t, k],
                "impressions": None,
                "clicks": None if clicks is None else float(clicks[t][k]),
                "conversions": None if conversions is None else float(conversions[t][k]),
                "revenue": None if revenue is None else float(revenue[t][k]),
            }
        total = spend[t].sum()
        rows.append(
            {
                "timestep": t,
                "budgets": {cid: spend[t, k] for k, cid in enumerate(ids)},
                "allocation": {cid: spend[t, k] / total for k, cid in enumerate(ids)},
                "metrics": metrics,
                "reward": None,
            }
        )
    return rows


def campaigns(n, **bounds):
    return [CampaignInfo(f"c{k}", f"Campaign {k}", **bounds.get(f"c{k}", {})) for k in range(n)]


def by_id(analysis, cid):
    return next(c for c in analysis["campaigns"] if c["campaign_id"] == cid)
