"""utils.deps: who a token names, what it may do, and which client it acts on."""

from __future__ import annotations

from datetime import timedelta

from jose import jwt

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, credential_login, login
from utils.db import as_utc
from utils.security import ALGORITHM

ME = "/api/users/me"


def _bearer(response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_deleted_credentials_tokens_answer_401(client, tenant):
    made = client.post("/api/users/me/credentials", json={}, headers=tenant.headers).json()
    token = _bearer(credential_login(client, made["client_id"], made["client_secret"]))
    assert client.get("/api/campaigns", headers=token).status_code == 200
    gone = client.delete(f"/api/users/me/credentials/{made['client_id']}", headers=tenant.headers)
    assert gone.status_code == 204
    answer = client.get("/api/campaigns", headers=token)
    assert answer.status_code == 401 and "credential" in answer.json()["detail"]


def test_a_credential_logged_out_revokes_its_tokens_only(client, tenant):
    made = client.post("/api/users/me/credentials", json={}, headers=tenant.headers).json()
    token = _bearer(credential_login(client, made["client_id"], made["client_secret"]))
    assert client.post("/api/auth/logout", headers=token).status_code == 204
    assert client.get("/api/campaigns", headers=token).status_code == 401
    assert client.get("/api/campaigns", headers=tenant.headers).status_code == 200
    fresh = _bearer(credential_login(client, made["client_id"], made["client_secret"]))
    assert client.get("/api/campaigns", headers=fresh).status_code == 200


def test_a_token_of_a_user_deleted_and_made_again_answers_401(client, admin_headers, tenant):
    assert client.delete(f"/api/users/{tenant.username}", headers=admin_headers).status_code == 204
    again = {"username": tenant.username, "password": USER_PASSWORD, "client_id": tenant.client_id}
    assert client.post("/api/users", json=again, headers=admin_headers).status_code == 201
    assert client.get(ME, headers=tenant.headers).status_code == 401
    assert client.get(ME, headers=login(client, tenant.username, USER_PASSWORD)).is_success


def test_a_token_naming_another_version_answers_401(client, tenant):
    me = client.get(ME, headers=tenant.headers).json()
    key = client.app.state.secret_key
    claims = jwt.decode(tenant.headers["Authorization"].split()[1], key, algorithms=[ALGORITHM])
    for change in ({"ver": claims["ver"] + 1}, {"uid": "another"}, {"cred": "okc_none"}):
        forged = jwt.encode({**claims, **change}, key, algorithm=ALGORITHM)
        answer = client.get(ME, headers={"Authorization": f"Bearer {forged}"})
        assert answer.status_code == 401, (change, answer.text)
    assert me["username"] == tenant.username


def test_scopes_are_checked_and_narrowed_by_the_user(client, make_tenant):
    reader = make_tenant(scopes=("read",))
    assert client.get("/api/campaigns", headers=reader.headers).status_code == 200
    made = client.post(
        "/api/campaigns", json={"name": "x", "platform": "google"}, headers=reader.headers
    )
    assert made.status_code == 403 and made.json()["detail"] == "Missing scope: write"
    # asking for a scope the user does not hold gives a token without it
    token = _bearer(
        client.post(
            "/api/auth/token",
            data={"username": reader.username, "password": USER_PASSWORD, "scope": "read write"},
        )
    )
    assert client.get(ME, headers=token).json()["scopes"] == ["read"]


def test_an_admin_token_narrowed_to_read_reads_every_client_but_writes_none(client, tenant):
    token = _bearer(
        client.post(
            "/api/auth/token",
            data={"username": "admin", "password": ADMIN_PASSWORD, "scope": "read"},
        )
    )
    listed = client.get(f"/api/campaigns?client_id={tenant.client_id}", headers=token)
    assert listed.status_code == 200
    body = {"name": "x", "platform": "google"}
    made = client.post(f"/api/campaigns?client_id={tenant.client_id}", json=body, headers=token)
    assert made.status_code == 403
    assert client.get("/api/campaigns?client_id=nope", headers=token).status_code == 404


def test_a_user_of_no_client_acts_on_none(client, tenant):
    """The API keeps every non-admin in a client; a user document left without one (edited
    in the database) gets no tenant rather than every client's data."""
    store = client.app.state.store
    store.run(
        lambda: store.collection("users").update(
            {"username": tenant.username}, {"$set": {"client_id": None}}
        )
    )
    answer = client.get("/api/campaigns", headers=tenant.headers)
    assert answer.status_code == 403 and "no client" in answer.json()["detail"]


def test_no_token_or_a_bad_one_answers_401_with_the_scheme(client):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = client.get("/api/campaigns", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"


def test_the_admin_scope_alone_grants_every_operation_on_every_client(client, tenant):
    token = _bearer(
        client.post(
            "/api/auth/token",
            data={"username": "admin", "password": ADMIN_PASSWORD, "scope": "admin"},
        )
    )
    listed = client.get(f"/api/campaigns?client_id={tenant.client_id}", headers=token)
    assert listed.status_code == 200
    body = {"name": "x", "platform": "google"}
    made = client.post(f"/api/campaigns?client_id={tenant.client_id}", json=body, headers=token)
    assert made.status_code == 201, made.text
    assert made.json()["client_id"] == tenant.client_id


def test_a_user_stored_without_a_token_version_keeps_its_tokens(client, tenant):
    """A user document without `token_version` (never revoked) reads as version 0, the
    version its tokens were issued with."""
    store = client.app.state.store
    store.run(
        lambda: store.collection("users").update(
            {"username": tenant.username}, {"$unset": {"token_version": ""}}
        )
    )
    assert client.get(ME, headers=tenant.headers).status_code == 200
    assert client.get(ME, headers=login(client, tenant.username, USER_PASSWORD)).is_success


def test_a_credential_stops_working_at_its_expiry(client, tenant, monkeypatch):
    import utils.deps

    made = client.post(
        "/api/users/me/credentials", json={"expires_in_minutes": 5}, headers=tenant.headers
    ).json()
    token = _bearer(credential_login(client, made["client_id"], made["client_secret"]))
    store = client.app.state.store
    stored = store.run(lambda: store.collection("credentials").get({"_id": made["client_id"]}))
    ends = as_utc(stored["expires_at"])
    for now, answer in ((ends - timedelta(milliseconds=1), 200), (ends, 401)):
        monkeypatch.setattr(utils.deps, "utcnow", lambda now=now: now)
        assert client.get("/api/campaigns", headers=token).status_code == answer, now


def test_a_client_id_query_is_at_most_64_characters(client, admin_headers):
    for length, answer in ((64, 404), (65, 422)):
        got = client.get(f"/api/campaigns?client_id={'x' * length}", headers=admin_headers)
        assert got.status_code == answer, got.text
    assert "client_id" in got.text


def test_a_credential_token_without_a_version_counts_as_version_0(client, tenant):
    """A credential's token issued before credential versions (no `cver`) holds until the
    credential is first logged out."""
    made = client.post("/api/users/me/credentials", json={}, headers=tenant.headers).json()
    token = _bearer(credential_login(client, made["client_id"], made["client_secret"]))
    key = client.app.state.secret_key
    claims = jwt.decode(token["Authorization"].split()[1], key, algorithms=[ALGORITHM])
    del claims["cver"]
    older = {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=ALGORITHM)}"}
    assert client.get("/api/campaigns", headers=older).status_code == 200
    assert client.post("/api/auth/logout", headers=token).status_code == 204
    assert client.get("/api/campaigns", headers=older).status_code == 401
