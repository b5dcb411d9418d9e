"""The allocator's newer fields over HTTP: logistic curves, groups, target_kpi, flighting plans
and initial_stock, with 422s for bad input."""

from __future__ import annotations

import pytest

# /allocate and /plan compute and store nothing: one backend checks them.
pytestmark = pytest.mark.parametrize("backend", ["mongomock"])

CURVES = [
    {"campaign": "search", "family": "negexp", "params": {"alpha": 1000, "mu": 0.002}},
    {"campaign": "meta", "family": "logistic", "params": {"beta": 900, "lam": 0.003}},
    {"campaign": "tiktok", "family": "logistic", "params": {"beta": 600, "lam": 0.004}},
    {"campaign": "tv", "family": "mm", "params": {"vmax": 700, "k": 500}},
]
SOCIAL = {"name": "social", "campaigns": ["meta", "tiktok"], "max_share": 0.3}


def allocate(client, tenant, **body):
    return client.post(
        "/api/optimize/allocate", json={"curves": CURVES, **body}, headers=tenant.headers
    )


def test_logistic_curves_and_a_group_share_are_honoured(client, tenant):
    free = allocate(client, tenant, budget=2000)
    assert free.status_code == 200, free.text
    spend = {row["campaign"]: row["spend"] for row in free.json()["allocation"]}
    assert spend["meta"] + spend["tiktok"] > 0.3 * 2000  # the cap below binds
    capped = allocate(client, tenant, budget=2000, groups=[SOCIAL])
    assert capped.status_code == 200, capped.text
    body = capped.json()
    spend = {row["campaign"]: row["spend"] for row in body["allocation"]}
    assert spend["meta"] + spend["tiktok"] == pytest.approx(600, rel=1e-9)
    assert body["total_spend"] == pytest.approx(2000, rel=1e-12)
    (group,) = body["groups"]
    assert group["name"] == "social" and group["binding"] == "max"
    assert group["share"] == pytest.approx(0.3, rel=1e-9)
    assert body["total_response"] < free.json()["total_response"]


def test_target_kpi_finds_the_least_spend_reaching_the_target(client, tenant):
    best = allocate(client, tenant, budget=1500).json()["total_response"]
    answer = allocate(client, tenant, budget=5000, scenario="target_kpi", target=best)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total_spend"] == pytest.approx(1500, rel=1e-7)
    assert answer.json()["total_response"] >= best * (1 - 1e-12)
    grouped = allocate(
        client, tenant, budget=5000, scenario="target_kpi", target=best, groups=[SOCIAL]
    )
    assert grouped.status_code == 200, grouped.text
    assert grouped.json()["total_spend"] > 1500  # the cap costs money
    share = grouped.json()["groups"][0]["share"]
    assert share <= 0.3 + 1e-9
    unreachable = allocate(client, tenant, budget=5000, scenario="target_kpi", target=1e6)
    assert unreachable.status_code == 422
    assert "the most this mix reaches" in unreachable.text
    missing = allocate(client, tenant, budget=5000, scenario="target_kpi")
    assert missing.status_code == 422 and "target" in missing.text


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([{"name": "x", "campaigns": ["nope"]}], "'nope' is not among the curves"),
        ([{"name": "x", "campaigns": ["meta"], "min": 5000}], "infeasible group(s) 'x'"),
        (
            [
                {"name": "a", "campaigns": ["meta"], "min_share": 0.7},
                {"name": "b", "campaigns": ["tv"], "min_share": 0.7},
            ],
            "infeasible groups 'a', 'b'",
        ),
        ([{"name": "x", "campaigns": ["meta"], "min": 10, "max": 5}], "min 10 exceeds max 5"),
        ([{"name": "x", "campaigns": ["meta"], "max_share": 1.5}], "max_share"),
        ([{"name": "x", "campaigns": ["meta"], "min": -1}], "min"),
        ([{"name": "x", "campaigns": ["meta"], "max": "NaN"}], "max"),
        ([{"name": "x", "campaigns": []}], "campaigns"),
        ([{"name": "a", "campaigns": ["meta"]}, {"name": "b", "campaigns": ["meta"]}], "overlap"),
    ],
)
def test_bad_groups_answer_422_naming_the_problem(client, tenant, groups, expected):
    answer = allocate(client, tenant, budget=2000, groups=groups)
    assert answer.status_code == 422, answer.text
    assert expected in answer.text


