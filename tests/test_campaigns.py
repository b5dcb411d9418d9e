"""Campaign endpoints: CRUD, validation, pagination, status changes and tenant isolation."""

from __future__ import annotations

import pytest


def _create(client, headers, **fields):
    body = {"name": "Search", "platform": "google", **fields}
    return client.post("/api/campaigns", json=body, headers=headers)


def test_create_returns_active_campaign(client, tenant):
    response = _create(client, tenant.headers, external_id="g-1", min_budget=5, max_budget=50)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["client_id"] == tenant.client_id
    assert (body["min_budget"], body["max_budget"], body["external_id"]) == (5, 50, "g-1")
    fetched = client.get(f"/api/campaigns/{body['id']}", headers=tenant.headers)
    assert fetched.json() == body


def test_names_are_kept_without_surrounding_spaces(client, tenant):
    made = client.post(
        "/api/campaigns", json={"name": "  Search ", "platform": "google"}, headers=tenant.headers
    )
    assert made.status_code == 201 and made.json()["name"] == "Search"
    again = client.post(
        "/api/campaigns", json={"name": "Search  ", "platform": "meta"}, headers=tenant.headers
    )
    assert again.status_code == 409


def test_names_are_unique_within_a_client_only(client, tenant, other_tenant):
    assert _create(client, tenant.headers).status_code == 201
    assert _create(client, tenant.headers).status_code == 409
    assert _create(client, other_tenant.headers).status_code == 201


@pytest.mark.parametrize(
    "fields",
    [
        {"min_budget": -1},
        {"min_budget": 10, "max_budget": 5},
        {"platform": "Google Ads!"},
        {"name": ""},
        {"name": "   "},
        {"name": "Search\u0000"},
        {"color": "red"},
    ],
)
def test_bad_bodies_answer_422_and_store_nothing(client, tenant, fields):
    assert _create(client, tenant.headers, **fields).status_code == 422
    assert client.get("/api/campaigns", headers=tenant.headers).json()["total"] == 0


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_literals_are_rejected(client, tenant, literal):
    raw = b'{"name": "x", "platform": "google", "min_budget": %s}' % literal
    response = client.post(
        "/api/campaigns",
        content=raw,
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert client.get("/api/campaigns", headers=tenant.headers).json()["total"] == 0


def test_list_is_paginated_in_creation_order(client, tenant):
    for n in range(5):
        assert _create(client, tenant.headers, name=f"c{n}").status_code == 201
    page = client.get("/api/campaigns?limit=2&offset=1", headers=tenant.headers).json()
    assert page["total"] == 5
    assert [c["name"] for c in page["items"]] == ["c1", "c2"]
    assert client.get("/api/campaigns?limit=0", headers=tenant.headers).status_code == 422


def test_patch_changes_status_and_validates(client, tenant):
    cid = _create(client, tenant.headers, min_budget=10).json()["id"]
    paused = client.patch(
        f"/api/campaigns/{cid}", json={"status": "paused"}, headers=tenant.headers
    )
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    for bad in ({"status": "deleted"}, {"max_budget": 5}, {"status": None}, {"extra": 1}):
        response = client.patch(f"/api/campaigns/{cid}", json=bad, headers=tenant.headers)
        assert response.status_code == 422, bad
    assert client.get(f"/api/campaigns/{cid}", headers=tenant.headers).json()["max_budget"] is None


def test_delete(client, tenant):
    cid = _create(client, tenant.headers).json()["id"]
    assert client.delete(f"/api/campaigns/{cid}", headers=tenant.headers).status_code == 204
    assert client.get(f"/api/campaigns/{cid}", headers=tenant.headers).status_code == 404
    assert client.delete(f"/api/campaigns/{cid}", headers=tenant.headers).status_code == 404


def test_other_tenant_gets_404_everywhere(client, tenant, other_tenant):
    cid = _create(client, tenant.headers).json()["id"]
    url = f"/api/campaigns/{cid}"
    h = other_tenant.headers
    assert client.get(url, headers=h).status_code == 404
    assert client.patch(url, json={"status": "paused"}, headers=h).status_code == 404
    assert client.delete(url, headers=h).status_code == 404
    assert client.get("/api/campaigns", headers=h).json()["total"] == 0
    assert client.get(url, headers=tenant.headers).json()["status"] == "active"


def test_scopes_are_enforced(client, make_tenant):
    reader = make_tenant(scopes=("read",))
    assert _create(client, reader.headers).status_code == 403
    assert client.get("/api/campaigns", headers=reader.headers).status_code == 200
    assert client.get("/api/campaigns").status_code == 401


def test_admin_acts_on_a_named_client(client, admin_headers, tenant):
    assert _create(client, admin_headers).status_code == 422
    made = client.post(
        f"/api/campaigns?client_id={tenant.client_id}",
        json={"name": "Admin made", "platform": "meta"},
        headers=admin_headers,
    )
    assert made.status_code == 201
    assert client.get("/api/campaigns", headers=tenant.headers).json()["total"] == 1
    assert client.get("/api/campaigns?client_id=nope", headers=admin_headers).status_code == 404


def test_client_user_cannot_reach_another_client_by_query(client, tenant, other_tenant):
    _create(client, other_tenant.headers)
    page = client.get(
        f"/api/campaigns?client_id={other_tenant.client_id}", headers=tenant.headers
    ).json()
    assert page["total"] == 0


def test_no_state_is_made_on_a_campaign_deleted_at_the_same_time(client, tenant, monkeypatch):
    """The delete checks that no running state uses the campaign, then deletes it; a state
    created between the two would run on a campaign that no longer exists. Here a creation
    is sent right after the check and given a second to finish before the delete goes on: on
    a MongoDB server it runs meanwhile and finds the campaign marked by the delete."""
    import threading

    from utils.db import Collection

    ids = [_create(client, tenant.headers, name=name).json()["id"] for name in ("a", "b")]
    count, senders, answers = Collection.count, [], []

    def create_a_state():
        body = {"campaign_ids": ids, "budget": 100, "timesteps": 2}
        answers.append(client.post("/api/states", json=body, headers=tenant.headers))

    def count_then_create_a_state(self, filter):
        found = count(self, filter)
        if self.name == "states" and not senders:
            senders.append(threading.Thread(target=create_a_state))
            senders[0].start()
            senders[0].join(timeout=1.0)
        return found

    monkeypatch.setattr(Collection, "count", count_then_create_a_state)
    deleted = client.delete(f"/api/campaigns/{ids[0]}", headers=tenant.headers)
    senders[0].join(timeout=30)
    assert (deleted.status_code, answers[0].status_code) in {(204, 422), (409, 201)}
