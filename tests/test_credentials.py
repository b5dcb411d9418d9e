"""API credentials, through HTTP on every backend.

A secret shown once, listing, revoking and expiry, what happens to credentials when their user
is deleted, moved or rescoped, and the scopes their tokens may hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.auth_helpers import CREDENTIALS
from tests.conftest import TenantUser, credential_login
from tests.user_helpers import USERS, _new_client, _stored
from utils.db import utcnow


def test_credential_secret_is_shown_once_and_stored_hashed(client, tenant: TenantUser):
    made = client.post(CREDENTIALS, json={"description": "dashboard"}, headers=tenant.headers)
    assert made.status_code == 201
    credential = made.json()
    assert set(credential) == {
        "client_id",
        "client_secret",
        "description",
        "scopes",
        "created_at",
        "expires_at",
    }
    assert credential["scopes"] == ["read", "write", "me"]
    assert len(credential["client_secret"]) >= 32
    # Safe as a command-line argument (`--client-secret <secret>`): never starts with "-".
    assert credential["client_secret"].startswith("oks_")
    assert credential["client_id"].startswith("okc_")
    assert credential["expires_at"] is None
    listed = client.get(CREDENTIALS, headers=tenant.headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == [
        {k: v for k, v in credential.items() if k != "client_secret"},
    ]
    assert credential["client_secret"] not in listed.text
    stored = _stored(client, "credentials", {"_id": credential["client_id"]})
    assert stored["secret_hash"].startswith("$argon2")
    assert credential["client_secret"] not in str(stored)


def test_credentials_are_listed_per_user(client, tenant, other_tenant):
    mine = client.post(CREDENTIALS, json={"description": "a"}, headers=tenant.headers).json()
    client.post(CREDENTIALS, json={"description": "b"}, headers=other_tenant.headers)
    client.post(CREDENTIALS, json={"description": "c"}, headers=tenant.headers)
    listed = client.get(CREDENTIALS, headers=tenant.headers).json()
    assert [c["description"] for c in listed["items"]] == ["a", "c"]
    assert listed["items"][0]["client_id"] == mine["client_id"]
    assert listed["total"] == 2
    second = client.get(f"{CREDENTIALS}?limit=1&offset=1", headers=tenant.headers).json()
    assert [c["description"] for c in second["items"]] == ["c"] and second["total"] == 2


def test_revoked_credential_stops_working_at_once(client, tenant):
    credential = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    token = credential_login(client, credential["client_id"], credential["client_secret"])
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get(CREDENTIALS, headers=headers).status_code == 200
    revoked = client.delete(f"{CREDENTIALS}/{credential['client_id']}", headers=tenant.headers)
    assert revoked.status_code == 204
    response = client.get(CREDENTIALS, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "API credential revoked or expired"}
    again = credential_login(client, credential["client_id"], credential["client_secret"])
    assert again.status_code == 401
    assert client.get(CREDENTIALS, headers=tenant.headers).json()["items"] == []
    second = client.delete(f"{CREDENTIALS}/{credential['client_id']}", headers=tenant.headers)
    assert second.status_code == 404


def test_a_user_cannot_revoke_someone_elses_credential(client, tenant, other_tenant):
    credential = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    response = client.delete(
        f"{CREDENTIALS}/{credential['client_id']}", headers=other_tenant.headers
    )
    assert response.status_code == 404
    still = credential_login(client, credential["client_id"], credential["client_secret"])
    assert still.status_code == 200


def test_credential_expiry(client, tenant):
    made = client.post(CREDENTIALS, json={"expires_in_minutes": 30}, headers=tenant.headers)
    credential = made.json()
    expires_at = datetime.fromisoformat(credential["expires_at"])
    created_at = datetime.fromisoformat(credential["created_at"])
    assert expires_at - created_at == timedelta(minutes=30)
    token = credential_login(client, credential["client_id"], credential["client_secret"])
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    # Let the 30 minutes pass: move the stored expiry into the past.
    store = client.app.state.store
    store.collection("credentials").update(
        {"_id": credential["client_id"]},
        {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}},
    )
    assert client.get(CREDENTIALS, headers=headers).status_code == 401
    expired = credential_login(client, credential["client_id"], credential["client_secret"])
    assert expired.status_code == 401


def test_a_credential_made_through_an_expiring_credential_expires_with_it(client, tenant):
    """An expiring credential (leaked, or lent for a while) cannot mint a lasting one: what
    it makes expires no later than it, so nothing it made outlives its expiry."""
    parent = client.post(CREDENTIALS, json={"expires_in_minutes": 5}, headers=tenant.headers)
    parent = parent.json()
    parent_expiry = datetime.fromisoformat(parent["expires_at"])
    token = credential_login(client, parent["client_id"], parent["client_secret"])
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    children = []
    for body in ({}, {"expires_in_minutes": 60}, {"expires_in_minutes": 1}):
        made = client.post(CREDENTIALS, json=body, headers=headers)
        assert made.status_code == 201, made.text
        children.append(made.json())
    expiries = [c["expires_at"] and datetime.fromisoformat(c["expires_at"]) for c in children]
    assert expiries[:2] == [parent_expiry, parent_expiry]
    created = datetime.fromisoformat(children[2]["created_at"])
    assert expiries[2] == created + timedelta(minutes=1) < parent_expiry
    stored = client.get(CREDENTIALS, headers=headers).json()["items"]
    listed = {c["client_id"]: c["expires_at"] for c in stored}
    assert [listed[c["client_id"]] for c in children] == [c["expires_at"] for c in children]
    # A credential that never expires still makes what it is asked for.
    lasting = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    token = credential_login(client, lasting["client_id"], lasting["client_secret"])
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.post(CREDENTIALS, json={}, headers=headers).json()["expires_at"] is None


def test_bad_credential_bodies_answer_422_and_store_nothing(client, tenant):
    for body in [
        {"expires_in_minutes": 0},
        {"expires_in_minutes": -5},
        {"expires_in_minutes": 60 * 24 * 366 * 6},
        {"expires_in_minutes": "soon"},
        {"description": "x" * 501},
        {"scopes": ["admin"]},
    ]:
        response = client.post(CREDENTIALS, json=body, headers=tenant.headers)
        assert response.status_code == 422, body
    assert client.get(CREDENTIALS, headers=tenant.headers).json()["items"] == []


def test_deleting_a_user_deletes_its_credentials(client, admin_headers, tenant):
    credential = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    assert client.delete(f"{USERS}/{tenant.username}", headers=admin_headers).status_code == 204
    assert _stored(client, "credentials", {"_id": credential["client_id"]}) is None
    response = credential_login(client, credential["client_id"], credential["client_secret"])
    assert response.status_code == 401


def test_moving_a_user_to_another_client_ends_its_credentials(client, admin_headers, tenant):
    """A credential made for one client's integration must not act on the next client."""
    credential = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    token = credential_login(client, credential["client_id"], credential["client_secret"])
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    other = _new_client(client, admin_headers, "Initech")
    moved = client.patch(
        f"{USERS}/{tenant.username}", json={"client_id": other}, headers=admin_headers
    )
    assert moved.status_code == 200
    assert client.get("/api/campaigns", headers=headers).status_code == 401
    again = credential_login(client, credential["client_id"], credential["client_secret"])
    assert again.status_code == 401
    assert _stored(client, "credentials", {"_id": credential["client_id"]}) is None


