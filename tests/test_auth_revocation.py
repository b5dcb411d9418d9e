"""Password changes, resets, deletions and logging out revoke the tokens issued before."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi.testclient import TestClient

from tests.auth_helpers import ACCOUNT, CREDENTIALS, LOGOUT, _bearer, _password_token
from tests.conftest import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    credential_login,
    login,
)

# --- password changes and deletions revoke tokens -------------------------------------------


def test_password_change_invalidates_earlier_tokens(client, tenant):
    second = login(client, tenant.username, USER_PASSWORD)
    changed = client.patch(
        ACCOUNT,
        json={"old_password": USER_PASSWORD, "new_password": "a-new-password"},
        headers=tenant.headers,
    )
    assert changed.status_code == 204
    for headers in (tenant.headers, second):
        response = client.get("/api/users/me/credentials", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Token revoked: log in again"}
    assert _password_token(client, tenant.username, USER_PASSWORD).status_code == 401
    fresh = login(client, tenant.username, "a-new-password")
    assert client.get("/api/users/me/credentials", headers=fresh).status_code == 200


def test_rejected_password_changes_keep_the_old_password(client, tenant):
    for body, status in [
        ({"old_password": "wrong-password", "new_password": "a-new-password"}, 400),
        ({"old_password": USER_PASSWORD, "new_password": USER_PASSWORD}, 400),
        ({"old_password": USER_PASSWORD, "new_password": "short"}, 422),
        ({"old_password": USER_PASSWORD}, 422),
        ({"old_password": USER_PASSWORD, "new_password": "a-new-password", "x": 1}, 422),
    ]:
        response = client.patch(ACCOUNT, json=body, headers=tenant.headers)
        assert response.status_code == status, body
        assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 200
    login(client, tenant.username, USER_PASSWORD)


def test_password_change_needs_a_token(client):
    body = {"old_password": ADMIN_PASSWORD, "new_password": "a-new-password"}
    assert client.patch(ACCOUNT, json=body).status_code == 401


def test_admin_password_reset_invalidates_the_users_tokens(client, admin_headers, tenant):
    reset = client.patch(
        f"/api/users/{tenant.username}", json={"password": "reset-by-admin"}, headers=admin_headers
    )
    assert reset.status_code == 200
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 401
    login(client, tenant.username, "reset-by-admin")


def test_user_deletion_invalidates_tokens(client, admin_headers, tenant):
    deleted = client.delete(f"/api/users/{tenant.username}", headers=admin_headers)
    assert deleted.status_code == 204
    response = client.get("/api/users/me/credentials", headers=tenant.headers)
    assert response.status_code == 401


def test_tokens_of_a_deleted_user_do_not_work_for_a_new_user_of_that_name(
    client, admin_headers, tenant, other_tenant
):
    """A new account that reuses a username must not inherit the old account's tokens."""
    assert client.delete(f"/api/users/{tenant.username}", headers=admin_headers).status_code == 204
    recreated = client.post(
        "/api/users",
        json={
            "username": tenant.username,
            "password": "another-password",
            "client_id": other_tenant.client_id,
        },
        headers=admin_headers,
    )
    assert recreated.status_code == 201
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 401


# --- logging out revokes every token of the account -----------------------------------------


def _updated_at(client: TestClient, admin_headers: dict, username: str) -> datetime:
    response = client.get(f"/api/users/{username}", headers=admin_headers)
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["updated_at"])


def test_logout_revokes_every_token_of_the_account(client, admin_headers, tenant):
    """The token logging out and one issued earlier elsewhere stop working on every operation
    that takes a token; a new login works."""
    elsewhere = login(client, tenant.username, USER_PASSWORD)
    before = _updated_at(client, admin_headers, tenant.username)
    response = client.post(LOGOUT, headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert _updated_at(client, admin_headers, tenant.username) > before
    checked = []
    for path, operations in client.app.openapi()["paths"].items():
        for method, operation in operations.items():
            if not operation.get("security"):
                continue
            url = re.sub(r"\{[^}]+\}", "some-id", path)
            for headers in (tenant.headers, elsewhere):
                response = client.request(method.upper(), url, json={}, headers=headers)
                assert response.status_code == 401, (method, path, response.text)
                assert response.json() == {"detail": "Token revoked: log in again"}
            checked.append(f"{method.upper()} {path}")
    assert {"POST /api/auth/logout", "PATCH /api/auth/account", "GET /api/users/me"} <= set(checked)
    fresh = login(client, tenant.username, USER_PASSWORD)
    assert client.get("/api/users/me/credentials", headers=fresh).status_code == 200


def test_logout_needs_a_valid_token_and_changes_nothing_without_one(client, admin_headers, tenant):
    before = _updated_at(client, admin_headers, tenant.username)
    for headers in ({}, _bearer("not-a-token"), {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = client.post(LOGOUT, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    assert _updated_at(client, admin_headers, tenant.username) == before
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 200
    assert client.post(LOGOUT, headers=tenant.headers).status_code == 204
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 401


def test_logout_leaves_other_accounts_tokens_working(client, admin_headers, tenant, other_tenant):
    assert client.post(LOGOUT, headers=tenant.headers).status_code == 204
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 401
    assert client.get("/api/users/me/credentials", headers=other_tenant.headers).status_code == 200
    assert client.get("/api/users", headers=admin_headers).status_code == 200


def test_logout_through_a_credential_revokes_that_credentials_tokens_only(client, tenant):
    """A scheduler's credential logging out ends its own tokens, not its owner's sessions nor
    another credential's tokens; the credential still gets new tokens."""
    credentials = []
    for description in ("cron", "reports"):
        made = client.post(CREDENTIALS, json={"description": description}, headers=tenant.headers)
        assert made.status_code == 201
        credentials.append(made.json())
    tokens = [
        _bearer(credential_login(client, c["client_id"], c["client_secret"]).json()["access_token"])
        for c in credentials
    ]
    assert client.post(LOGOUT, headers=tokens[0]).status_code == 204
    response = client.get(CREDENTIALS, headers=tokens[0])
    assert response.status_code == 401
    assert response.json() == {"detail": "Token revoked: log in again"}
    for headers in (tokens[1], tenant.headers):
        assert client.get(CREDENTIALS, headers=headers).status_code == 200
    again = credential_login(client, credentials[0]["client_id"], credentials[0]["client_secret"])
    assert again.status_code == 200
    listed = client.get(CREDENTIALS, headers=_bearer(again.json()["access_token"]))
    assert listed.status_code == 200
    assert {c["client_id"] for c in listed.json()["items"]} == {c["client_id"] for c in credentials}


def test_logout_of_the_account_revokes_its_credentials_tokens_too(client, tenant):
    made = client.post(CREDENTIALS, json={"description": "cron"}, headers=tenant.headers)
    credential = made.json()
    issued = credential_login(client, credential["client_id"], credential["client_secret"])
    token = _bearer(issued.json()["access_token"])
    assert client.post(LOGOUT, headers=tenant.headers).status_code == 204
    assert client.get(CREDENTIALS, headers=token).status_code == 401
    again = credential_login(client, credential["client_id"], credential["client_secret"])
    assert client.get(CREDENTIALS, headers=_bearer(again.json()["access_token"])).status_code == 200
