"""Invariants of the allocator's features: logistic curves, groups, least spend for a target,
allocation on posterior draws and flighting, each against scipy's SLSQP on small problems."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

from engine.allocator import solve_budget
from engine.draws import DrawMeanCurves, allocate_on_draws
from engine.errors import EngineError
from engine.flighting import FlightingProblem, plan_flighting
from engine.groups import resolve_groups, solve_grouped
from engine.projection import best_vertex, project
from engine.response import HillCurves, LogisticCurves, NegExpCurves
from engine.target import feasible_spends, least_spend


def test_logistic_marginal_is_the_derivative_and_its_inverse_inverts_it():
    curves = LogisticCurves([100.0, 5.0, 800.0], [0.01, 2.0, 1e-4])
    spend = np.array([30.0, 0.7, 25_000.0])
    step = 1e-5 * spend
    slope = (curves.response(spend + step) - curves.response(spend - step)) / (2 * step)
    assert curves.marginal(spend) == pytest.approx(slope, rel=1e-6)
    assert curves.inverse_marginal(curves.marginal(spend)) == pytest.approx(spend, rel=1e-9)
    assert curves.response(np.zeros(3)) == pytest.approx(0.0)
    assert np.all(curves.inverse_marginal(curves.marginal(np.zeros(3)) * 1.01) == 0.0)
    far = curves.inverse_marginal(np.full(3, 1e-200))  # far up the curve, from logs
    assert np.all(np.isfinite(far)) and np.all(far > 0)
    with pytest.raises(EngineError, match="lam"):
        LogisticCurves([1.0], [0.0])


def slsqp(objective, gradient, start, bounds, constraints) -> float:
    result = minimize(
        lambda x: -objective(x),
        start,
        jac=lambda x: -gradient(x),
        bounds=bounds,
        constraints=constraints,
        method="SLSQP",
        options={"maxiter": 500, "ftol": 1e-12},
    )
    return objective(result.x) if result.success else -np.inf


@st.composite
def grouped_problems(draw):
    size = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    curves = LogisticCurves(rng.uniform(50, 500, size), rng.uniform(1e-3, 2e-2, size))
    lower = rng.uniform(0, 20, size)
    upper = lower + rng.uniform(50, 400, size)
    budget = float(lower.sum() + draw(st.floats(0.05, 0.95)) * (upper - lower).sum())
    split = draw(st.integers(1, size))
    names = [f"c{i}" for i in range(size)]
    groups = [
        {"name": "g", "campaigns": names[:split], "max_share": draw(st.floats(0.2, 0.9))},
    ]
    if split < size:
        groups.append({"name": "h", "campaigns": names[split:], "min": 0.3 * budget})
    return curves, lower, upper, budget, names, groups


@settings(max_examples=40, deadline=None)
@given(grouped_problems())
def test_groups_hold_exactly_and_match_or_beat_slsqp(problem):
    curves, lower, upper, budget, names, specs = problem
    groups = resolve_groups(specs, names)
    try:
        spend, _ = solve_grouped(curves, budget, lower, upper, np.ones(curves.size), groups)
    except EngineError as error:
        assert "infeasible" in str(error)
        return
    assert spend.sum() == pytest.approx(budget, rel=1e-12)
    assert np.all(spend >= lower) and np.all(spend <= upper)
    low, high = groups.bounds(budget, lower, upper)
    totals = np.bincount(groups.labels, weights=spend, minlength=groups.count)
    assert np.all(totals >= low - 1e-9 * budget) and np.all(totals <= high + 1e-9 * budget)
    members = [groups.labels == g for g in range(groups.count - 1)]
    constraints = [{"type": "eq", "fun": lambda x: x.sum() - budget}]
    for mask, top, bottom in zip(members, high, low, strict=False):
        constraints.append({"type": "ineq", "fun": lambda x, m=mask, t=top: t - x[m].sum()})
        constraints.append({"type": "ineq", "fun": lambda x, m=mask, b=bottom: x[m].sum() - b})
    reference = slsqp(
        lambda x: float(curves.response(x).sum()),
        curves.marginal,
        np.clip(np.full(curves.size, budget / curves.size), lower, upper),
        list(zip(lower, upper, strict=True)),
        constraints,
    )
    ours = float(curves.response(spend).sum())
    assert ours >= reference - 1e-7 * abs(reference)


@settings(max_examples=20, deadline=None)
@given(grouped_problems(), st.floats(0.3, 0.99), st.booleans())
def test_least_spend_reaches_the_target_and_no_less_spend_does(problem, fraction, grouped):
    curves, lower, upper, budget, names, specs = problem
    groups = resolve_groups(specs, names) if grouped else None
    weights = np.ones(curves.size)

    def best(total: float) -> float:
        if groups is None:
            return float(curves.response(solve_budget(curves, total, lower, upper).spend).sum())
        return float(
            curves.response(solve_grouped(curves, total, lower, upper, weights, groups)[0]).sum()
        )

    try:
        floor, ceiling = feasible_spends(groups, budget, lower, upper)
    except EngineError as error:
        assert "infeasible" in str(error)
        return
    target = best(floor) + fraction * (best(ceiling) - best(floor))
    spend, _ = least_spend(curves, target, budget, lower, upper, weights, groups)
    total = float(spend.sum())
    assert float(curves.response(spend).sum()) >= target * (1 - 1e-12)
    assert np.all(spend >= lower) and np.all(spend <= upper)
    less = total * (1 - 1e-6)
    if less >= floor:
        assert best(less) < target


def test_an_unreachable_target_names_the_most_reachable():
    curves = NegExpCurves([100.0, 200.0], [0.01, 0.02])
    with pytest.raises(EngineError, match=r"the most this mix reaches .* is 2\d\d"):
        least_spend(curves, 1000.0, 200.0, np.zeros(2), np.full(2, np.inf), np.ones(2))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.integers(2, 5))
def test_draws_maximize_the_posterior_mean_and_bracket_it(seed, draws, size):
    rng = np.random.default_rng(seed)
    beta = rng.uniform(100, 800, size) * rng.lognormal(0, 0.4, (draws, size))
    lam = rng.uniform(1e-3, 1e-2, size) * rng.lognormal(0, 0.4, (draws, size))
    upper = np.full(size, 600.0)
    budget = 200.0 * size
    answer = allocate_on_draws("logistic", {"beta": beta, "lam": lam}, budget, None, upper)
    spend = answer["spend"]
    assert spend.sum() == pytest.approx(budget, rel=1e-12)
    assert np.all(spend >= 0) and np.all(spend <= upper)
    mean = DrawMeanCurves("logistic", {"beta": beta, "lam": lam})
    kpi = answer["kpi"]
    assert kpi["mean"] == pytest.approx(float(mean.response(spend).sum()), rel=1e-12)
    assert kpi["low"] <= kpi["mean"] <= kpi["high"]
    reference = slsqp(
        lambda x: float(mean.response(x).sum()),
        mean.marginal,
        np.full(size, budget / size),
        [(0.0, 600.0)] * size,
        [{"type": "eq", "fun": lambda x: x.sum() - budget}],
    )
    assert kpi["mean"] >= reference - 1e-7 * abs(reference)


def test_one_draw_is_the_plain_allocation_and_groups_reach_the_draws():
    beta, lam = np.array([[300.0, 500.0, 200.0]]), np.array([[0.01, 0.004, 0.02]])
    answer = allocate_on_draws("logistic", {"beta": beta, "lam": lam}, 500.0)
    plain = solve_budget(LogisticCurves(beta[0], lam[0]), 500.0).spend
    assert answer["spend"] == pytest.approx(plain, rel=1e-9)
    assert answer["kpi"]["low"] == pytest.approx(answer["kpi"]["high"])
    grouped = allocate_on_draws(
        "logistic",
        {"beta": beta, "lam": lam},
        500.0,
        groups=[{"name": "g", "campaigns": ["channel_1"], "max": 100.0}],
    )
    assert grouped["spend"][1] == pytest.approx(100.0)
    assert grouped["groups"][0]["binding"] == "max"
    with pytest.raises(EngineError, match="shape"):
        allocate_on_draws("logistic", {"beta": beta, "lam": lam[:, :2]}, 500.0)


def test_a_flat_mean_marginal_at_the_multiplier_takes_its_share_of_the_budget():
    """Draws of an S-curve whose tangent points all lie beyond the budget average to a
    straight stretch: its marginal is flat, level with the multiplier within rounding.
    The generic allocator must still fund it (it once left the money on the first
    campaign with room), as the draws' own solver does."""
    rng = np.random.default_rng(0)
    draws = 50
    params = {
        "vmax": np.column_stack([np.full(draws, 100.0), rng.uniform(5e4, 6e4, draws)]),
        "k": np.column_stack([np.full(draws, 10.0), rng.uniform(400.0, 500.0, draws)]),
        "n": np.column_stack([np.ones(draws), np.full(draws, 2.0)]),
    }
    curves = DrawMeanCurves("hill", params)
    spend = solve_budget(curves, 100.0).spend
    assert spend == pytest.approx(allocate_on_draws("hill", params, 100.0)["spend"], abs=1e-6)
    assert spend[1] == pytest.approx(100.0)


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(2, 4))
def test_flighting_holds_every_bound_and_matches_or_beats_slsqp(seed, size, periods):
    rng = np.random.default_rng(seed)
    curves = NegExpCurves(rng.uniform(100, 1000, size), rng.uniform(1e-3, 1e-2, size))
    total = 150.0 * size * periods
    problem = FlightingProblem(
        curves,
        total,
        periods,
        theta=rng.uniform(0, 0.8, size),
        upper=np.full(size, 400.0),
        period_min=np.full(periods, 0.1 * total / periods),
        period_max=np.full(periods, 0.5 * total),
        initial_stock=rng.uniform(0, 300, size),
    )
    plan = plan_flighting(problem)
    spend = plan.spend
    assert spend.sum() == pytest.approx(total, rel=1e-12)
    assert np.all(spend >= 0) and np.all(spend <= 400.0 + 1e-9)
    per_period = spend.sum(axis=1)
    assert np.all(per_period >= problem.period_low - 1e-9 * total)
    assert np.all(per_period <= problem.period_high + 1e-9 * total)
    assert plan.gap <= 1e-8 * plan.objective
    shape = (periods, size)
    reference = slsqp(
        lambda x: problem.objective(x.reshape(shape)),
        lambda x: problem.gradient(x.reshape(shape)).ravel(),
        np.full(size * periods, total / (size * periods)),
        [(0.0, 400.0)] * (size * periods),
        [
            {"type": "eq", "fun": lambda x: x.sum() - total},
            {"type": "ineq", "fun": lambda x: problem.period_high - x.reshape(shape).sum(1)},
            {"type": "ineq", "fun": lambda x: x.reshape(shape).sum(1) - problem.period_low},
        ],
    )
    assert plan.objective >= reference - 1e-7 * abs(reference)
    # The certified bound holds: nothing SLSQP found beats objective + gap.
    assert reference <= plan.objective + plan.gap + 1e-9 * abs(reference)