def test_changing_a_users_scopes_keeps_its_credentials(client, admin_headers, tenant):
    credential = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    changed = client.patch(
        f"{USERS}/{tenant.username}",
        json={"scopes": ["read", "me"]},
        headers=admin_headers,
    )
    assert changed.status_code == 200
    token = credential_login(client, credential["client_id"], credential["client_secret"])
    assert token.status_code == 200


def test_credentials_need_the_me_scope(client, make_tenant):
    reader = make_tenant(scopes=("read", "write"))
    assert client.get(CREDENTIALS, headers=reader.headers).status_code == 403
    assert client.post(CREDENTIALS, json={}, headers=reader.headers).status_code == 403
    assert client.delete(f"{CREDENTIALS}/okc_x", headers=reader.headers).status_code == 403


def test_credential_scopes_narrow_what_its_tokens_may_do(client, tenant):
    made = client.post(
        "/api/users/me/credentials",
        json={"description": "scheduler", "scopes": ["read"]},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == ["read"]
    token = credential_login(client, made.json()["client_id"], made.json()["client_secret"]).json()
    assert token["scopes"] == ["read"]
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/api/campaigns", headers=headers).status_code == 200
    created = client.post(
        "/api/campaigns", json={"name": "x", "platform": "google"}, headers=headers
    )
    assert created.status_code == 403
    listed = client.get("/api/users/me/credentials", headers=tenant.headers).json()["items"]
    assert listed[0]["scopes"] == ["read"]


def test_credential_cannot_hold_scopes_its_owner_lacks(client, tenant):
    response = client.post(
        "/api/users/me/credentials", json={"scopes": ["admin"]}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert client.get("/api/users/me/credentials", headers=tenant.headers).json()["items"] == []
