"""Clients (tenants): admin-only CRUD, validation, pagination and deletion guards."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, credential_login

CLIENTS = "/api/clients"
CLIENT_FIELDS = {"id", "name", "currency", "timezone", "created_at", "updated_at"}


def _create(client: TestClient, headers: dict, **fields):
    return client.post(CLIENTS, json={"name": "Acme", **fields}, headers=headers)


def _names(client: TestClient, headers: dict) -> list[str]:
    return [c["name"] for c in client.get(CLIENTS, headers=headers).json()["items"]]


def test_create_read_update_delete(client, admin_headers):
    created = _create(client, admin_headers, currency="USD", timezone="America/New_York")
    assert created.status_code == 201
    acme = created.json()
    assert set(acme) == CLIENT_FIELDS
    assert (acme["name"], acme["currency"], acme["timezone"]) == ("Acme", "USD", "America/New_York")
    assert client.get(f"{CLIENTS}/{acme['id']}", headers=admin_headers).json() == acme

    patched = client.patch(
        f"{CLIENTS}/{acme['id']}",
        json={"name": "Acme Corp", "timezone": "Europe/Paris"},
        headers=admin_headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["name"], body["currency"], body["timezone"]) == (
        "Acme Corp",
        "USD",
        "Europe/Paris",
    )
    assert body["created_at"] == acme["created_at"]
    assert body["updated_at"] >= acme["updated_at"]
    assert client.get(f"{CLIENTS}/{acme['id']}", headers=admin_headers).json() == body

    assert client.delete(f"{CLIENTS}/{acme['id']}", headers=admin_headers).status_code == 204
    assert client.get(f"{CLIENTS}/{acme['id']}", headers=admin_headers).status_code == 404
    assert _names(client, admin_headers) == []


def test_defaults_are_euro_and_utc(client, admin_headers):
    body = _create(client, admin_headers).json()
    assert (body["currency"], body["timezone"]) == ("EUR", "UTC")


def test_an_empty_patch_changes_nothing_but_a_null_field_keeps_its_value(client, admin_headers):
    acme = _create(client, admin_headers, currency="GBP").json()
    for body in ({}, {"currency": None}):
        patched = client.patch(f"{CLIENTS}/{acme['id']}", json=body, headers=admin_headers)
        assert patched.status_code == 200
        assert patched.json()["currency"] == "GBP"


def test_duplicate_names_answer_409(client, admin_headers):
    assert _create(client, admin_headers).status_code == 201
    duplicate = _create(client, admin_headers, currency="USD")
    assert duplicate.status_code == 409
    assert "Acme" in duplicate.json()["detail"]
    globex = _create(client, admin_headers, name="Globex").json()
    renamed = client.patch(
        f"{CLIENTS}/{globex['id']}", json={"name": "Acme"}, headers=admin_headers
    )
    assert renamed.status_code == 409
    assert _names(client, admin_headers) == ["Acme", "Globex"]


def test_currency_and_timezone_are_validated(client, admin_headers):
    for fields in [
        {"currency": "eur"},
        {"currency": "EURO"},
        {"currency": "E1R"},
        {"currency": ""},
        {"currency": 978},
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": ""},
        {"timezone": "localtime"},
        {"timezone": "../../etc/passwd"},
        {"timezone": "/etc/localtime"},
        {"timezone": "Europe/Paris\x00"},
        {"timezone": "x" * 5000},
        {"timezone": None},
    ]:
        response = _create(client, admin_headers, **fields)
        assert response.status_code == 422, (fields, response.text)
    for zone in ["Europe/Paris", "Asia/Kolkata", "Etc/GMT+5", "UTC"]:
        response = _create(client, admin_headers, name=zone, timezone=zone)
        assert response.status_code == 201, zone
    assert len(_names(client, admin_headers)) == 4


def test_bad_bodies_answer_422_and_store_nothing(client, admin_headers):
    for body in [
        {"name": ""},
        {"name": "x" * 201},
        {"name": None},
        {"name": ["Acme"]},
        {"name": "Acme", "budget": 100},
        {"name": "Acme", "id": "chosen-id"},
        {"currency": "EUR"},
    ]:
        response = client.post(CLIENTS, json=body, headers=admin_headers)
        assert response.status_code == 422, body
    assert client.post(CLIENTS, json=[{"name": "Acme"}], headers=admin_headers).status_code == 422
    assert _names(client, admin_headers) == []


def test_bad_updates_answer_422_and_change_nothing(client, admin_headers):
    acme = _create(client, admin_headers).json()
    for body in [{"name": ""}, {"currency": "usd"}, {"timezone": "Nowhere"}, {"owner": "me"}]:
        response = client.patch(f"{CLIENTS}/{acme['id']}", json=body, headers=admin_headers)
        assert response.status_code == 422, body
    assert client.get(f"{CLIENTS}/{acme['id']}", headers=admin_headers).json() == acme


def test_unknown_id_answers_404(client, admin_headers):
    for method, body in [("GET", None), ("PATCH", {"name": "X"}), ("DELETE", None)]:
        response = client.request(method, f"{CLIENTS}/no-such-id", json=body, headers=admin_headers)
        assert response.status_code == 404, method
        assert response.json() == {"detail": "Client not found"}


def test_list_is_sorted_by_name_and_paginated(client, admin_headers):
    for name in ["Delta", "Alpha", "Echo", "Charlie", "Bravo"]:
        assert _create(client, admin_headers, name=name).status_code == 201
    page = client.get(f"{CLIENTS}?limit=2&offset=2", headers=admin_headers).json()
    assert [c["name"] for c in page["items"]] == ["Charlie", "Delta"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 2)
    assert client.get(f"{CLIENTS}?offset=5", headers=admin_headers).json()["items"] == []
    for query in ["limit=0", "limit=501", "offset=-1"]:
        assert client.get(f"{CLIENTS}?{query}", headers=admin_headers).status_code == 422


def test_a_client_with_users_cannot_be_deleted(client, admin_headers, tenant):
    response = client.delete(f"{CLIENTS}/{tenant.client_id}", headers=admin_headers)
    assert response.status_code == 409
    assert "users" in response.json()["detail"]
    assert client.get(f"{CLIENTS}/{tenant.client_id}", headers=admin_headers).status_code == 200
    assert client.delete(f"/api/users/{tenant.username}", headers=admin_headers).status_code == 204
    assert client.delete(f"{CLIENTS}/{tenant.client_id}", headers=admin_headers).status_code == 204


def test_a_client_with_campaigns_cannot_be_deleted(client, admin_headers):
    acme = _create(client, admin_headers).json()["id"]
    made = client.post(
        f"/api/campaigns?client_id={acme}",
        json={"name": "Search", "platform": "google"},
        headers=admin_headers,
    )
    assert made.status_code == 201, made.text
    response = client.delete(f"{CLIENTS}/{acme}", headers=admin_headers)
    assert response.status_code == 409
    assert "campaigns" in response.json()["detail"]
    campaign = made.json()["id"]
    gone = client.delete(f"/api/campaigns/{campaign}?client_id={acme}", headers=admin_headers)
    assert gone.status_code == 204
    assert client.delete(f"{CLIENTS}/{acme}", headers=admin_headers).status_code == 204


def test_deleting_a_client_deletes_its_curve_fits(client, admin_headers, tenant, other_tenant):
    rows = [
        {"date": f"2024-01-{day:02d}", "campaign": name, "spend": spend, "revenue": 3 * spend}
        for day in range(1, 15)
        for name, spend in (("search", 40 + 7 * day), ("social", 90 - 3 * day))
    ]
    fits = {}
    for owner in (tenant, other_tenant):
        made = client.post("/api/optimize/fit", json={"rows": rows}, headers=owner.headers)
        assert made.status_code == 201, made.text
        fits[owner.client_id] = made.json()["id"]
    assert client.delete(f"/api/users/{tenant.username}", headers=admin_headers).status_code == 204
    assert client.delete(f"{CLIENTS}/{tenant.client_id}", headers=admin_headers).status_code == 204
    stored = client.app.state.store.collection("fits")
    assert stored.count({"client_id": tenant.client_id}) == 0
    assert stored.count({"_id": fits[tenant.client_id]}) == 0
    kept = client.get(
        f"/api/optimize/fits/{fits[other_tenant.client_id]}", headers=other_tenant.headers
    )
    assert kept.status_code == 200


def test_client_routes_are_admin_only(client, make_tenant):
    everything = make_tenant(scopes=("read", "write", "me", "api", "cron"))
    own = everything.client_id
    for method, path, body in [
        ("GET", CLIENTS, None),
        ("POST", CLIENTS, {"name": "Mine"}),
        ("GET", f"{CLIENTS}/{own}", None),
        ("PATCH", f"{CLIENTS}/{own}", {"name": "Renamed"}),
        ("DELETE", f"{CLIENTS}/{own}", None),
    ]:
        response = client.request(method, path, json=body, headers=everything.headers)
        assert response.status_code == 403, (method, path)
    for method, path in [("GET", CLIENTS), ("POST", CLIENTS), ("GET", f"{CLIENTS}/{own}")]:
        assert client.request(method, path).status_code == 401


def _bearer(response) -> dict:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_an_admin_narrowed_to_read_lists_and_reads_clients_but_changes_none(
    client, admin_headers, tenant
):
    """GET /users/me tells such a token is_admin (it acts on every client), so a dashboard
    offers it the client picker: the picker's calls must answer."""
    credential = client.post(
        "/api/users/me/credentials", json={"scopes": ["read"]}, headers=admin_headers
    ).json()
    by_credential = _bearer(
        credential_login(client, credential["client_id"], credential["client_secret"])
    )
    by_password = _bearer(
        client.post(
            "/api/auth/token",
            data={"username": "admin", "password": ADMIN_PASSWORD, "scope": "read"},
        )
    )
    everything = client.get(CLIENTS, headers=admin_headers).json()
    one = client.get(f"{CLIENTS}/{tenant.client_id}", headers=admin_headers).json()
    for headers in (by_credential, by_password):
        assert client.get("/api/users/me", headers=headers).json()["is_admin"] is True
        assert client.get(CLIENTS, headers=headers).json() == everything
        assert client.get(f"{CLIENTS}/{tenant.client_id}", headers=headers).json() == one
        assert client.get(f"{CLIENTS}/no-such-id", headers=headers).status_code == 404
        for method, path, body in [
            ("POST", CLIENTS, {"name": "Mine"}),
            ("PATCH", f"{CLIENTS}/{tenant.client_id}", {"name": "Renamed"}),
            ("DELETE", f"{CLIENTS}/{tenant.client_id}", None),
        ]:
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403, (method, path)
            assert response.json() == {"detail": "Missing scope: admin"}
    assert client.get(CLIENTS, headers=admin_headers).json() == everything
    cron = client.post(
        "/api/users/me/credentials", json={"scopes": ["cron"]}, headers=admin_headers
    ).json()
    by_cron = _bearer(credential_login(client, cron["client_id"], cron["client_secret"]))
    assert client.get(CLIENTS, headers=by_cron).status_code == 403


def test_a_client_user_reads_no_client_record_not_even_its_own(client, tenant, other_tenant):
    """Reading clients is for callers acting on every client; a client user holding `read`
    sees neither another client's record nor the list (its own client is in /users/me)."""
    for path in (CLIENTS, f"{CLIENTS}/{other_tenant.client_id}", f"{CLIENTS}/{tenant.client_id}"):
        assert client.get(path, headers=tenant.headers).status_code == 403, path
