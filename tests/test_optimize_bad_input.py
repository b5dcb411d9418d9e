"""The curve-fit optimizer endpoints on bad input: 422 naming what is wrong, nothing stored.

Data, uploads, settings and requests, on every backend.
"""

from __future__ import annotations

import re

from models.optimize import MAX_CURVES, MAX_GRID_POINTS
from routers.optimize import FORM_FIELDS
from tests.test_optimize_api import CURVES, long_rows


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
