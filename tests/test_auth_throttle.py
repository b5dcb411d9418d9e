"""Login throttling: failed guesses slow down the username or credential they were made for."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.auth_helpers import ACCOUNT, TOKEN, _password_token
from tests.conftest import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    TenantUser,
    credential_login,
    login,
)
from utils.db import utcnow

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
