"""Budget scenarios, capacity and net profit: checked against their definitions and SLSQP."""

import numpy as np
import pytest
from scipy.optimize import minimize

from engine.errors import EngineError
from engine.grid_curves import GridCurves
from engine.response import NegExpCurves
from engine.scenarios import optimize_allocation
from engine.specs import curves_from_specs

CURVES = NegExpCurves(np.array([1000.0, 800.0, 500.0]), np.array([0.002, 0.004, 0.01]))
NAMES = ["search", "social", "video"]


def spends(report):
    return np.array([row["spend"] for row in report["allocation"]])


def slsqp(objective, constraints, size=3, upper=5000.0):
    """Best feasible SLSQP answer over a few starts (its success flag is too strict here)."""
    best = None
    for start in np.random.default_rng(3).uniform(10, 500, (5, size)):
        result = minimize(
            objective,
            start,
            bounds=[(0, upper)] * size,
            constraints=constraints,
            method="SLSQP",
            options={"maxiter": 500, "ftol": 1e-12},
        )
        feasible = all(constraint["fun"](result.x) >= -1e-6 for constraint in constraints)
        if feasible and (best is None or result.fun < best.fun):
            best = result
    assert best is not None, "SLSQP found no feasible answer"
    return best


def test_fixed_budget_report_has_every_field():
    report = optimize_allocation(CURVES, 2000.0, current=[500, 500, 1000], names=NAMES)
    rows = report["allocation"]
    assert [row["campaign"] for row in rows] == NAMES
    assert report["total_spend"] == pytest.approx(2000.0)
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    for row, current in zip(rows, [500, 500, 1000], strict=True):
        assert row["change"] == pytest.approx(row["spend"] - current)
        assert row["roi"] == pytest.approx(row["response"] / row["spend"])
        assert row["mroi"] == pytest.approx(report["marginal_roi"], rel=1e-6)
    assert report["total_response"] == pytest.approx(sum(row["response"] for row in rows))


def test_zero_spend_has_no_roi_and_no_current_means_no_change():
    curves = NegExpCurves(np.array([1000.0, 10.0]), np.array([0.01, 0.001]))
    rows = optimize_allocation(curves, 50.0)["allocation"]
    assert rows[1]["spend"] == 0.0 and rows[1]["roi"] is None
    assert all(row["change"] is None for row in rows)


def test_flexible_budget_stops_at_the_target_marginal_roi():
    report = optimize_allocation(CURVES, 5000.0, "flexible_budget", target_mroi=0.5)
    assert report["total_spend"] < 5000.0
    np.testing.assert_allclose([row["mroi"] for row in report["allocation"]], 0.5, rtol=1e-9)
    tight = optimize_allocation(CURVES, 500.0, "flexible_budget", target_mroi=0.5)
    assert tight["total_spend"] == pytest.approx(500.0)
    assert tight["marginal_roi"] > 0.5


def test_flexible_net_profit_stops_where_the_next_unit_no_longer_pays():
    values = np.array([2.0, 1.0, 0.5])
    report = optimize_allocation(
        CURVES, 1e5, "flexible_budget", objective="net_profit", values=values
    )
    reference = slsqp(lambda x: -(values * CURVES.response(x)).sum() + x.sum(), [])
    assert report["net_profit"] >= -reference.fun - 1e-6
    funded = spends(report) > 0
    np.testing.assert_allclose(values[funded] * CURVES.marginal(spends(report)[funded]), 1.0)


@pytest.mark.parametrize(("target", "key"), [(1.5, "target_roas"), (0.8, "target_cpa")])
def test_target_efficiency_is_the_most_response_meeting_the_target(target, key):
    report = optimize_allocation(CURVES, 1e5, "target_efficiency", **{key: target})
    spend = report["total_spend"]
    ratio = report["total_response"] / spend
    achieved = ratio if key == "target_roas" else 1 / ratio
    assert achieved == pytest.approx(target, rel=1e-6)
    floor = target if key == "target_roas" else 1 / target
    reference = slsqp(
        lambda x: -CURVES.response(x).sum(),
        [{"type": "ineq", "fun": lambda x: CURVES.response(x).sum() - floor * x.sum()}],
    )
    assert report["total_response"] >= -reference.fun - 1e-4


