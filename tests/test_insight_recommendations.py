"""Insights' recommendations and warnings, and campaigns whose marginal return is unknown.

Budget moved toward the higher marginal return within the pace, floor and caps; the warnings
on silence, floors, caps and pace; marginal returns not known or not representable.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.insight_inputs import CampaignInfo, RunInfo
from engine.insights import analyze
from models.insights import InsightsOut
from tests.insight_helpers import by_id, campaigns, history_from


def two_campaign_run(step=0.1, floor=0.0, bounds=None):
    """c0 saturates (revenue 20 * sqrt(spend)), c1 returns 3 per unit; now 600 vs 400."""
    rng = np.random.default_rng(1)
    share = rng.uniform(0.3, 0.7, 12)
    spend = np.column_stack([1000 * share, 1000 * (1 - share)])
    revenue = np.column_stack([20 * np.sqrt(spend[:, 0]), 3 * spend[:, 1]])
    run = RunInfo(
        budget=20_000,
        remaining=8_000,
        timesteps=20,
        current_time=12,
        floor=floor,
        step=step,
        budgets={"c0": 600.0, "c1": 400.0},
    )
    return history_from(spend, revenue), campaigns(2, **(bounds or {})), run


def test_recommendation_moves_budget_to_the_higher_marginal_with_the_expected_gain():
    history, info, run = two_campaign_run(step=0.1)
    analysis = analyze(history, info, "revenue", run)
    (shift,) = analysis["recommendations"]
    assert (shift["from_campaign"], shift["to_campaign"]) == ("c0", "c1")
    # Marginal of c0 at 600 is 10 / sqrt(600) = 0.41 < 3: the pacing step (10%) binds.
    assert shift["from_marginal"] == pytest.approx(10 / math.sqrt(600))
    assert shift["to_marginal"] == pytest.approx(3.0)
    assert shift["amount"] == pytest.approx(100.0)
    assert shift["share"] == pytest.approx(0.1)
    gain = 3 * 100 + 20 * (math.sqrt(500) - math.sqrt(600))
    assert shift["expected_gain"] == pytest.approx(gain)
    assert shift["expected_gain_remaining"] == pytest.approx(gain * 8)
    total = 20 * math.sqrt(600) + 3 * 400
    assert shift["expected_gain_relative"] == pytest.approx(gain / total)
    assert "Move 10% " in shift["text"] and "from Campaign 0 to Campaign 1" in shift["text"]
    assert "marginal ROAS 0.4 vs 3.0" in shift["text"]


def test_unpaced_recommendation_equalizes_the_marginals():
    history, info, run = two_campaign_run(step=1.0)
    (shift,) = analyze(history, info, "revenue", run)["recommendations"]
    # 10 / sqrt(600 - x) = 3  =>  x = 600 - 100 / 9
    assert shift["amount"] == pytest.approx(600 - 100 / 9, rel=1e-6)


def test_recommendation_respects_the_floor_and_max_budget():
    history, info, run = two_campaign_run(step=1.0, floor=0.3)
    (shift,) = analyze(history, info, "revenue", run)["recommendations"]
    assert shift["amount"] == pytest.approx(600 - 300)
    history, info, run = two_campaign_run(step=1.0, bounds={"c1": {"max_budget": 450.0}})
    (shift,) = analyze(history, info, "revenue", run)["recommendations"]
    assert shift["amount"] == pytest.approx(50.0)


def test_no_recommendation_when_marginals_agree_or_nobody_can_move():
    spend_path = np.linspace(200, 800, 8)
    spend = np.column_stack([spend_path, 1000 - spend_path])
    history = history_from(spend, 2 * spend)
    assert analyze(history, campaigns(2), "revenue")["recommendations"] == []
    history, info, run = two_campaign_run(bounds={"c1": {"max_budget": 400.0}})
    assert analyze(history, info, "revenue", run)["recommendations"] == []
    paused = [info[0], CampaignInfo("c1", "Campaign 1", active=False)]
    history, _, run = two_campaign_run()
    assert analyze(history, paused, "revenue", run)["recommendations"] == []


def test_conversions_objective_speaks_in_cpa():
    history, info, run = two_campaign_run(step=0.1)
    for row in history:
        for metrics in row["metrics"].values():
            metrics["conversions"] = metrics["revenue"] / 40
    (shift,) = analyze(history, info, "conversions", run)["recommendations"]
    assert shift["metric"] == "conversions"
    assert f"marginal CPA {40 * math.sqrt(600) / 10:,.2f} vs {40 / 3:,.2f}" in shift["text"]


def test_warnings_for_silence_floor_cap_and_pace():
    spend = np.tile([20.0, 580.0, 400.0], (10, 1))
    revenue = spend * np.array([5.0, 1.0, 4.0])
    silent = {(t, 1) for t in (7, 8, 9)}
    history = history_from(spend, revenue, silent=silent)
    for row in history:  # c0 held at a 2% floor
        row["allocation"] = {"c0": 0.02, "c1": 0.58, "c2": 0.40}
    info = campaigns(3, c2={"max_budget": 400.0})
    run = RunInfo(
        budget=20_000, remaining=3_000, timesteps=20, current_time=10, floor=0.02, step=0.1
    )
    warnings = analyze(history, info, "revenue", run)["warnings"]
    kinds = {(w["kind"], w["campaign_id"]) for w in warnings}
    assert ("no_data", "c1") in kinds
    assert ("starved", "c0") in kinds
    assert ("budget_pace", None) in kinds  # 1,000 per timestep, 3,000 left for 10 timesteps
    silence = next(w for w in warnings if w["kind"] == "no_data")
    assert "last 3 timesteps (since timestep 7)" in silence["text"]
    pace = next(w for w in warnings if w["kind"] == "budget_pace")
    assert "lasts 3.0 timesteps, fewer than the 10 left" in pace["text"]
    # c2 is capped but c0's return (5) beats its 4: no "raise the cap" advice.
    assert ("capped", "c2") not in kinds
    revenue[:, 2] = spend[:, 2] * 6
    history = history_from(spend, revenue, silent=silent)
    kinds = {
        (w["kind"], w["campaign_id"]) for w in analyze(history, info, "revenue", run)["warnings"]
    }
    assert ("capped", "c2") in kinds


def test_no_warnings_on_a_healthy_run_and_underspend_when_spend_lags():
    spend = np.tile([500.0, 500.0], (6, 1))
    run = RunInfo(budget=12_000, remaining=6_000, timesteps=12, current_time=6, floor=0.02)
    assert analyze(history_from(spend, spend * 2), campaigns(2), "revenue", run)["warnings"] == []
    history = history_from(spend, spend * 2)
    for row in history:
        for metrics in row["metrics"].values():
            metrics["spend"] = 300.0
    warnings = analyze(history, campaigns(2), "revenue", run)["warnings"]
    assert [w["kind"] for w in warnings] == ["underspend"]
    assert "spent 60% of their budgets" in warnings[0]["text"]


def test_a_marginal_beyond_the_float_range_is_reported_unavailable():
    """Spends of 5e-324 to 1e-305 earning up to 1e12 (amounts the API accepts) fit a curve
    whose marginal return is far above 1e308: it is null, and such a campaign is neither moved
    nor called the best when capped, while the other campaign keeps its figures."""
    tiny = [5e-324, 1e-320, 1e-315, 1e-310, 1e-305, 1e-305, 1e-305]
    earned = [1e-12, 1e-6, 1.0, 1e6, 1e12, 1e12, 1e12]
    steady = [50.0 + t for t in range(len(tiny))]
    spend = np.array([tiny, steady]).T
    revenue = np.array([earned, [2 * s for s in steady]]).T
    run = RunInfo(
        budget=10_000,
        remaining=5_000,
        timesteps=20,
        current_time=len(tiny),
        step=0.2,
        budgets={"c0": 500.0, "c1": 500.0},
    )
    info = campaigns(2, c0={"max_budget": 1e-305})
    analysis = analyze(history_from(spend, revenue), info, "revenue", run)
    json.dumps(analysis, allow_nan=False)
    InsightsOut(state_id="s", **analysis)
    assert by_id(analysis, "c0")["marginal_return"] is None
    assert by_id(analysis, "c1")["marginal_return"] == pytest.approx(2.0)
    assert analysis["recommendations"] == []
    assert [w for w in analysis["warnings"] if w["kind"] == "capped"] == []


@pytest.mark.parametrize(
    "finished", [{"current_time": 20, "remaining": 0.0}, {"current_time": 12, "remaining": 0.0}]
)
def test_a_finished_run_recommends_nothing(finished):
    history, info, run = two_campaign_run(step=0.1)
    done = RunInfo(**{**run.__dict__, **finished, "budgets": None})
    analysis = analyze(history, info, "revenue", done)
    assert analysis["recommendations"] == []
    assert by_id(analysis, "c0")["marginal_return"] == pytest.approx(10 / math.sqrt(600), rel=0.2)


def test_a_campaign_without_data_has_no_marginal_return():
    history, info, run = two_campaign_run(step=0.1)
    for row in history:
        row["metrics"]["c2"] = None
        row["budgets"]["c2"] = 0.0
    three = [*info, CampaignInfo("c2", "Campaign 2")]
    analysis = analyze(history, three, "revenue", RunInfo(**{**run.__dict__, "budgets": None}))
    silent = by_id(analysis, "c2")
    assert silent["learning"]["status"] == "no data"
    assert silent["marginal_return"] is None
    assert by_id(analysis, "c1")["marginal_return"] == pytest.approx(3.0)
    assert InsightsOut.model_validate({**analysis, "state_id": "s", "narrative": None})
