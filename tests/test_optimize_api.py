"""The curve-fit optimizer endpoints: /api/optimize/fit, /allocate, /plan (every backend)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.fitting import adstock_series, make_curves
from models.optimize import MAX_CURVES, MAX_GRID_POINTS
from routers.optimize import FORM_FIELDS

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


def bad_rows(**change):
    rows = long_rows(days=12)
    rows[3] = {**rows[3], **change}
    return rows


def extra_campaign(name: str, spends: list[float]) -> list[dict]:
    return long_rows(days=12) + [
        {"date": f"2024-02-{day + 1:02d}", "campaign": name, "spend": spend, "revenue": 3}
        for day, spend in enumerate(spends)
    ]


BAD_DATA = [
    (bad_rows(spend=-5), "campaign 'search' .*negative"),
    (bad_rows(spend="lots"), "campaign 'search' .*not a number"),
    (bad_rows(revenue=None), "campaign 'search' .*missing"),
    (extra_campaign("tiny", [5.0]), "'tiny': 1 observations"),
    (extra_campaign("zero", [0.0] * 5), "'zero': all spends are zero"),
    (
        [{**row, "currency": "EUR" if i else "USD"} for i, row in enumerate(long_rows(days=12))],
        "inconsistent units",
    ),
]


def test_bad_data_answers_422_naming_the_campaign(client, tenant):
    for rows, problem in BAD_DATA:
        response = client.post("/api/optimize/fit", json={"rows": rows}, headers=tenant.headers)
        assert response.status_code == 422, (problem, response.text)
        assert re.search(problem, response.json()["detail"]), response.json()


def test_bad_csv_upload_answers_422(client, tenant):
    text = b"date,campaign,spend,conversions\n2024-01-01,a,abc,1\n"
    response = client.post(
        "/api/optimize/fit", files={"file": ("x.csv", text, "text/csv")}, headers=tenant.headers
    )
    assert response.status_code == 422 and "campaign 'a'" in response.json()["detail"]
    missing = client.post("/api/optimize/fit", data={"models": "mm"}, headers={**tenant.headers})
    assert missing.status_code == 422


def test_non_finite_numbers_are_rejected(client, tenant):
    headers = {**tenant.headers, "Content-Type": "application/json"}
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        curve = b'{"campaign": "a", "family": "negexp", "params": {"alpha": %s, "mu": 0.1}}'
        raw = b'{"budget": 100, "curves": [%s]}' % (curve % literal)
        assert (
            client.post("/api/optimize/allocate", content=raw, headers=headers).status_code == 422
        )
        row = b'{"date": "2024-01-01", "campaign": "a", "spend": %s, "revenue": 1}' % literal
        raw = b'{"rows": [%s]}' % row
        assert client.post("/api/optimize/fit", content=raw, headers=headers).status_code == 422


def with_params(**params):
    return [{**CURVES[0], "params": params}]


BAD_SETTINGS = [
    (
        {
            "budget": 1000,
            "curves": [
                {**CURVES[0], "params": {"alpha": 1.5e308, "mu": 1}},
                {**CURVES[1], "params": {"vmax": 1.5e308, "k": 1}},
            ],
        },
        "overflow",
    ),
    ({"budget": 100, "curves": with_params(alpha=5, mu=-1)}, "'a': mu must be > 0"),
    ({"budget": 100, "curves": with_params(alpha=5)}, "'a'.*missing mu"),
    ({"budget": 10, "curves": CURVES}, "minimum spends"),
    ({"budget": 100, "curves": [CURVES[0], CURVES[0]]}, "'a' appears twice"),
    ({"budget": 100, "curves": CURVES, "scenario": "target_efficiency"}, "exactly one of"),
    (
        {"budget": 100, "curves": CURVES, "scenario": "target_efficiency", "target_roas": 99},
        "cannot be reached",
    ),
]


def test_bad_allocation_settings_answer_422_with_the_reason(client, tenant):
    for body, problem in BAD_SETTINGS:
        response = client.post("/api/optimize/allocate", json=body, headers=tenant.headers)
        assert response.status_code == 422, (problem, response.text)
        assert re.search(problem, str(response.json()["detail"])), response.json()


OVERSIZED_GRID = list(range(MAX_GRID_POINTS + 1))
MALFORMED = [
    {"budget": 100},
    {"budget": 100, "curves": CURVES, "fit_id": "abc"},
    {"budget": -1, "curves": CURVES},
    {"budget": 100, "curves": CURVES, "scenario": "max_roi"},
    {"budget": 100, "curves": [{**CURVES[0], "family": "spline"}]},
    {"budget": 100, "curves": [CURVES[0]] * (MAX_CURVES + 1)},
    {
        "budget": 100,
        "curves": [
            {
                **CURVES[0],
                "family": "ensemble",
                "params": {"spend": OVERSIZED_GRID, "marginal": OVERSIZED_GRID[::-1]},
            }
        ],
    },
]


def test_malformed_or_oversized_requests_answer_422(client, tenant):
    for body in MALFORMED:
        response = client.post("/api/optimize/allocate", json=body, headers=tenant.headers)
        assert response.status_code == 422, str(body)[:200]


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


def _csv(rows: list[dict]) -> bytes:
    header = "date,campaign,spend,revenue\n"
    lines = [f"{r['date']},{r['campaign']},{r['spend']},{r['revenue']}" for r in rows]
    return (header + "\n".join(lines)).encode()


def test_a_model_named_twice_answers_422_naming_the_field_and_stores_nothing(client, tenant):
    rows = long_rows(days=12)
    as_json = client.post(
        "/api/optimize/fit",
        json={"rows": rows, "models": ["negexp", "negexp"]},
        headers=tenant.headers,
    )
    as_form = client.post(
        "/api/optimize/fit",
        files={"file": ("data.csv", _csv(rows), "text/csv")},
        data={"models": "hill,negexp,hill"},
        headers=tenant.headers,
    )
    for response, repeated in ((as_json, "negexp"), (as_form, "hill")):
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert "models" in error["loc"] and repeated in error["msg"], error
    assert client.app.state.store.collection("fits").count({"client_id": tenant.client_id}) == 0


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


def test_a_form_over_its_field_limit_answers_a_documented_422(client, tenant):
    fields = {name: "x" for name in (*FORM_FIELDS, "extra")}
    response = client.post(
        "/api/optimize/fit",
        files={"file": ("data.csv", _csv(long_rows(days=12)), "text/csv")},
        data=fields,
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    assert "Too many fields" in response.json()["detail"]
    assert "spend_ranges" in response.json()["detail"]
    documented = client.get("/api/openapi.json").json()["paths"]["/api/optimize/fit"]["post"]
    assert "422" in documented["responses"]


def test_min_above_max_answers_422_locating_the_campaign_in_the_body(client, tenant):
    bounds = {"min": 50, "max": 10}
    inverted = {**CURVES[1], "campaign": "social", **bounds}
    requests = [
        ("allocate", {"budget": 100, "curves": [{**CURVES[0], "campaign": "1"}, inverted]}),
        ("plan", {"budgets": [100], "curves": [CURVES[0], inverted]}),
        ("allocate", {"budget": 100, "fit_id": "any", "campaigns": {"social": bounds}}),
    ]
    places = [["body", "curves", 1], ["body", "curves", 1], ["body", "campaigns", "social"]]
    for (route, body), place in zip(requests, places, strict=True):
        response = client.post(f"/api/optimize/{route}", json=body, headers=tenant.headers)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == place, error
        assert "min 50 exceeds max 10" in error["msg"], error
        assert "'social'" in error["msg"] or place[-1] == "social", error


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
