"""Insights on crafted histories whose right answer is known, and invariants on random ones.

Trends, anomalies, saturation and learning; recommendations and warnings are in
tests/test_insight_recommendations.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student_t

from engine.errors import EngineError
from engine.insight_inputs import InsightSettings, RunInfo
from engine.insights import analyze
from models.insights import InsightsOut
from tests.insight_helpers import by_id, campaigns, history_from


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
