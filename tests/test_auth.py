"""Logging in, token checks, password changes, the first-login flow and login throttling."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.conftest import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    TenantUser,
    credential_login,
    login,
    make_settings,
)
from utils.db import utcnow
from utils.security import create_token

TOKEN = "/api/auth/token"
ACCOUNT = "/api/auth/account"
LOGOUT = "/api/auth/logout"
CREDENTIALS = "/api/users/me/credentials"
BANNER = re.compile(r"Generated password \(shown once, change it at first login\): (\S+)")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _password_token(client: TestClient, username: str, password: str, **form: str):
    return client.post(TOKEN, data={"username": username, "password": password, **form})


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


# --- first login: generated admin password --------------------------------------------------


@pytest.fixture
def fresh_settings(backend: str, tmp_path: Path):
    """Settings without ADMIN_PASSWORD: the server generates the admin's password."""
    return make_settings(backend, tmp_path / "data", admin_password=None)


@pytest.fixture
def fresh_client(fresh_settings, capfd) -> Iterator[tuple[TestClient, str]]:
    """A server started without ADMIN_PASSWORD, and the password it printed once."""
    with TestClient(create_app(fresh_settings)) as test_client:
        printed = capfd.readouterr()
        found = BANNER.findall(printed.err)
        assert len(found) == 1, printed.err
        yield test_client, found[0]


def test_generated_admin_password_is_printed_once_and_not_logged(fresh_settings, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(fresh_settings)):
        pass
    first = capfd.readouterr()
    passwords = BANNER.findall(first.err)
    assert len(passwords) == 1
    assert len(passwords[0]) >= 16
    assert passwords[0] not in caplog.text
    assert passwords[0] not in first.out
    if fresh_settings.backend == "mongomock":
        return  # an in-memory store starts empty again: nothing to compare with
    with TestClient(create_app(fresh_settings)):
        pass
    assert BANNER.findall(capfd.readouterr().err) == []


def test_first_login_token_is_refused_everywhere_but_the_password_change_and_logout(
    fresh_client,
):
    """Every operation that takes a token, as the app declares them, refuses it with 403."""
    client, password = fresh_client
    token = _password_token(client, "admin", password).json()
    assert token["first_login"] is True
    headers = _bearer(token["access_token"])
    checked = []
    for path, operations in client.app.openapi()["paths"].items():
        for method, operation in operations.items():
            if not operation.get("security") or (method, path) in {
                ("patch", ACCOUNT),
                ("post", LOGOUT),
            }:
                continue
            url = re.sub(r"\{[^}]+\}", "some-id", path)
            body = {"username": "user1", "password": USER_PASSWORD, "scopes": ["admin"]}
            response = client.request(method.upper(), url, json=body, headers=headers)
            assert response.status_code == 403, (method, path, response.text)
            assert "PATCH /api/auth/account" in response.json()["detail"]
            checked.append(f"{method.upper()} {path}")
    assert {"GET /api/users", "POST /api/users", "POST /api/clients"} <= set(checked)
    assert client.get("/api/health").status_code == 200
    assert _password_token(client, "admin", password).status_code == 200


def test_first_login_ends_with_the_password_change(fresh_client):
    client, password = fresh_client
    headers = _bearer(_password_token(client, "admin", password).json()["access_token"])
    changed = client.patch(
        ACCOUNT, json={"old_password": password, "new_password": "chosen-by-admin"}, headers=headers
    )
    assert changed.status_code == 204
    assert client.get("/api/users", headers=headers).status_code == 401
    assert _password_token(client, "admin", password).status_code == 401
    token = _password_token(client, "admin", "chosen-by-admin").json()
    assert token["first_login"] is False
    users = client.get("/api/users", headers=_bearer(token["access_token"]))
    assert users.status_code == 200
    assert users.json()["items"][0]["first_login"] is False