def test_flighting_without_adstock_is_the_allocation_of_the_total_over_campaign_periods():
    curves = NegExpCurves([500.0, 800.0], [0.004, 0.002])
    problem = FlightingProblem(curves, 1200.0, 3)
    plan = plan_flighting(problem)
    copies = NegExpCurves(np.tile(curves.alpha, 3), np.tile(curves.mu, 3))
    exact = solve_budget(copies, 1200.0).spend.reshape(3, 2)
    assert plan.spend == pytest.approx(exact, rel=1e-6)
    # Stopped at once, the even start is feasible and its bound covers the distance left.
    early = plan_flighting(FlightingProblem(curves, 1200.0, 3, theta=[0.5, 0.2]), time_limit=0.0)
    best = plan_flighting(FlightingProblem(curves, 1200.0, 3, theta=[0.5, 0.2]))
    assert early.iterations == 0 and early.spend.sum() == pytest.approx(1200.0)
    assert best.objective - early.objective > 0
    assert early.gap >= best.objective - early.objective
    # Hill curves with n < 1 have an infinite marginal at zero spend: nothing to spend is fine.
    steep = HillCurves([500.0, 300.0], [200.0, 100.0], [0.8, 0.6])
    nothing = plan_flighting(FlightingProblem(steep, 0.0, 2, theta=[0.3, 0.0]))
    assert np.all(nothing.spend == 0) and nothing.gap == 0
    with pytest.raises(EngineError, match="period 1"):
        FlightingProblem(curves, 1200.0, 3, period_min=[0, 500, 0], period_max=[900, 400, 900])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(1, 4))
