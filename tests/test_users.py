"""Users (admin only) and API credentials, through HTTP on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, TenantUser, credential_login, login
from utils.db import utcnow

USERS = "/api/users"
CREDENTIALS = "/api/users/me/credentials"
USER_FIELDS = {"id", "username", "client_id", "scopes", "first_login", "created_at", "updated_at"}


def _new_client(client: TestClient, admin_headers: dict, name: str = "Acme") -> str:
    response = client.post("/api/clients", json={"name": name}, headers=admin_headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _create_user(client: TestClient, admin_headers: dict, **fields):
    body = {"username": "dana", "password": USER_PASSWORD, **fields}
    return client.post(USERS, json=body, headers=admin_headers)


def _usernames(client: TestClient, admin_headers: dict) -> list[str]:
    return [u["username"] for u in client.get(USERS, headers=admin_headers).json()["items"]]


def _stored(client: TestClient, collection: str, filter: dict) -> dict | None:
    return client.app.state.store.collection(collection).get(filter)


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


# --- API credentials ------------------------------------------------------------------------


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