def test_a_first_login_token_may_log_out(fresh_client):
    """Logging out before choosing a password revokes the token; the generated password
    still has to be changed at the next login."""
    client, password = fresh_client
    headers = _bearer(_password_token(client, "admin", password).json()["access_token"])
    assert client.post(LOGOUT, headers=headers).status_code == 204
    changed = client.patch(
        ACCOUNT, json={"old_password": password, "new_password": "chosen-by-admin"}, headers=headers
    )
    assert changed.status_code == 401
    assert changed.json() == {"detail": "Token revoked: log in again"}
    assert _password_token(client, "admin", password).json()["first_login"] is True


def test_configured_admin_password_needs_no_change(client, capfd):
    token = _password_token(client, "admin", ADMIN_PASSWORD).json()
    assert token["first_login"] is False
    assert BANNER.findall(capfd.readouterr().err) == []


# --- throttling -----------------------------------------------------------------------------


def _fail(client: TestClient, username: str, times: int) -> list[int]:
    return [_password_token(client, username, "wrong-password").status_code for _ in range(times)]


def test_ten_failures_throttle_that_username_only(client, tenant, other_tenant):
    assert _fail(client, tenant.username, 10) == [401] * 10
    throttled = _password_token(client, tenant.username, USER_PASSWORD)
    assert throttled.status_code == 429
    assert "detail" in throttled.json()
    assert int(throttled.headers["retry-after"]) > 0
    assert _fail(client, tenant.username, 1) == [429]
    login(client, other_tenant.username, USER_PASSWORD)
    login(client, "admin", ADMIN_PASSWORD)
    # Tokens issued before the attack keep working: throttling only guards the login.
    assert client.get("/api/users/me/credentials", headers=tenant.headers).status_code == 200


def test_unknown_usernames_are_throttled_too(client):
    assert _fail(client, "ghost", 11) == [401] * 10 + [429]


def test_throttle_lifts_once_failures_leave_the_window(client, tenant):
    _fail(client, tenant.username, 10)
    assert _password_token(client, tenant.username, USER_PASSWORD).status_code == 429
    store = client.app.state.store
    store.run(
        lambda: store.db["login_failures"].update_many(
            {}, {"$set": {"at": utcnow() - timedelta(minutes=6)}}
        )
    )
    login(client, tenant.username, USER_PASSWORD)


def test_a_successful_login_resets_the_failure_count(client, tenant):
    assert _fail(client, tenant.username, 9) == [401] * 9
    login(client, tenant.username, USER_PASSWORD)
    assert _fail(client, tenant.username, 10) == [401] * 10
    assert _password_token(client, tenant.username, USER_PASSWORD).status_code == 429


def test_successful_logins_do_not_count_as_failures(client, settings, tenant):
    for _ in range(settings.login_max_failures + 1):
        login(client, tenant.username, USER_PASSWORD)
    assert _fail(client, tenant.username, settings.login_max_failures) == [401] * 10
    assert _password_token(client, tenant.username, USER_PASSWORD).status_code == 429


class _HeldHasher:
    """The server's hasher, holding every password check until each of `guesses` requests
    is being checked or has been refused: guesses overlap as much as they possibly can."""

    def __init__(self, hasher, guesses: int) -> None:
        self._hasher = hasher
        self._guesses = guesses
        self._changed = threading.Condition()
        self.checking = 0
        self.refused = 0

    def __getattr__(self, name: str):
        return getattr(self._hasher, name)

    def verify(self, password: str, hashed: str | None) -> bool:
        with self._changed:
            self.checking += 1
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.checking + self.refused == self._guesses, 10)
        return self._hasher.verify(password, hashed)

    def note_refused(self) -> None:
        with self._changed:
            self.refused += 1
            self._changed.notify_all()


