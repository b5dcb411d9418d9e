"""Insights on crafted histories whose right answer is known, and invariants on random ones."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from engine.errors import EngineError
from engine.insight_inputs import CampaignInfo, InsightSettings, RunInfo
from engine.insights import analyze
from models.insights import InsightsOut


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


def test_linear_trends_have_the_right_direction_size_and_assessment():
    t = np.arange(10.0)
    spend = np.column_stack([np.full(10, 100.0), np.full(10, 100.0)])
    conversions = np.column_stack([10 + t, np.full(10, 8.0)])  # c0 grows 1 per timestep
    revenue = np.column_stack([400 + 40 * t, np.full(10, 320.0)])
    analysis = analyze(
        history_from(spend, revenue, conversions), campaigns(2), "revenue", None, InsightSettings()
    )
    growing = by_id(analysis, "c0")["trends"]
    # Window = last 7 timesteps (3..9): slope 1, mean 16, so +6/16 over the window.
    assert growing["conversions"]["direction"] == "up"
    assert growing["conversions"]["slope"] == pytest.approx(1.0)
    assert growing["conversions"]["relative_change"] == pytest.approx(6 / 16)
    assert growing["conversions"]["points"] == 7
    assert growing["cpa"]["direction"] == "down"  # same spend, more conversions
    assert growing["cpa"]["assessment"] == "improving"
    assert growing["roas"]["assessment"] == "improving"
    steady = by_id(analysis, "c1")["trends"]
    assert all(steady[name]["direction"] == "flat" for name in ("conversions", "revenue", "roas"))


def test_rising_cpa_is_worsening_and_noise_is_not_a_trend():
    rng = np.random.default_rng(3)
    spend = np.full((12, 2), 100.0)
    conversions = np.column_stack([np.linspace(10, 5, 12), 10 + rng.normal(0, 1.0, 12)])
    revenue = conversions * 40
    analysis = analyze(history_from(spend, revenue, conversions), campaigns(2), "revenue")
    falling = by_id(analysis, "c0")["trends"]["cpa"]
    assert (falling["direction"], falling["assessment"]) == ("up", "worsening")
    noisy = by_id(analysis, "c1")["trends"]
    assert noisy["conversions"]["direction"] == "flat"


def test_too_few_points_give_unknown_trends():
    analysis = analyze(
        history_from([[100.0, 100.0]] * 2, [[200, 300]] * 2), campaigns(2), "revenue"
    )
    assert by_id(analysis, "c0")["trends"]["roas"]["direction"] == "unknown"
    assert by_id(analysis, "c0")["trends"]["roas"]["relative_change"] is None


def test_robust_z_flags_only_the_outlier_timestep():
    rng = np.random.default_rng(0)
    spend = np.full((15, 2), 100.0)
    roas = 2 + rng.normal(0, 0.05, (15, 2))
    roas[9, 1] = 6.0  # an exceptional timestep for c1
    revenue = roas * spend
    conversions = np.full((15, 2), 5.0)
    conversions[4, 0] = 1.0  # CPA 100 instead of 20 for c0 at timestep 4
    analysis = analyze(history_from(spend, revenue, conversions), campaigns(2), "revenue")
    found = {(a["campaign_id"], a["timestep"], a["metric"]) for a in analysis["anomalies"]}
    assert found == {("c1", 9, "roas"), ("c0", 4, "cpa")}
    roas_spike = next(a for a in analysis["anomalies"] if a["metric"] == "roas")
    assert roas_spike["direction"] == "high" and roas_spike["favourable"] is True
    assert roas_spike["robust_z"] > 3.5
    cpa_spike = next(a for a in analysis["anomalies"] if a["metric"] == "cpa")
    assert cpa_spike["direction"] == "high" and cpa_spike["favourable"] is False
    assert cpa_spike["value"] == pytest.approx(100.0) and cpa_spike["median"] == pytest.approx(20)


def test_zero_mad_falls_back_to_mean_absolute_deviation():
    spend = np.full((8, 2), 100.0)
    revenue = np.full((8, 2), 200.0)
    revenue[2, 0] = 250.0  # most ROAS are exactly 2: MAD 0
    analysis = analyze(history_from(spend, revenue), campaigns(2), "revenue")
    assert [(a["campaign_id"], a["timestep"]) for a in analysis["anomalies"]] == [("c0", 2)]


def test_anomalies_need_enough_observations():
    spend = np.full((4, 2), 100.0)
    revenue = np.array([[200, 200], [200, 210], [900, 190], [200, 200]], dtype=float)
    assert analyze(history_from(spend, revenue), campaigns(2), "revenue")["anomalies"] == []


def test_saturation_recovers_the_power_law_and_tells_linear_from_concave():
    spend_path = np.linspace(100, 1000, 10)
    spend = np.column_stack([spend_path, spend_path, spend_path])
    revenue = np.column_stack([3 * spend_path, 50 * spend_path**0.75, 200 * spend_path**0.3])
    analysis = analyze(history_from(spend, revenue), campaigns(3), "revenue")
    linear, concave, flat = (by_id(analysis, f"c{k}")["saturation"] for k in range(3))
    assert linear["elasticity"] == pytest.approx(1.0)
    assert linear["status"] == "none"
    assert linear["low_spend_return"] == pytest.approx(3.0)
    assert linear["incremental_return"] == pytest.approx(3.0)
    assert concave["elasticity"] == pytest.approx(0.75)
    assert concave["status"] == "diminishing"
    assert flat["elasticity"] == pytest.approx(0.3)
    assert flat["status"] == "saturated"
    assert flat["incremental_return"] < flat["low_spend_return"]
    assert flat["high_spend_return"] < flat["low_spend_return"]


def test_saturation_is_unknown_without_spend_variation():
    spend = np.full((10, 2), 500.0)
    analysis = analyze(history_from(spend, spend * 2), campaigns(2), "revenue")
    saturation = by_id(analysis, "c0")["saturation"]
    assert saturation["status"] == "unknown" and saturation["elasticity"] is None
    assert by_id(analysis, "c0")["marginal_basis"] == "average"
    assert by_id(analysis, "c0")["marginal_return"] == pytest.approx(2.0)


def test_learning_narrows_with_observations_and_says_no_data():
    rng = np.random.default_rng(5)
    n_rows = 30
    spend = np.full((n_rows, 3), 100.0)
    revenue = 100 * (2 + rng.normal(0, 0.6, (n_rows, 3)))
    silent = {(t, 0) for t in range(3, n_rows)} | {(t, 2) for t in range(n_rows)}
    analysis = analyze(history_from(spend, revenue, silent=silent), campaigns(3), "revenue")
    few, many, none = (by_id(analysis, f"c{k}")["learning"] for k in range(3))
    assert few["observations"] == 3 and many["observations"] == n_rows
    assert many["relative_width"] < few["relative_width"]
    assert many["low"] < many["estimate"] < many["high"]
    assert many["estimate"] == pytest.approx(revenue[:, 1].sum() / spend[:, 1].sum())
    assert few["status"] == "learning"
    assert many["status"] in ("confident", "converging")
    assert none["status"] == "no data" and none["estimate"] is None


def test_learning_interval_matches_the_delta_method():
    spend = np.array([[100.0], [200.0], [150.0], [120.0], [180.0]])
    revenue = np.array([[210.0], [390.0], [310.0], [235.0], [370.0]])
    rows = history_from(np.hstack([spend, spend]), np.hstack([revenue, revenue]))
    learning = by_id(analyze(rows, campaigns(2), "revenue"), "c0")["learning"]
    ratio = revenue.sum() / spend.sum()
    residual = revenue[:, 0] - ratio * spend[:, 0]
    stderr = math.sqrt(residual.var(ddof=1) / 5) / spend.mean()
    half = student_t.ppf(0.95, 4) * stderr
    assert learning["low"] == pytest.approx(ratio - half)
    assert learning["high"] == pytest.approx(ratio + half)


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


def test_empty_history_and_bad_input():
    analysis = analyze([], campaigns(2), "profit")
    assert analysis["timesteps_analyzed"] == 0
    assert analysis["recommendations"] == [] and analysis["anomalies"] == []
    assert by_id(analysis, "c0")["learning"]["status"] == "no data"
    with pytest.raises(EngineError):
        analyze([], campaigns(2), "likes")
    with pytest.raises(EngineError):
        analyze([], [], "revenue")


histories = st.integers(min_value=0, max_value=12).flatmap(
    lambda n_rows: st.tuples(
        st.lists(
            st.lists(st.floats(0, 1000), min_size=3, max_size=3), min_size=n_rows, max_size=n_rows
        ),
        st.lists(
            st.lists(st.floats(0, 5000), min_size=3, max_size=3), min_size=n_rows, max_size=n_rows
        ),
        st.sets(st.tuples(st.integers(0, max(n_rows - 1, 0)), st.integers(0, 2)), max_size=6),
        st.randoms(use_true_random=False),
    )
)


@settings(max_examples=40, deadline=None)
@given(histories, st.sampled_from(["revenue", "conversions", "profit"]))
def test_any_history_gives_strict_json_bounded_shifts_and_ignores_row_order(data, objective):
    spend, revenue, silent, shuffler = data
    spend = np.array(spend, dtype=float).reshape(-1, 3) + 1.0
    revenue = np.array(revenue, dtype=float).reshape(-1, 3)
    conversions = np.floor(revenue / 50)
    history = history_from(spend, revenue, conversions, silent=silent)
    run = RunInfo(
        budget=50_000, remaining=20_000, timesteps=30, current_time=len(history), step=0.2
    )
    analysis = analyze(history, campaigns(3), objective, run)
    json.dumps(analysis, allow_nan=False)
    for shift in analysis["recommendations"]:
        assert 0.01 - 1e-9 <= shift["share"] <= 0.2 + 1e-9
        assert shift["from_marginal"] < shift["to_marginal"]
        assert shift["expected_gain"] >= -1e-6
    shuffled = list(history)
    shuffler.shuffle(shuffled)
    assert analyze(shuffled, campaigns(3), objective, run) == analysis


EXTREME_SPEND = [1e-300, 1e-9, 1.0, 1e6, 1e12]
EXTREME_VALUE = [0.0, 1e-300, 1.0, 1e6, 1e12]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(EXTREME_SPEND), min_size=3, max_size=3), min_size=3, max_size=8
    ),
    st.data(),
    st.sampled_from(["revenue", "conversions", "profit"]),
)
def test_extreme_but_valid_metrics_give_an_answer_the_api_can_send(spend, data, objective):
    """Any amounts the metrics endpoint accepts (0 to 1e12) give an analysis whose every
    required number is finite: the API's answer model takes it as it is."""
    revenue = [
        data.draw(st.lists(st.sampled_from(EXTREME_VALUE), min_size=3, max_size=3)) for _ in spend
    ]
    history = history_from(spend, revenue, np.array(revenue) / 50)
    run = RunInfo(budget=5e12, remaining=1e12, timesteps=30, current_time=len(history), step=0.2)
    analysis = analyze(history, campaigns(3), objective, run)
    json.dumps(analysis, allow_nan=False)
    InsightsOut(state_id="s", **analysis)
    for shift in analysis["recommendations"]:
        assert all(math.isfinite(shift[key]) for key in ("share", "amount", "expected_gain"))


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
