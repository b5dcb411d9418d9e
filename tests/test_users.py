"""Users (admin only), through HTTP on every backend: CRUD, admin-only routes, pagination.

API credentials are in tests/test_credentials.py.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.auth_helpers import CREDENTIALS
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, login
from tests.user_helpers import USERS, _new_client, _stored

USER_FIELDS = {"id", "username", "client_id", "scopes", "first_login", "created_at", "updated_at"}


def _create_user(client: TestClient, admin_headers: dict, **fields):
    body = {"username": "dana", "password": USER_PASSWORD, **fields}
    return client.post(USERS, json=body, headers=admin_headers)


def _usernames(client: TestClient, admin_headers: dict) -> list[str]:
    return [u["username"] for u in client.get(USERS, headers=admin_headers).json()["items"]]


# --- CRUD -----------------------------------------------------------------------------------


def test_admin_creates_reads_updates_and_deletes_a_user(client, admin_headers):
    acme = _new_client(client, admin_headers)
    created = _create_user(client, admin_headers, client_id=acme, scopes=["write", "read"])
    assert created.status_code == 201
    user = created.json()
    assert set(user) == USER_FIELDS
    assert (user["username"], user["client_id"]) == ("dana", acme)
    assert user["scopes"] == ["read", "write"]
    assert user["first_login"] is False
    assert client.get(f"{USERS}/dana", headers=admin_headers).json() == user

    other = _new_client(client, admin_headers, "Globex")
    moved = client.patch(
        f"{USERS}/dana", json={"client_id": other, "scopes": ["read"]}, headers=admin_headers
    )
    assert moved.status_code == 200
    assert (moved.json()["client_id"], moved.json()["scopes"]) == (other, ["read"])
    assert moved.json()["created_at"] == user["created_at"]
    assert client.get(f"{USERS}/dana", headers=admin_headers).json() == moved.json()

    assert client.delete(f"{USERS}/dana", headers=admin_headers).status_code == 204
    assert client.get(f"{USERS}/dana", headers=admin_headers).status_code == 404
    assert client.delete(f"{USERS}/dana", headers=admin_headers).status_code == 404
    assert _usernames(client, admin_headers) == ["admin"]


def test_created_user_logs_in_with_the_default_scopes(client, admin_headers):
    acme = _new_client(client, admin_headers)
    assert _create_user(client, admin_headers, client_id=acme).json()["scopes"] == [
        "read",
        "write",
        "me",
    ]
    login(client, "dana", USER_PASSWORD)


def test_duplicate_scopes_are_stored_once_in_canonical_order(client, admin_headers):
    acme = _new_client(client, admin_headers)
    created = _create_user(client, admin_headers, client_id=acme, scopes=["me", "read", "me"])
    assert created.json()["scopes"] == ["read", "me"]


def test_an_admin_needs_no_client(client, admin_headers):
    created = _create_user(client, admin_headers, username="root2", scopes=["admin"])
    assert created.status_code == 201
    assert created.json()["client_id"] is None
    headers = login(client, "root2", USER_PASSWORD)
    assert client.get(USERS, headers=headers).status_code == 200


def test_password_is_stored_hashed_and_never_shown(client, admin_headers):
    acme = _new_client(client, admin_headers)
    created = _create_user(client, admin_headers, client_id=acme)
    assert USER_PASSWORD not in created.text
    stored = _stored(client, "users", {"username": "dana"})
    assert stored["password_hash"].startswith("$argon2")
    assert USER_PASSWORD not in str(stored)
    for response in (
        client.get(USERS, headers=admin_headers),
        client.get(f"{USERS}/dana", headers=admin_headers),
        client.patch(f"{USERS}/dana", json={"password": "changed-pass"}, headers=admin_headers),
    ):
        assert "password" not in response.text and "$argon2" not in response.text


def test_duplicate_username_answers_409(client, admin_headers, tenant):
    response = _create_user(
        client, admin_headers, username=tenant.username, client_id=tenant.client_id
    )
    assert response.status_code == 409
    assert tenant.username in response.json()["detail"]
    duplicate_admin = _create_user(client, admin_headers, username="admin", scopes=["admin"])
    assert duplicate_admin.status_code == 409
    assert _usernames(client, admin_headers) == ["admin", tenant.username]


def test_bad_bodies_answer_422_and_store_nothing(client, admin_headers):
    acme = _new_client(client, admin_headers)
    bad_bodies = [
        {"password": "short12"},
        {"password": "x" * 257},
        {"username": "ab"},
        {"username": "has space"},
        {"username": "me/credentials"},
        {"username": 42},
        {"scopes": []},
        {"scopes": ["superuser"]},
        {"scopes": "read"},
        {"client_id": "no-such-client"},
        {"client_id": None},
        {"client_id": ""},
        {"role": "admin"},
        {"password_hash": "$argon2id$forged"},
        {"first_login": True},
    ]
    for fields in bad_bodies:
        body = {"client_id": acme, **fields}
        response = _create_user(client, admin_headers, **body)
        assert response.status_code == 422, (fields, response.text)
        assert isinstance(response.json()["detail"], list | str)
    assert client.post(USERS, json={"username": "dana"}, headers=admin_headers).status_code == 422
    assert client.post(USERS, content=b"not json", headers=admin_headers).status_code == 422
    assert _usernames(client, admin_headers) == ["admin"]


def test_bad_updates_answer_422_and_change_nothing(client, admin_headers, tenant):
    before = client.get(f"{USERS}/{tenant.username}", headers=admin_headers).json()
    for body in [
        {"password": "short"},
        {"client_id": "no-such-client"},
        {"client_id": None},
        {"scopes": []},
        {"scopes": ["root"]},
        {"username": "renamed"},
        {"first_login": True},
    ]:
        response = client.patch(f"{USERS}/{tenant.username}", json=body, headers=admin_headers)
        assert response.status_code == 422, (body, response.text)
    assert client.get(f"{USERS}/{tenant.username}", headers=admin_headers).json() == before
    assert client.get(CREDENTIALS, headers=tenant.headers).status_code == 200


def test_unknown_user_answers_404(client, admin_headers):
    assert client.get(f"{USERS}/ghost", headers=admin_headers).status_code == 404
    patched = client.patch(f"{USERS}/ghost", json={"scopes": ["read"]}, headers=admin_headers)
    assert patched.status_code == 404
    assert patched.json() == {"detail": "User not found"}
    assert client.delete(f"{USERS}/ghost", headers=admin_headers).status_code == 404


def test_admin_cannot_delete_its_own_account(client, admin_headers):
    response = client.delete(f"{USERS}/admin", headers=admin_headers)
    assert response.status_code == 409
    login(client, "admin", ADMIN_PASSWORD)
    documented = client.app.openapi()["paths"]["/api/users/{username}"]["delete"]["responses"]
    assert "409" in documented


def test_moving_a_user_to_another_client_revokes_its_tokens(client, admin_headers, tenant):
    other = _new_client(client, admin_headers, "Globex")
    moved = client.patch(
        f"{USERS}/{tenant.username}", json={"client_id": other}, headers=admin_headers
    )
    assert moved.status_code == 200
    assert client.get(CREDENTIALS, headers=tenant.headers).status_code == 401


def test_a_null_client_id_takes_an_admin_out_of_its_client(client, admin_headers, tenant):
    """`"client_id": null` is applied as validated: the user, now an admin, belongs to no
    client and acts on every one; its credentials, made for the old client, are deleted."""
    credential = client.post(CREDENTIALS, json={}, headers=tenant.headers).json()
    kept = client.patch(
        f"{USERS}/{tenant.username}", json={"scopes": ["read", "me"]}, headers=admin_headers
    )
    assert kept.json()["client_id"] == tenant.client_id
    moved = client.patch(
        f"{USERS}/{tenant.username}",
        json={"client_id": None, "scopes": ["admin"]},
        headers=admin_headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["client_id"], moved.json()["scopes"]) == (None, ["admin"])
    assert client.get(f"{USERS}/{tenant.username}", headers=admin_headers).json() == moved.json()
    assert _stored(client, "credentials", {"_id": credential["client_id"]}) is None
    assert client.get(CREDENTIALS, headers=tenant.headers).status_code == 401
    me = client.get(f"{USERS}/me", headers=login(client, tenant.username, USER_PASSWORD)).json()
    assert (me["client_id"], me["is_admin"], me["client"]) == (None, True, None)


# --- admin only -----------------------------------------------------------------------------


def test_every_user_route_is_admin_only(client, make_tenant):
    everything = make_tenant(scopes=("read", "write", "me", "api", "cron"))
    for method, path, body in [
        ("GET", USERS, None),
        ("POST", USERS, {"username": "mallory", "password": USER_PASSWORD, "scopes": ["admin"]}),
        ("GET", f"{USERS}/{everything.username}", None),
        ("GET", f"{USERS}/admin", None),
        ("PATCH", f"{USERS}/{everything.username}", {"scopes": ["admin"]}),
        ("PATCH", f"{USERS}/admin", {"password": "taken-over!"}),
        ("DELETE", f"{USERS}/admin", None),
    ]:
        response = client.request(method, path, json=body, headers=everything.headers)
        assert response.status_code == 403, (method, path)
        assert response.json() == {"detail": "Missing scope: admin"}
    login(client, "admin", ADMIN_PASSWORD)
    assert client.get(CREDENTIALS, headers=everything.headers).status_code == 200


def test_user_routes_need_a_token(client):
    for method, path in [("GET", USERS), ("POST", USERS), ("GET", f"{USERS}/admin")]:
        assert client.request(method, path).status_code == 401


# --- pagination -----------------------------------------------------------------------------


def test_users_are_listed_by_name_one_page_at_a_time(client, admin_headers):
    acme = _new_client(client, admin_headers)
    for name in ["erin", "bob", "dave", "carl"]:
        assert _create_user(client, admin_headers, username=name, client_id=acme).status_code == 201
    page = client.get(f"{USERS}?limit=2&offset=1", headers=admin_headers).json()
    assert [u["username"] for u in page["items"]] == ["bob", "carl"]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    last = client.get(f"{USERS}?limit=2&offset=4", headers=admin_headers).json()
    assert [u["username"] for u in last["items"]] == ["erin"]
    beyond = client.get(f"{USERS}?offset=50", headers=admin_headers).json()
    assert (beyond["items"], beyond["total"]) == ([], 5)
    default = client.get(USERS, headers=admin_headers).json()
    assert (default["limit"], default["offset"], len(default["items"])) == (50, 0, 5)


def test_bad_page_parameters_answer_422(client, admin_headers):
    for query in ["limit=0", "limit=501", "offset=-1", "limit=x", "offset=10000000000000000000"]:
        assert client.get(f"{USERS}?{query}", headers=admin_headers).status_code == 422, query