def test_bad_logistic_parameters_and_groups_outside_their_scenarios_answer_422(client, tenant):
    bad = [{"campaign": "m", "family": "logistic", "params": {"beta": 900, "lam": -1}}]
    answer = client.post(
        "/api/optimize/allocate", json={"curves": bad, "budget": 10}, headers=tenant.headers
    )
    assert answer.status_code == 422 and "'m'" in answer.text and "lam" in answer.text
    answer = allocate(client, tenant, budget=2000, scenario="flexible_budget", groups=[SOCIAL])
    assert answer.status_code == 422 and "groups apply" in answer.text
    answer = allocate(client, tenant, budget=2000, capacity=500, groups=[SOCIAL])
    assert answer.status_code == 422 and "capacity does not combine" in answer.text
    answer = allocate(client, tenant, budget=2000, capacity=500, scenario="target_kpi", target=9)
    assert answer.status_code == 422 and "capacity does not combine" in answer.text


PLAN_CURVES = [
    {"campaign": "search", "family": "negexp", "params": {"alpha": 1000, "mu": 0.002}},
    {"campaign": "tv", "family": "logistic", "params": {"beta": 1500, "lam": 0.002}, "theta": 0.6},
]


def plan(client, tenant, **body):
    return client.post(
        "/api/optimize/plan", json={"curves": PLAN_CURVES, **body}, headers=tenant.headers
    )


def test_flighting_chooses_the_split_of_a_total_within_period_bounds(client, tenant):
    answer = plan(
        client,
        tenant,
        total_budget=3000,
        periods=3,
        period_bounds=[{"min": 500}, {"max": 1500}, {}],
        initial_stock={"tv": 800},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    flighting = body["flighting"]
    budgets = [period["budget"] for period in flighting["periods"]]
    assert sum(budgets) == pytest.approx(3000, rel=1e-9)
    assert budgets[0] >= 500 - 1e-6 and budgets[1] <= 1500 + 1e-6
    assert flighting["optimality_gap"] <= 1e-6 * flighting["total_response"]
    # Joint choice of the split does at least as well as planning the even split.
    assert flighting["total_response"] >= body["total_response"]["sequential"] - 1e-6
    assert [p["budget"] for p in body["sequential"]["periods"]] == pytest.approx([1000] * 3)


def test_initial_stock_raises_the_first_periods_response(client, tenant):
    cold = plan(client, tenant, budgets=[1000, 1000]).json()
    warm = plan(client, tenant, budgets=[1000, 1000], initial_stock={"tv": 800}).json()
    first = [run["sequential"]["periods"][0]["response"] for run in (cold, warm)]
    assert first[1] > first[0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"total_budget": 3000}, "periods"),
        ({"total_budget": 3000, "budgets": [1000]}, "exactly one of budgets and total_budget"),
        ({"budgets": [1000], "periods": 2}, "go with total_budget"),
        ({"total_budget": 3000, "periods": 2, "period_bounds": [{}]}, "1 entries for 2"),
        (
            {"total_budget": 3000, "periods": 2, "period_bounds": [{"max": 100}, {"max": 100}]},
            "below the total",
        ),
        (
            {"total_budget": 3000, "periods": 2, "period_bounds": [{"min": 5, "max": 1}, {}]},
            "exceeds",
        ),
        ({"total_budget": -1, "periods": 2}, "total_budget"),
        ({"total_budget": "NaN", "periods": 2}, "total_budget"),
        ({"budgets": [1000], "initial_stock": {"radio": 5}}, "'radio'"),
        ({"budgets": [1000], "initial_stock": {"tv": -5}}, "initial_stock"),
    ],
)
def test_bad_plan_settings_answer_422(client, tenant, body, expected):
    answer = plan(client, tenant, **body)
    assert answer.status_code == 422, answer.text
    assert expected in answer.text


def test_groups_initial_stock_and_flighting_reach_a_stored_fit(client, tenant):
    from tests.test_optimize_api import long_rows

    fit = client.post("/api/optimize/fit", json={"rows": long_rows()}, headers=tenant.headers)
    assert fit.status_code == 201, fit.text
    fit_id = fit.json()["id"]
    body = {"fit_id": fit_id, "budget": 3000, "groups": [{"name": "g", "campaigns": ["social"]}]}
    body["groups"][0]["max"] = 500
    answer = client.post("/api/optimize/allocate", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    spend = {row["campaign"]: row["spend"] for row in answer.json()["allocation"]}
    assert spend["social"] <= 500 + 1e-6 and sum(spend.values()) == pytest.approx(3000)
    flighting = {"fit_id": fit_id, "total_budget": 4000, "periods": 2}
    answer = client.post(
        "/api/optimize/plan",
        json={**flighting, "initial_stock": {"social": 300}},
        headers=tenant.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["flighting"]["total_spend"] == pytest.approx(4000)
    unknown = client.post(
        "/api/optimize/plan",
        json={**flighting, "initial_stock": {"radio": 300}},
        headers=tenant.headers,
    )
    assert unknown.status_code == 422 and "'radio'" in unknown.text
