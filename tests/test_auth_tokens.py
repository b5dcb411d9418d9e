"""Logging in: the password and client_credentials grants, scopes, and the checks every
token passes (bad, expired, tampered, forged)."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.auth_helpers import CREDENTIALS, TOKEN, _bearer, _password_token
from tests.conftest import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    credential_login,
    login,
    make_settings,
)
from utils.security import create_token


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# --- password and client_credentials grants ---------------------------------------------


def test_password_grant_answers_a_bearer_token_with_every_scope(client, settings, tenant):
    response = _password_token(client, tenant.username, USER_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["scopes"] == ["read", "write", "me"]
    assert body["first_login"] is False
    assert body["expires_in"] == settings.access_token_minutes * 60
    claims = _claims(body["access_token"])
    assert claims["sub"] == tenant.username
    assert claims["client_id"] == tenant.client_id
    assert claims["scopes"] == ["read", "write", "me"]
    assert claims["exp"] - claims["iat"] == settings.access_token_minutes * 60
    assert client.get("/api/users/me/credentials", headers=_bearer(body["access_token"])).is_success


def test_admin_token_carries_every_scope_and_no_client(client):
    body = _password_token(client, "admin", ADMIN_PASSWORD).json()
    assert body["scopes"] == ["admin", "read", "write", "me", "api", "cron"]
    assert _claims(body["access_token"])["client_id"] is None


def test_bad_credentials_answer_401(client):
    for username, password in [
        ("admin", "wrong-password"),
        ("nobody", ADMIN_PASSWORD),
        ("ADMIN", ADMIN_PASSWORD),
    ]:
        response = _password_token(client, username, password)
        assert response.status_code == 401
        assert response.json() == {"detail": "Incorrect username or password"}
        assert response.headers["www-authenticate"] == "Bearer"


def test_incomplete_or_unknown_grants_answer_422(client):
    for form in [
        {"username": "admin"},
        {"password": ADMIN_PASSWORD},
        {"grant_type": "refresh_token", "username": "admin", "password": ADMIN_PASSWORD},
        {"grant_type": "client_credentials", "client_id": "okc_x"},
        {"username": "admin", "password": "x" * 257},
    ]:
        assert client.post(TOKEN, data=form).status_code == 422, form


def test_token_endpoint_takes_a_form_not_json(client):
    response = client.post(TOKEN, json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 422


def test_client_credentials_grant_acts_as_the_credentials_owner(client, tenant):
    made = client.post(
        "/api/users/me/credentials", json={"description": "dashboard"}, headers=tenant.headers
    )
    assert made.status_code == 201
    credential = made.json()
    response = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": credential["client_id"],
            "client_secret": credential["client_secret"],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["scopes"] == ["read", "write", "me"]
    claims = _claims(body["access_token"])
    assert (claims["sub"], claims["client_id"]) == (tenant.username, tenant.client_id)
    listed = client.get("/api/users/me/credentials", headers=_bearer(body["access_token"]))
    assert [c["client_id"] for c in listed.json()["items"]] == [credential["client_id"]]


def test_a_credentials_token_expires_no_later_than_the_credential(client, settings, tenant):
    lifetime = settings.access_token_minutes * 60
    longer = settings.access_token_minutes * 2
    for minutes, longest in [(1, 60), (longer, lifetime), (None, lifetime)]:
        made = {"expires_in_minutes": minutes}
        credential = client.post(CREDENTIALS, json=made, headers=tenant.headers).json()
        body = credential_login(client, credential["client_id"], credential["client_secret"]).json()
        claims = _claims(body["access_token"])
        assert longest - 5 <= body["expires_in"] <= longest, (minutes, body["expires_in"])
        assert claims["exp"] - claims["iat"] == body["expires_in"]
        if minutes is not None:
            expires_at = datetime.fromisoformat(credential["expires_at"]).timestamp()
            assert claims["exp"] <= expires_at


def test_client_credentials_with_a_wrong_secret_or_id_answer_401(client, tenant):
    credential = client.post("/api/users/me/credentials", json={}, headers=tenant.headers).json()
    for client_id, secret in [
        (credential["client_id"], credential["client_secret"] + "x"),
        ("okc_000000000000000000000000", credential["client_secret"]),
        (tenant.username, USER_PASSWORD),
    ]:
        response = client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert response.status_code == 401, (client_id, response.text)


# --- scopes ---------------------------------------------------------------------------------


def test_scope_parameter_narrows_the_token_to_held_scopes(client, tenant):
    response = _password_token(client, tenant.username, USER_PASSWORD, scope="read admin cron")
    assert response.status_code == 200
    assert response.json()["scopes"] == ["read"]
    assert _claims(response.json()["access_token"])["scopes"] == ["read"]


def test_admin_narrowed_to_read_loses_admin_rights(client):
    token = _password_token(client, "admin", ADMIN_PASSWORD, scope="read me").json()
    headers = _bearer(token["access_token"])
    denied = client.get("/api/users", headers=headers)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "Missing scope: admin"}
    assert client.get("/api/users/me/credentials", headers=headers).status_code == 200


def test_missing_scope_answers_403(client, make_tenant):
    reader = make_tenant(scopes=("read",))
    response = client.post("/api/users/me/credentials", json={}, headers=reader.headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing scope: me"}
    assert client.get("/api/clients", headers=reader.headers).status_code == 403


def test_scopes_removed_from_the_user_stop_working(client, admin_headers, tenant):
    changed = client.patch(
        f"/api/users/{tenant.username}", json={"scopes": ["read"]}, headers=admin_headers
    )
    assert changed.status_code == 200
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 401
    fresh = login(client, tenant.username, USER_PASSWORD)
    assert client.get("/api/users/me/credentials", headers=fresh).status_code == 403


# --- bad, expired, tampered tokens ----------------------------------------------------------


def test_missing_or_malformed_tokens_answer_401(client):
    for authorization in [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsInNjb3BlcyI6WyJhZG1pbiJdfQ.",
    ]:
        headers = {"Authorization": authorization} if authorization else {}
        response = client.get("/api/users", headers=headers)
        assert response.status_code == 401, authorization
        assert response.headers["www-authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)


def _forge(client: TestClient, admin_headers: dict, username: str, **claims) -> str:
    """A token for `username` as the server would sign it, with some claims changed."""
    user = client.get(f"/api/users/{username}", headers=admin_headers).json()
    values = {
        "key": client.app.state.secret_key,
        "subject": username,
        "user_id": user["id"],
        "scopes": user["scopes"],
        "client_id": user["client_id"],
        "token_version": 0,
        "minutes": 5,
        **claims,
    }
    return create_token(values.pop("key"), **values)


def test_a_forged_token_is_accepted_only_when_its_claims_match(client, admin_headers, tenant):
    """The control for the forged-token tests below: the same recipe, unchanged, works."""
    token = _forge(client, admin_headers, tenant.username)
    assert client.get("/api/users/me/credentials", headers=_bearer(token)).status_code == 200


def test_expired_token_answers_401(client, admin_headers, tenant):
    token = _forge(client, admin_headers, tenant.username, minutes=-1)
    response = client.get("/api/users/me/credentials", headers=_bearer(token))
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token"}


def test_token_signed_with_another_key_answers_401(client, admin_headers):
    token = _forge(client, admin_headers, "admin", key="not-the-server-key")
    assert client.get("/api/users", headers=_bearer(token)).status_code == 401


def test_tampered_token_answers_401(client, tenant):
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    header, _, signature = token.split(".")
    claims = _claims(token)
    claims["scopes"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = client.get("/api/users", headers=_bearer(f"{header}.{forged}.{signature}"))
    assert response.status_code == 401
    assert client.get("/api/users", headers=tenant.headers).status_code == 403


def test_token_naming_scopes_or_a_client_the_user_lacks_does_not_grant_them(
    client, admin_headers, tenant, other_tenant
):
    token = _forge(
        client,
        admin_headers,
        tenant.username,
        scopes=["read", "me", "admin"],
        client_id=other_tenant.client_id,
    )
    headers = _bearer(token)
    assert client.get("/api/clients", headers=headers).status_code == 403
    assert client.get("/api/users", headers=headers).status_code == 403
    assert client.get("/api/users/me/credentials", headers=headers).status_code == 200


def test_token_of_another_account_or_version_answers_401(client, admin_headers, tenant):
    for claims in ({"user_id": "0" * 32}, {"token_version": 1}, {"subject": "nobody"}):
        token = _forge(client, admin_headers, tenant.username, **claims)
        response = client.get("/api/users/me/credentials", headers=_bearer(token))
        assert response.status_code == 401, claims


# --- Swagger's Authorize button -------------------------------------------------------------


def test_openapi_declares_the_password_flow_on_the_token_endpoint(tmp_path):
    """Swagger's Authorize button logs in with the admin's username and password."""
    client = TestClient(create_app(make_settings("mongomock", tmp_path)))
    document = client.get("/api/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    flows = [scheme["flows"] for scheme in schemes.values() if scheme["type"] == "oauth2"]
    assert flows and flows[0]["password"]["tokenUrl"] == TOKEN
    assert set(flows[0]["password"]["scopes"]) == {"admin", "read", "write", "me", "api", "cron"}
    page = client.get("/api")
    assert page.status_code == 200 and "swagger-ui" in page.text


def test_a_remembered_token_still_expires(monkeypatch):
    """Verified tokens are remembered for speed; expiry is checked on every use regardless."""
    from utils import security

    key = "k" * 32
    token = create_token(
        key,
        subject="someone",
        user_id="u",
        scopes=["read"],
        client_id=None,
        token_version=0,
        minutes=1,
    )
    assert security.decode_token(key, token)["sub"] == "someone"
    assert security.decode_token(key, token)["sub"] == "someone"
    later = time.time() + 120
    monkeypatch.setattr(security, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(security.TokenInvalid):
        security.decode_token(key, token)
    with pytest.raises(security.TokenInvalid):
        security.decode_token("another key " * 3, token)
