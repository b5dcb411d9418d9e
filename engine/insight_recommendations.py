"""Budget shifts a strategist would recommend from a run's history, with their expected gain.

Concave power-law curves (or lines through the average where no elasticity is known) value
each campaign's spend; the campaign with the lowest marginal return gives to the one with the
highest, by the amount that equalizes them, within the run's floor, bounds and pacing step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from engine.insight_inputs import CampaignInfo, InsightSettings, RunInfo
from engine.settings import VALUE_METRIC


@dataclass(frozen=True)
class _Curves:
    """value = scale * spend^elasticity per campaign, elasticity in [0, 1] (concave).

    A power law's marginal grows without bound towards zero spend; marginals are read no lower
    than `smallest_spend`, the smallest amount a recommendation moves, so a campaign with next
    to no budget is valued by what its first recommended slice would return.
    """

    scale: np.ndarray
    elasticity: np.ndarray
    smallest_spend: float

    def value(self, k: int, spend: float) -> float:
        return float(self.scale[k] * max(spend, 0.0) ** self.elasticity[k])

    def marginal(self, k: int, spend: float) -> float:
        b = self.elasticity[k]
        if b >= 1.0:
            return float(self.scale[k])
        if b <= 0.0:
            return 0.0
        return float(b * self.scale[k] * max(spend, self.smallest_spend, 1e-12) ** (b - 1.0))


def fit_curves(
    saturation: dict[str, np.ndarray],
    fit: dict[str, np.ndarray],
    learning: dict[str, np.ndarray],
    smallest_spend: float,
) -> tuple[_Curves, np.ndarray]:
    """Fitted concave curves where the elasticity is known, lines through the average otherwise.

    An elasticity clipped into [0, 1] keeps the curve through the centre of the data (the
    geometric means of spend and value), so its level stays where the observations are.
    """
    fitted = np.isfinite(saturation["elasticity"])
    elasticity = np.where(fitted, np.clip(saturation["elasticity"], 0.0, 1.0), 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        anchored = np.exp(fit["y_mean"] - elasticity * fit["x_mean"])
    scale = np.where(fitted, anchored, np.nan_to_num(learning["estimate"], nan=0.0))
    curves = _Curves(scale=scale, elasticity=elasticity, smallest_spend=smallest_spend)
    return curves, np.where(fitted, "curve", "average")


def marginal_text(objective: str, marginal: float) -> str:
    """A marginal return as a reader knows it: ROAS for revenue, CPA for conversions."""
    if VALUE_METRIC[objective] == "conversions":
        return "none" if marginal <= 0 else f"{1 / marginal:,.2f}"
    return f"{marginal:.1f}"


def marginal_name(objective: str) -> str:
    """What the texts call the marginal return: marginal CPA, or marginal ROAS."""
    return "marginal CPA" if VALUE_METRIC[objective] == "conversions" else "marginal ROAS"


def _shift(curves: _Curves, donor: int, recipient: int, spend: np.ndarray, most: float) -> float:
    """Amount moving from donor to recipient that equalizes their marginals, at most `most`."""

    def gap(amount: float) -> float:
        return curves.marginal(recipient, spend[recipient] + amount) - curves.marginal(
            donor, spend[donor] - amount
        )

    if gap(most) >= 0:
        return most
    return float(brentq(gap, 0.0, most, xtol=1e-9 * max(most, 1.0)))


_CERTAINTY = ("no data", "learning", "converging", "confident")


def _finished(run: RunInfo) -> bool:
    """The run is over (every timestep done, or the budget spent): nothing is left to move."""
    return run.current_time >= run.timesteps or run.remaining <= 0


def recommend_shifts(
    campaigns: Sequence[CampaignInfo],
    objective: str,
    spend_now: np.ndarray,
    curves: _Curves,
    learning_status: np.ndarray,
    run: RunInfo | None,
    settings: InsightSettings,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Greedy pairs: the lowest-marginal donor gives to the highest-marginal recipient; none
    for a finished run.

    Each campaign appears in one shift at most, moved by the amount that equalizes the two
    marginals under the fitted curves, within the floor, min/max budgets and the pacing step.
    """
    n_campaigns = len(campaigns)
    marginal = np.array([curves.marginal(k, spend_now[k]) for k in range(n_campaigns)])
    # A campaign without data has no marginal return to tell (None), not a return of 0.
    marginal = np.where(learning_status == "no data", np.nan, marginal)
    timestep_budget = float(spend_now.sum())
    if timestep_budget <= 0 or (run is not None and _finished(run)):
        return [], marginal
    floor = run.floor if run else 0.0
    lower = np.array([max(floor * timestep_budget, c.min_budget or 0.0) for c in campaigns])
    upper = np.array([np.inf if c.max_budget is None else c.max_budget for c in campaigns])
    max_share = settings.max_shift_share
    if max_share is None:
        max_share = run.step if run else 0.25
    smallest = settings.min_shift_share * timestep_budget
    # Amounts near the ends of the float range (accepted metrics of 1e-300 spend and 1e12
    # value) can fit curves whose marginals or gains overflow: such campaigns are not moved.
    eligible = np.array([c.active for c in campaigns]) & (learning_status != "no data")
    eligible &= np.isfinite(marginal)
    donors = [k for k in np.argsort(marginal, kind="stable") if eligible[k]]
    donors = [k for k in donors if spend_now[k] - lower[k] >= smallest]
    recipients = [k for k in np.argsort(-marginal, kind="stable") if eligible[k]]
    recipients = [k for k in recipients if upper[k] - spend_now[k] >= smallest]
    total_now = sum(curves.value(k, spend_now[k]) for k in range(n_campaigns))
    timesteps_left = max(run.timesteps - run.current_time, 0) if run else None
    metric = VALUE_METRIC[objective]
    found: list[dict[str, Any]] = []
    for recipient in recipients:
        donor = next((d for d in donors if d != recipient), None)
        if donor is None or len(found) >= settings.max_recommendations:
            break
        high, low = marginal[recipient], marginal[donor]
        if high <= 0 or (low > 0 and high < settings.min_marginal_ratio * low):
            break
        most = min(
            spend_now[donor] - lower[donor],
            upper[recipient] - spend_now[recipient],
            max_share * timestep_budget,
        )
        amount = _shift(curves, donor, recipient, spend_now, most)
        gain = (
            curves.value(recipient, spend_now[recipient] + amount)
            - curves.value(recipient, spend_now[recipient])
            + curves.value(donor, spend_now[donor] - amount)
            - curves.value(donor, spend_now[donor])
        )
        if amount < smallest or not np.isfinite(gain):
            continue
        donors.remove(donor)
        share = amount / timestep_budget
        relative = gain / total_now if total_now > 0 else np.nan
        certainty = min(learning_status[donor], learning_status[recipient], key=_CERTAINTY.index)
        text = (
            f"Move {share:.0%} of the timestep budget ({amount:,.2f}) from "
            f"{campaigns[donor].name} to {campaigns[recipient].name}: "
            f"{marginal_name(objective)} {marginal_text(objective, low)} vs "
            f"{marginal_text(objective, high)}. "
            f"Expected {gain:+,.2f} {metric} per timestep"
            + (f" ({relative:+.1%})." if np.isfinite(relative) else ".")
        )
        if certainty == "learning":
            text += " Still learning: treat as a hint."
        found.append(
            {
                "kind": "shift",
                "from_campaign": campaigns[donor].id,
                "to_campaign": campaigns[recipient].id,
                "share": share,
                "amount": amount,
                "from_marginal": low,
                "to_marginal": high,
                "expected_gain": gain,
                "expected_gain_relative": relative,
                "expected_gain_remaining": None
                if timesteps_left is None
                else gain * timesteps_left,
                "metric": metric,
                "confidence": certainty,
                "text": text,
            }
        )
    return found, marginal