def test_projection_and_best_vertex_are_exact(seed, size, groups):
    rng = np.random.default_rng(seed)
    count = size * groups
    lower = rng.uniform(0, 5, count)
    upper = lower + rng.uniform(0, 50, count)
    labels = np.repeat(np.arange(groups), size)
    member_low = np.bincount(labels, weights=lower, minlength=groups)
    member_high = np.bincount(labels, weights=upper, minlength=groups)
    group_low = member_low + rng.uniform(0, 0.5) * (member_high - member_low)
    group_high = group_low + rng.uniform(0.2, 1.0) * (member_high - group_low)
    total = float(group_low.sum() + rng.uniform(0, 1) * (group_high - group_low).sum())
    y = rng.normal(total / count, 20, count)
    x = project(y, lower, upper, labels, group_low, group_high, total)
    assert x.sum() == pytest.approx(total, rel=1e-12, abs=1e-9)
    assert np.all(x >= lower - 1e-12) and np.all(x <= upper + 1e-12)
    sums = np.bincount(labels, weights=x, minlength=groups)
    assert np.all(sums >= group_low - 1e-9) and np.all(sums <= group_high + 1e-9)
    # The projection's optimality: no feasible point makes an acute angle with y - x.
    gradient = rng.uniform(0, 1, count)
    vertex = best_vertex(gradient, lower, upper, labels, group_low, group_high, total)
    for point in (vertex, best_vertex(y - x, lower, upper, labels, group_low, group_high, total)):
        assert float((y - x) @ (point - x)) <= 1e-7 * (1 + float(np.abs(y).sum()))
    rows = np.equal.outer(np.arange(groups), labels).astype(float)
    lp = linprog(
        -gradient,
        A_ub=np.vstack([rows, -rows]),
        b_ub=np.concatenate([group_high, -group_low]),
        A_eq=np.ones((1, count)),
        b_eq=[total],
        bounds=np.column_stack([lower, upper]),
        method="highs",
    )
    assert lp.status == 0
    assert float(gradient @ vertex) == pytest.approx(-lp.fun, rel=1e-9, abs=1e-9)
