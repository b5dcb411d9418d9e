"""Invalid input answers a JSON 4xx and stores nothing: NaN and infinities, unknown fields
and wrong shapes.

NaN and infinities are sent as raw JSON literals (b'{"budget": NaN}'), the way a careless
client's JSON encoder writes them; Python's json module reads them as floats.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import USER_PASSWORD
from tests.request_helpers import _campaign, _raw, _state

NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"]


def _total(client: TestClient, path: str, headers: dict) -> int:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["total"]


# --- NaN and infinities ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        {"name": "ucb", "params": {"c": 10**400}},
        {"name": "curve", "params": {"grid_size": 10**30}},
        {"name": "rps", "params": {"lookback": 2**64}},
    ],
)
def test_policy_parameters_beyond_any_number_answer_422_and_store_nothing(client, tenant, policy):
    ids = [_campaign(client, tenant.headers, n) for n in ("A", "B")]
    body = {"campaign_ids": ids, "budget": 1000, "policy": policy}
    response = client.post("/api/states", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert _total(client, "/api/states", tenant.headers) == 0


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_campaign_budgets_answer_422_and_store_nothing(client, tenant, literal):
    for field in (b"min_budget", b"max_budget"):
        body = b'{"name": "Search", "platform": "google", "%s": %s}' % (field, literal)
        response = _raw(client, "POST", "/api/campaigns", body, tenant.headers)
        assert response.status_code == 422, (field, response.text)
        assert json.loads(response.text)["detail"]
    assert _total(client, "/api/campaigns", tenant.headers) == 0


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_state_numbers_answer_422_and_store_nothing(client, tenant, literal):
    ids = json.dumps([_campaign(client, tenant.headers, n) for n in ("A", "B")]).encode()
    for field in (b"budget", b"step", b"floor", b"timestep_hours"):
        values = {b"budget": b"1000", field: literal}
        fields = b", ".join(b'"%s": %s' % item for item in values.items())
        body = b'{"campaign_ids": %s, %s}' % (ids, fields)
        response = _raw(client, "POST", "/api/states", body, tenant.headers)
        assert response.status_code == 422, (field, response.text)
    assert _total(client, "/api/states", tenant.headers) == 0


def test_non_finite_metrics_answer_422_and_record_nothing(client, tenant):
    campaigns = [_campaign(client, tenant.headers, n) for n in ("A", "B")]
    state = _state(client, tenant.headers, campaigns)
    before = client.get(f"/api/states/{state}/metrics", headers=tenant.headers).json()
    for literal in NON_FINITE:
        for field in (b"spend", b"revenue", b"clicks"):
            body = b'{"timestep": 0, "metrics": [{"campaign_id": "%s", "spend": 1, "%s": %s}]}' % (
                campaigns[0].encode(),
                field,
                literal,
            )
            response = _raw(client, "POST", f"/api/states/{state}/metrics", body, tenant.headers)
            assert response.status_code == 422, (field, literal, response.text)
    assert client.get(f"/api/states/{state}/metrics", headers=tenant.headers).json() == before


def test_non_finite_prices_answer_422(client, tenant):
    for literal in NON_FINITE:
        body = b'{"prices_a": [1.0, %s], "prices_b": [1.3, 1.2]}' % literal
        response = _raw(client, "POST", "/api/allocate", body, tenant.headers)
        assert response.status_code == 422, literal


def test_the_422_answer_echoing_a_nan_is_valid_json(client, admin_headers):
    response = _raw(client, "POST", "/api/clients", b'{"name": NaN}', admin_headers)
    assert response.status_code == 422
    assert b"NaN" not in response.content
    detail = json.loads(response.content)["detail"]
    assert detail[0]["loc"] == ["body", "name"]


# --- unknown fields, wrong shapes -----------------------------------------------------------


def test_unknown_fields_in_create_bodies_answer_422_and_store_nothing(
    client, admin_headers, tenant
):
    campaigns = [_campaign(client, tenant.headers, n) for n in ("A", "B")]
    creations = [
        ("/api/clients", {"name": "Acme"}, admin_headers, "/api/clients", 1),
        (
            "/api/users",
            {"username": "frank", "password": USER_PASSWORD, "client_id": tenant.client_id},
            admin_headers,
            "/api/users",
            2,
        ),
        (
            "/api/campaigns",
            {"name": "C", "platform": "google"},
            tenant.headers,
            "/api/campaigns",
            2,
        ),
        (
            "/api/states",
            {"campaign_ids": campaigns, "budget": 10},
            tenant.headers,
            "/api/states",
            0,
        ),
    ]
    for path, body, headers, listing, total in creations:
        for extra in ({"color": "red"}, {"client_id": "someone-else"}, {"_id": "chosen"}):
            if set(extra) <= set(body):
                continue
            response = client.post(path, json={**body, **extra}, headers=headers)
            assert response.status_code == 422, (path, extra, response.text)
        assert _total(client, listing, headers) == total, path
    credential = client.post(
        "/api/users/me/credentials", json={"scopes": ["admin"]}, headers=tenant.headers
    )
    assert credential.status_code == 422
    assert client.get("/api/users/me/credentials", headers=tenant.headers).json()["items"] == []


def test_query_operators_in_bodies_are_refused_not_run(client, admin_headers, tenant):
    for path, body, headers in [
        ("/api/clients", {"name": {"$gt": ""}}, admin_headers),
        ("/api/users", {"username": {"$ne": None}, "password": USER_PASSWORD}, admin_headers),
        ("/api/campaigns", {"name": {"$ne": ""}, "platform": "google"}, tenant.headers),
    ]:
        assert client.post(path, json=body, headers=headers).status_code == 422, path
    response = client.post(
        "/api/auth/token", data={"username": '{"$ne": null}', "password": '{"$ne": null}'}
    )
    assert response.status_code == 401


def test_bodies_that_are_not_json_objects_answer_422(client, admin_headers):
    for body in [b"", b"null", b"[]", b'"Acme"', b"42", b"{", b"\xff\xfe", b'{"name": "A"} x']:
        response = _raw(client, "POST", "/api/clients", body, admin_headers)
        assert response.status_code == 422, body
    assert _total(client, "/api/clients", admin_headers) == 0


def test_deeply_nested_json_answers_400_not_500(client, admin_headers):
    body = b"[" * 100_000 + b"]" * 100_000
    response = _raw(client, "POST", "/api/clients", body, admin_headers)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


def test_unknown_routes_and_methods_answer_json(client, admin_headers):
    missing = client.get("/api/nothing-here", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = client.put("/api/clients", json={}, headers=admin_headers)
    assert wrong.status_code == 405
    assert "detail" in wrong.json()


def test_a_nan_budget_is_refused_as_not_finite(client, tenant):
    body = b'{"name": "N", "platform": "meta", "max_budget": NaN}'
    response = _raw(client, "POST", "/api/campaigns", body, tenant.headers)
    assert response.status_code == 422
    assert [error["type"] for error in response.json()["detail"]] == ["finite_number"]
