"""Multi-period plans: adstock, sequential and static (one weight vector) allocation."""

import numpy as np
import pytest
from scipy.optimize import minimize

from engine.adstock import geometric_adstock
from engine.allocator import allocate_budget
from engine.errors import EngineError
from engine.planning import plan_budgets, plan_sequential, plan_static
from engine.response import NegExpCurves

CURVES = NegExpCurves(np.array([1000.0, 800.0, 500.0]), np.array([0.002, 0.004, 0.01]))
BUDGETS = [1000.0, 2000.0, 500.0, 1500.0]
THETA = np.array([0.5, 0.2, 0.0])


def test_geometric_adstock_matches_its_recursion():
    spend = np.random.default_rng(0).uniform(0, 100, (12, 3))
    expected = np.zeros_like(spend)
    previous = np.array([10.0, 0.0, 5.0])
    for t in range(12):
        expected[t] = spend[t] + THETA * previous
        previous = expected[t]
    np.testing.assert_allclose(geometric_adstock(spend, THETA, initial=[10.0, 0.0, 5.0]), expected)
    with pytest.raises(EngineError, match="theta"):
        geometric_adstock(spend, [0.5, 1.0, 0.0])


def test_sequential_without_carry_over_is_the_per_period_optimum():
    spend, stock = plan_sequential(CURVES, BUDGETS)
    for period, budget in enumerate(BUDGETS):
        np.testing.assert_allclose(spend[period], allocate_budget(CURVES, budget), rtol=1e-9)
    np.testing.assert_allclose(stock, spend)


def test_sequential_with_carry_over_meets_each_budget_and_uses_the_stock():
    spend, stock = plan_sequential(CURVES, BUDGETS, THETA, upper=[1500, 1500, 1500])
    np.testing.assert_allclose(spend.sum(axis=1), BUDGETS)
    np.testing.assert_allclose(stock, geometric_adstock(spend, THETA))
    assert np.all(spend <= 1500 + 1e-9)
    plain, _ = plan_sequential(CURVES, BUDGETS, upper=[1500, 1500, 1500])
    assert spend[1:, 0].sum() < plain[1:, 0].sum(), "carried stock should need less new spend"


def test_a_cut_carry_over_ends_after_max_lag_periods():
    """With max_lag, spend (and the stock carried in) counts for that many periods only, in
    the adstock, both plans and the flighting problem, and matches the model's cut adstock
    once normalized."""
    from engine.flighting import FlightingProblem
    from engine.mmm.features import adstock

    spend = np.random.default_rng(1).uniform(0, 100, (8, 3))
    cut = geometric_adstock(spend, THETA, max_lag=2)
    for k in range(3):
        normalized = adstock(spend[:, k], THETA[k : k + 1], max_lag=2)[0]
        np.testing.assert_allclose(cut[:, k] / (1 + THETA[k] + THETA[k] ** 2), normalized)
    initial = np.array([10.0, 20.0, 30.0])
    budgets = [1000.0, 0.0, 0.0]
    for stock in (
        plan_sequential(CURVES, budgets, THETA, initial_stock=initial, max_lag=1)[1],
        plan_static(CURVES, budgets, THETA, initial_stock=initial, max_lag=1)[2],
    ):
        np.testing.assert_allclose(stock[1], THETA * stock[0] - THETA**2 * initial)
        np.testing.assert_allclose(stock[2], 0.0, atol=1e-12)
    problem = FlightingProblem(CURVES, 3000.0, 8, THETA, initial_stock=initial, max_lag=2)
    np.testing.assert_allclose(
        problem.stock(spend), cut + geometric_adstock(0 * spend, THETA, initial, max_lag=2)
    )
    step = np.zeros_like(spend)
    step[3, 0] = 1e-3
    slope = (problem.objective(spend + step) - problem.objective(spend - step)) / 2e-3
    assert problem.gradient(spend)[3, 0] == pytest.approx(slope, rel=1e-6)
    with pytest.raises(EngineError, match="max_lag"):
        geometric_adstock(spend, THETA, max_lag=0)


def test_static_plan_beats_slsqp_on_the_weights():
    shares, spend, stock = plan_static(CURVES, BUDGETS, THETA)
    assert shares.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(spend, np.outer(BUDGETS, shares))
    total = CURVES.response(stock).sum()

    def negative_total(weights):
        return -CURVES.response(geometric_adstock(np.outer(BUDGETS, weights), THETA)).sum()

    reference = minimize(
        negative_total,
        np.full(3, 1 / 3),
        bounds=[(0, 1)] * 3,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
    )
    assert total >= -reference.fun - 1e-6


def test_static_shares_respect_per_period_bounds():
    _, spend, _ = plan_static(CURVES, BUDGETS, THETA, lower=[100, 0, 0], upper=[400, 5000, 5000])
    assert np.all(spend[:, 0] >= 100 - 1e-9) and np.all(spend[:, 0] <= 400 + 1e-9)


def test_plan_reports_both_totals():
    plan = plan_budgets(CURVES, BUDGETS, THETA, names=["a", "b", "c"])
    totals = plan["total_response"]
    assert totals["sequential"] == pytest.approx(plan["sequential"]["total_response"])
    assert totals["static"] == pytest.approx(plan["static"]["total_response"])
    assert len(plan["sequential"]["periods"]) == len(BUDGETS)
    assert set(plan["static"]["weights"]) == {"a", "b", "c"}
    period = plan["static"]["periods"][1]
    assert sum(row["spend"] for row in period["allocation"]) == pytest.approx(BUDGETS[1])


@pytest.mark.parametrize(
    ("budgets", "theta", "problem"),
    [
        ([], None, "one budget per period"),
        ([100, -1], None, ">= 0"),
        ([100, 100], [0.1, 1.2, 0], "theta"),
        ([0, 0], None, "positive budget"),
    ],
)
def test_bad_plans_are_engine_errors(budgets, theta, problem):
    with pytest.raises(EngineError, match=problem):
        plan_budgets(CURVES, budgets, theta)