def test_guesses_sent_at_once_are_throttled_like_guesses_in_turn(
    client, settings, tenant, monkeypatch
):
    """Each guess counts before its slow password check: of guesses sent together, at most
    the limit are checked and the others answer 429."""
    guesses = settings.login_max_failures + 10
    held = _HeldHasher(client.app.state.hasher, guesses)
    monkeypatch.setattr(client.app.state, "hasher", held)

    def guess(i: int):
        response = _password_token(client, tenant.username, f"wrong-guess-{i}")
        if response.status_code == 429:
            held.note_refused()
        return response

    with ThreadPoolExecutor(guesses) as pool:
        responses = list(pool.map(guess, range(guesses)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {401, 429}, codes
    assert codes.count(401) == held.checking <= settings.login_max_failures, codes
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)


def test_client_credentials_are_throttled_per_credential(client, tenant: TenantUser):
    credential = client.post("/api/users/me/credentials", json={}, headers=tenant.headers).json()

    def attempt(secret: str) -> int:
        return client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": credential["client_id"],
                "client_secret": secret,
            },
        ).status_code

    assert [attempt("wrong") for _ in range(10)] == [401] * 10
    assert attempt(credential["client_secret"]) == 429
    login(client, tenant.username, USER_PASSWORD)


def test_guesses_of_the_old_password_are_throttled(client, tenant):
    wrong = {"old_password": "guess-guess", "new_password": "a-new-password"}
    codes = [
        client.patch(ACCOUNT, json=wrong, headers=tenant.headers).status_code for _ in range(11)
    ]
    assert codes == [400] * 10 + [429]
    right = {"old_password": USER_PASSWORD, "new_password": "a-new-password"}
    assert client.patch(ACCOUNT, json=right, headers=tenant.headers).status_code == 429
    login(client, tenant.username, USER_PASSWORD)


def test_failed_logins_under_a_prefixed_name_throttle_nobody_else(client, tenant):
    """Password logins, credential logins and password changes count apart: failures for the
    username "account:<name>" or "credential:<id>" leave that password change and that
    credential alone."""
    credential = client.post("/api/users/me/credentials", json={}, headers=tenant.headers).json()
    assert _fail(client, f"account:{tenant.username}", 10) == [401] * 10
    assert _fail(client, f"credential:{credential['client_id']}", 10) == [401] * 10
    response = credential_login(client, credential["client_id"], credential["client_secret"])
    assert response.status_code == 200
    right = {"old_password": USER_PASSWORD, "new_password": "a-new-password"}
    assert client.patch(ACCOUNT, json=right, headers=tenant.headers).status_code == 204


# --- nothing secret in answers or logs ------------------------------------------------------


def test_no_answer_or_log_line_carries_a_password_secret_or_hash(client, admin_headers, caplog):
    caplog.set_level(logging.DEBUG)
    bodies: list[tuple[str, str]] = []

    def record(response) -> None:
        response.read()
        bodies.append((f"{response.request.method} {response.request.url.path}", response.text))

    client.event_hooks["response"].append(record)
    clients = client.post("/api/clients", json={"name": "Acme"}, headers=admin_headers).json()
    made = client.post(
        "/api/users",
        json={"username": "carol", "password": "carols-password", "client_id": clients["id"]},
        headers=admin_headers,
    )
    assert made.status_code == 201
    carol = login(client, "carol", "carols-password")
    credential = client.post("/api/users/me/credentials", json={}, headers=carol).json()
    secret = credential["client_secret"]
    client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": credential["client_id"],
            "client_secret": secret,
        },
    )
    client.get("/api/users", headers=admin_headers)
    client.get("/api/users/carol", headers=admin_headers)
    client.get("/api/users/me/credentials", headers=carol)
    client.patch("/api/users/carol", json={"password": "carols-new-one"}, headers=admin_headers)
    _password_token(client, "carol", "carols-new-one")
    _password_token(client, "carol", "a-wrong-guess")
    client.patch(
        ACCOUNT,
        json={"old_password": ADMIN_PASSWORD, "new_password": "admins-new-one"},
        headers=admin_headers,
    )
    assert len(bodies) == 12
    secrets_ = [ADMIN_PASSWORD, "carols-password", "carols-new-one", "a-wrong-guess"]
    secrets_ += ["admins-new-one", "$argon2", "password_hash", "secret_hash", "token_version"]
    for request, body in bodies:
        for secret_text in secrets_:
            assert secret_text not in body, (request, secret_text)
        if request != "POST /api/users/me/credentials":
            assert secret not in body, request
    for secret_text in [*secrets_, secret]:
        assert secret_text not in caplog.text


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