def test_a_cpa_target_ignores_values_on_its_path_but_reports_them():
    """Each acquisition counts alike for a CPA target, so the values do not move the spend;
    the report still values the responses at the client's values."""
    values = np.array([5.0, 2.0, 9.0])
    plain = optimize_allocation(CURVES, 1e5, "target_efficiency", target_cpa=0.8)
    valued = optimize_allocation(CURVES, 1e5, "target_efficiency", target_cpa=0.8, values=values)
    np.testing.assert_allclose(spends(valued), spends(plain))
    responses = np.array([row["response"] for row in valued["allocation"]])
    assert valued["total_value"] == pytest.approx(float(values @ responses))
    assert valued["roi"] == pytest.approx(valued["total_value"] / valued["total_spend"])
    assert valued["net_profit"] == pytest.approx(valued["total_value"] - valued["total_spend"])
    marginal = CURVES.marginal(spends(valued))
    np.testing.assert_allclose([row["mroi"] for row in valued["allocation"]], values * marginal)
    assert valued["marginal_roi"] is None
    assert plain["marginal_roi"] == pytest.approx(float(marginal[0]))


@pytest.mark.parametrize("objective", ["response", "net_profit"])
def test_a_capacity_is_met_by_the_curves_themselves_around_an_s_curve(objective):
    """The capacity met on an S-curve's envelope left it partway up its straight stretch,
    responding less: capacity_binding said true at 7,654 of 8,000 (and 7,065 for net
    profit). Leaving the S-curve out reaches 8,000 at the least spend, and nets the most."""
    names, curves = curves_from_specs(
        [
            {"campaign": "search", "family": "negexp", "params": {"alpha": 9000, "mu": 0.0004}},
            {"campaign": "social", "family": "hill", "params": {"vmax": 7000, "k": 3000, "n": 1.8}},
            {"campaign": "display", "family": "mm", "params": {"vmax": 3000, "k": 2000}},
        ]
    )
    report = optimize_allocation(
        curves,
        10_000.0,
        objective=objective,
        values=np.full(3, 3.0),
        lower=np.array([0.0, 0.0, 1000.0]),
        upper=np.array([6000.0, np.inf, np.inf]),
        capacity=8000.0,
        names=names,
    )
    search = -np.log(1 - 7000 / 9000) / 0.0004  # display's minimum responds 1,000
    assert report["capacity_binding"] is True
    assert report["total_response"] == pytest.approx(8000.0)
    np.testing.assert_allclose(spends(report), [search, 0.0, 1000.0], rtol=1e-6, atol=1e-6)
    assert report["net_profit"] == pytest.approx(3 * 8000.0 - search - 1000.0)


def test_equal_s_curves_are_funded_in_turn_under_a_capacity():
    """Twenty equal S-curves, each profitable past its tangent point (66.7 response for 63 of
    spend, worth 3 a unit), under a capacity of 660: nine are funded at their tangent points
    (600) and the rest left out; the envelope's answer funded none."""
    names, curves = curves_from_specs(
        [
            {"campaign": f"c{i}", "family": "hill", "params": {"vmax": 100, "k": 50, "n": 3}}
            for i in range(20)
        ]
    )
    report = optimize_allocation(
        curves,
        1200.0,
        "flexible_budget",
        objective="net_profit",
        values=np.full(20, 3.0),
        capacity=660.0,
        names=names,
    )
    spend = spends(report)
    tangent = 50.0 * 2.0 ** (1 / 3)
    assert np.count_nonzero(spend > 0) == 9
    np.testing.assert_allclose(spend[spend > 0], tangent, rtol=1e-6)
    assert report["total_response"] == pytest.approx(600.0)
    assert report["net_profit"] == pytest.approx(1800.0 - 9 * tangent)


def test_equal_s_curves_leave_at_most_one_partway_up_its_stretch():
    names, curves = curves_from_specs(
        [
            {"campaign": f"c{i}", "family": "hill", "params": {"vmax": 100, "k": 50, "n": 3}}
            for i in range(200)
        ]
    )
    spend = spends(optimize_allocation(curves, 15.0 * 200, names=names))
    tangent = 50.0 * 2.0 ** (1 / 3)
    assert spend.sum() == pytest.approx(3000.0)
    assert np.count_nonzero((spend > 1e-9) & (spend < tangent * (1 - 1e-6))) <= 1


def test_target_efficiency_respects_the_budget_ceiling():
    report = optimize_allocation(CURVES, 300.0, "target_efficiency", target_roas=1.5)
    assert report["total_spend"] == pytest.approx(300.0)
    assert report["roi"] > 1.5


def test_unreachable_target_says_what_is_reachable():
    with pytest.raises(EngineError, match="target ROAS 50 cannot be reached"):
        optimize_allocation(CURVES, 1000.0, "target_efficiency", target_roas=50.0)


