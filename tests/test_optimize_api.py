"""The curve-fit optimizer endpoints: /api/optimize/fit, /allocate, /plan (every backend).

Bad input is in tests/test_optimize_bad_input.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.fitting import adstock_series, make_curves

TRUE = {
    "search": ("negexp", {"alpha": 900.0, "mu": 0.002}, 0.0),
    "social": ("mm", {"vmax": 700.0, "k": 600.0}, 0.3),
}


def long_rows(days: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, (family, params, theta) in TRUE.items():
        spend = rng.uniform(50, 2500, days)
        clean = make_curves(family, params).true_response(adstock_series(spend, theta)[:, None])
        revenue = clean[:, 0] * (1 + 0.03 * rng.standard_normal(days))
        rows += [
            {
                "date": f"2024-{1 + day // 28:02d}-{1 + day % 28:02d}",
                "campaign": name,
                "spend": round(float(spend[day]), 2),
                "revenue": round(float(revenue[day]), 2),
            }
            for day in range(days)
        ]
    return rows


CURVES = [
    {"campaign": "a", "family": "negexp", "params": {"alpha": 1000, "mu": 0.002}, "current": 900},
    {"campaign": "b", "family": "mm", "params": {"vmax": 800, "k": 400}, "max": 700},
    {"campaign": "c", "family": "hill", "params": {"vmax": 600, "k": 300, "n": 1.8}, "min": 50},
]


@pytest.fixture
def fitted(client, tenant):
    response = client.post("/api/optimize/fit", json={"rows": long_rows()}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_fit_json_rows_answers_models_weights_and_grids(client, tenant, fitted):
    assert fitted["layout"] == "long" and fitted["metric"] == "revenue"
    by_name = {campaign["campaign"]: campaign for campaign in fitted["campaigns"]}
    assert set(by_name) == {"search", "social"}
    search = by_name["search"]
    assert set(search["models"]) == {"negexp", "mm", "hill", "local_slope"}
    assert sum(model["weight"] for model in search["models"].values()) == pytest.approx(1.0)
    assert search["models"]["negexp"]["params"]["alpha"] == pytest.approx(900, rel=0.15)
    assert search["models"]["negexp"]["holdout"]["points"] == 10
    assert len(search["ensemble"]["spend"]) == len(search["ensemble"]["marginal"])
    stored = client.get(f"/api/optimize/fits/{fitted['id']}", headers=tenant.headers)
    assert stored.status_code == 200 and stored.json() == fitted


def test_fit_is_private_to_its_tenant(client, fitted, other_tenant):
    assert (
        client.get(f"/api/optimize/fits/{fitted['id']}", headers=other_tenant.headers).status_code
        == 404
    )
    body = {"budget": 1000, "fit_id": fitted["id"]}
    answer = client.post("/api/optimize/allocate", json=body, headers=other_tenant.headers)
    assert answer.status_code == 404


def test_fit_csv_upload_in_seed_004_wide_format(client, tenant):
    lines = []
    for month in range(1, 13):
        spends = [100 * month, 50 + 20 * month, 40 + 5 * month]
        gmv = 2000 + 500 * np.log1p(sum(spends) / 100)
        lines.append(f"2023-{month:02d},{','.join(map(str, spends))},{sum(spends)},{gmv:.2f}")
    months = "\n".join(lines)
    text = "Month_Year,TV,Digital,SEM,Total Investment,gmv\n" + months
    response = client.post(
        "/api/optimize/fit",
        files={"file": ("monthly.csv", text.encode(), "text/csv")},
        data={"models": "negexp,mm", "adstock": "false", "holdout_share": "0.2"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["layout"] == "wide" and body["models"] == ["negexp", "mm"]
    assert [c["campaign"] for c in body["campaigns"]] == ["TV", "Digital", "SEM"]
    assert all(c["theta"] == 0.0 for c in body["campaigns"])


def test_allocate_inline_curves(client, tenant):
    body = {"budget": 2000, "curves": CURVES}
    response = client.post("/api/optimize/allocate", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    rows = {row["campaign"]: row for row in answer["allocation"]}
    assert answer["total_spend"] == pytest.approx(2000)
    assert sum(row["share"] for row in rows.values()) == pytest.approx(1)
    assert rows["b"]["spend"] <= 700 + 1e-6 and rows["c"]["spend"] >= 50 - 1e-6
    assert rows["a"]["change"] == pytest.approx(rows["a"]["spend"] - 900)
    assert rows["b"]["change"] is None
    assert answer["total_response"] == pytest.approx(sum(r["response"] for r in rows.values()))
    assert answer["scenario"] == "fixed_budget"


SCENARIOS = [
    ({"scenario": "flexible_budget", "target_mroi": 0.5}, lambda a: a["marginal_roi"] >= 0.5),
    ({"scenario": "target_efficiency", "target_roas": 1.2}, lambda a: a["roi"] >= 1.2 - 1e-6),
    ({"scenario": "target_efficiency", "target_cpa": 0.9}, lambda a: a["roi"] >= 1 / 0.9 - 1e-6),
    ({"capacity": 800}, lambda a: a["capacity_binding"] and a["total_response"] <= 800 + 1e-6),
    ({"objective": "net_profit", "scenario": "flexible_budget"}, lambda a: a["net_profit"] > 0),
]


def test_allocate_scenarios(client, tenant):
    for options, check in SCENARIOS:
        body = {"budget": 5000, "curves": CURVES, **options}
        response = client.post("/api/optimize/allocate", json=body, headers=tenant.headers)
        assert response.status_code == 200, (options, response.text)
        assert check(response.json()), options


def test_allocate_and_plan_from_a_stored_fit(client, tenant, fitted):
    body = {
        "budget": 3000,
        "fit_id": fitted["id"],
        "campaigns": {"social": {"max": 800, "current": 1500}},
    }
    response = client.post("/api/optimize/allocate", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    rows = {row["campaign"]: row for row in response.json()["allocation"]}
    assert rows["social"]["spend"] <= 800 + 1e-6
    assert rows["social"]["change"] == pytest.approx(rows["social"]["spend"] - 1500)
    assert response.json()["fit_id"] == fitted["id"]
    for model in ("negexp", "hill", "local_slope"):
        again = client.post(
            "/api/optimize/allocate",
            json={"budget": 3000, "fit_id": fitted["id"], "model": model},
            headers=tenant.headers,
        )
        assert again.status_code == 200, again.text
    planned = client.post(
        "/api/optimize/plan",
        json={"budgets": [2000, 3000, 1000], "fit_id": fitted["id"]},
        headers=tenant.headers,
    )
    assert planned.status_code == 200, planned.text
    plan = planned.json()
    assert len(plan["sequential"]["periods"]) == 3
    assert plan["total_response"]["static"] == pytest.approx(plan["static"]["total_response"])
    assert sum(plan["static"]["weights"].values()) == pytest.approx(1)


def test_plan_inline_curves_with_adstock(client, tenant):
    curves = [
        {**curve, "theta": theta} for curve, theta in zip(CURVES, (0.5, 0.0, 0.2), strict=True)
    ]
    response = client.post(
        "/api/optimize/plan",
        json={"budgets": [1500, 2500], "curves": curves},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    periods = response.json()["sequential"]["periods"]
    assert [sum(row["spend"] for row in p["allocation"]) for p in periods] == pytest.approx(
        [1500, 2500]
    )


def test_auth_scope_and_admin_tenant(client, make_tenant, admin_headers):
    assert (
        client.post("/api/optimize/allocate", json={"budget": 1, "curves": CURVES}).status_code
        == 401
    )
    no_read = make_tenant(scopes=("me",))
    response = client.post(
        "/api/optimize/allocate", json={"budget": 1000, "curves": CURVES}, headers=no_read.headers
    )
    assert response.status_code == 403
    as_admin = client.post(
        "/api/optimize/fit", json={"rows": long_rows(days=12)}, headers=admin_headers
    )
    assert as_admin.status_code == 422 and "client_id" in as_admin.json()["detail"]


def test_a_read_only_user_cannot_store_a_fit_but_allocates_and_plans(client, make_tenant):
    reader = make_tenant(scopes=("read",))
    refused = client.post(
        "/api/optimize/fit", json={"rows": long_rows(days=12)}, headers=reader.headers
    )
    assert refused.status_code == 403 and "write" in refused.json()["detail"]
    assert client.app.state.store.collection("fits").count({"client_id": reader.client_id}) == 0
    allocated = client.post(
        "/api/optimize/allocate", json={"budget": 1000, "curves": CURVES}, headers=reader.headers
    )
    planned = client.post(
        "/api/optimize/plan", json={"budgets": [1000], "curves": CURVES}, headers=reader.headers
    )
    assert (allocated.status_code, planned.status_code) == (200, 200)


def test_a_fit_whose_client_is_deleted_while_it_runs_is_not_stored(
    client, admin_headers, monkeypatch
):
    import routers.optimize

    acme = client.post(
        "/api/clients", json={"name": "Gone", "currency": "USD"}, headers=admin_headers
    )
    client_id = acme.json()["id"]
    fit_dataset = routers.optimize.fit_dataset

    def fit_then_delete_the_client(*args, **kwargs):
        result = fit_dataset(*args, **kwargs)
        assert client.delete(f"/api/clients/{client_id}", headers=admin_headers).status_code == 204
        return result

    monkeypatch.setattr(routers.optimize, "fit_dataset", fit_then_delete_the_client)
    response = client.post(
        "/api/optimize/fit",
        params={"client_id": client_id},
        json={"rows": long_rows(days=12)},
        headers=admin_headers,
    )
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "Client not found"
    assert client.app.state.store.collection("fits").count({"client_id": client_id}) == 0
