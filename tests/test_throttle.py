"""Login throttling per name and source address: nobody elsewhere can lock a user out, and
guessing from one address stays slowed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import USER_PASSWORD
from utils.settings import Settings

TOKEN = "/api/auth/token"


def _from(client: TestClient, address: str) -> TestClient:
    """Another caller of the same running server, connecting from `address`."""
    return TestClient(client.app, client=(address, 40000))


def _try(http: TestClient, username: str, password: str, **headers: str) -> int:
    form = {"username": username, "password": password}
    return http.post(TOKEN, data=form, headers=headers).status_code


def test_guesses_from_elsewhere_do_not_lock_the_user_out(client, tenant):
    attacker = _from(client, "203.0.113.9")
    assert [_try(attacker, tenant.username, f"guess-{i}") for i in range(12)] == [401] * 10 + [
        429
    ] * 2
    # the attacker stays throttled even with the right password...
    assert _try(attacker, tenant.username, USER_PASSWORD) == 429
    # ...while the user, at home, logs in
    assert _try(_from(client, "198.51.100.7"), tenant.username, USER_PASSWORD) == 200


def test_one_address_guessing_many_names_is_slowed(client, make_tenant):
    client.app.state.settings.login_max_failures_per_address = 15
    users = [make_tenant().username for _ in range(2)]
    attacker = _from(client, "203.0.113.9")
    codes = [_try(attacker, name, "wrong") for name in users for _ in range(8)]
    assert codes == [401] * 15 + [429]
    # a right password from that address waits too, but not from another
    assert _try(attacker, users[0], USER_PASSWORD) == 429
    assert _try(_from(client, "198.51.100.7"), users[0], USER_PASSWORD) == 200


def test_a_success_does_not_reset_the_count_of_its_address(client, make_tenant):
    client.app.state.settings.login_max_failures_per_address = 12
    mine, victim = make_tenant().username, make_tenant().username
    attacker = _from(client, "203.0.113.9")
    assert [_try(attacker, victim, "wrong") for _ in range(6)] == [401] * 6
    assert _try(attacker, mine, USER_PASSWORD) == 200
    codes = [_try(attacker, f"{victim}-{i}", "wrong") for i in range(7)]
    assert codes == [401] * 6 + [429]


def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(client, tenant):
    client.app.state.settings.trusted_proxies = ["10.0.0.0/8"]
    proxy = _from(client, "10.1.2.3")
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    assert [_try(proxy, tenant.username, "wrong", **attacker) for _ in range(11)] == [401] * 10 + [
        429
    ]
    # The user comes through the same proxy from another address: not locked out.
    home = {"X-Forwarded-For": "198.51.100.7"}
    assert _try(proxy, tenant.username, USER_PASSWORD, **home) == 200
    # A forged first hop does not move the attacker: the proxy appended the real address.
    forged = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    assert _try(proxy, tenant.username, USER_PASSWORD, **forged) == 429
    # An untrusted peer's X-Forwarded-For is ignored: it cannot pose as the user's address.
    direct = _from(client, "192.0.2.50")
    assert [_try(direct, tenant.username, "wrong", **home) for _ in range(11)] == [401] * 10 + [429]
    assert _try(proxy, tenant.username, USER_PASSWORD, **home) == 200


def test_trusted_proxies_must_be_addresses_or_networks():
    assert Settings(trusted_proxies="10.0.0.0/8, 127.0.0.1").trusted_proxies == [
        "10.0.0.0/8",
        "127.0.0.1",
    ]
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="proxy.example")