def test_capacity_on_response_takes_the_least_spend_reaching_it():
    report = optimize_allocation(CURVES, 2000.0, capacity=1000.0)
    assert report["capacity_binding"]
    assert report["total_response"] == pytest.approx(1000.0, rel=1e-9)
    reference = slsqp(
        lambda x: x.sum(), [{"type": "ineq", "fun": lambda x: CURVES.response(x).sum() - 1000.0}]
    )
    assert report["total_spend"] <= reference.fun + 1e-4


def test_capacity_with_net_profit_matches_slsqp():
    values = np.array([3.0, 2.0, 1.0])
    report = optimize_allocation(
        CURVES, 2000.0, objective="net_profit", values=values, capacity=1000.0
    )
    assert report["capacity_binding"]
    assert report["total_response"] <= 1000.0 * (1 + 1e-9)
    reference = slsqp(
        lambda x: -(values * CURVES.response(x)).sum() + x.sum(),
        [
            {"type": "ineq", "fun": lambda x: 1000.0 - CURVES.response(x).sum()},
            {"type": "ineq", "fun": lambda x: 2000.0 - x.sum()},
        ],
    )
    assert report["net_profit"] >= -reference.fun - 1e-4


def test_capacity_not_reached_changes_nothing():
    plain = optimize_allocation(CURVES, 500.0)
    capped = optimize_allocation(CURVES, 500.0, capacity=1e6)
    assert not capped["capacity_binding"]
    np.testing.assert_allclose(spends(capped), spends(plain))


def test_capacity_on_grid_curves_is_met_exactly():
    grid = GridCurves(
        np.array([[0, 10, 20, 40.0]] * 2), np.array([[0, 10, 15, 20.0], [0, 8, 12, 14.0]])
    )
    report = optimize_allocation(grid, 60.0, capacity=25.0)
    assert report["total_response"] == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"scenario": "max_roi"}, "unknown scenario"),
        ({"objective": "clicks"}, "unknown objective"),
        ({"scenario": "flexible_budget"}, "needs target_mroi"),
        ({"scenario": "target_efficiency"}, "exactly one of"),
        ({"scenario": "target_efficiency", "target_roas": 1, "target_cpa": 2}, "exactly one of"),
        ({"capacity": -1.0}, "capacity"),
        ({"target_mroi": float("nan"), "scenario": "flexible_budget"}, "target_mroi"),
        ({"lower": [900, 900, 900]}, "minimum spends"),
        ({"values": [1, -1, 1]}, "values"),
        ({"names": ["a"]}, "one name per campaign"),
        ({"current": [1, np.inf, 1]}, "current"),
        ({"capacity": 1.0, "lower": [100, 0, 0]}, "exceed the capacity"),
    ],
)
def test_bad_settings_are_engine_errors(kwargs, problem):
    with pytest.raises(EngineError, match=problem):
        optimize_allocation(CURVES, 1000.0, **kwargs)


def test_an_unreachable_cpa_is_answered_with_the_best_reachable_cpa():
    """0.1 conversions for the first unit of spend at best: a CPA of 10, not its inverse."""
    single = NegExpCurves(np.array([100.0]), np.array([0.001]))
    with pytest.raises(
        EngineError, match=r"target CPA 5 cannot be reached: the best CPA this mix achieves is 10$"
    ):
        optimize_allocation(single, 1000.0, "target_efficiency", target_cpa=5.0)


@pytest.mark.parametrize(("key", "metric"), [("target_roas", "ROAS"), ("target_cpa", "CPA")])
def test_the_best_reachable_figure_is_where_targets_stop_being_reachable(key, metric):
    """With a minimum spend held on one campaign, the best ratio needs spend on the others:
    a target a hair better than the reported best is refused, a hair worse is met."""
    lower = np.array([2000.0, 0.0, 0.0])
    impossible = {"target_roas": 10.0, "target_cpa": 0.1}[key]
    with pytest.raises(EngineError, match=f"the best {metric} this mix achieves is") as error:
        optimize_allocation(CURVES, 5000.0, "target_efficiency", lower=lower, **{key: impossible})
    best = float(str(error.value).rsplit(" ", 1)[-1])
    better, worse = (
        (best * 1.001, best * 0.999) if metric == "ROAS" else (best * 0.999, best * 1.001)
    )
    with pytest.raises(EngineError, match="cannot be reached"):
        optimize_allocation(CURVES, 5000.0, "target_efficiency", lower=lower, **{key: better})
    report = optimize_allocation(CURVES, 5000.0, "target_efficiency", lower=lower, **{key: worse})
    assert report["total_spend"] > lower.sum()
