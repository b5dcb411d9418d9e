"""The admin's generated password and first login, and no password, secret or hash in any
answer or log."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.auth_helpers import ACCOUNT, LOGOUT, TOKEN, _bearer, _password_token
from tests.conftest import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    login,
    make_settings,
)

BANNER = re.compile(r"Generated password \(shown once, change it at first login\): (\S+)")


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
