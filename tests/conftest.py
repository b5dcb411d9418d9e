"""Shared fixtures: every API test runs once per database backend.

Backends: `embedded` (litemongo files under a temp dir, what a user gets by default) and
`mongodb`, a real MongoDB wire-protocol server: SecantusDB started once per test process on a
free loopback port (in memory), or the server MONGODB_URI names when it points at one. Each
test on it uses a database of its own, dropped at the end. `mongomock://` stays for the few
single-backend tests that check something other than persistence (pages, docs, settings).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from fast import create_app
from tests.mongodb_server import free_port, secantus_server
from utils.settings import Settings

# Property-based tests explore the same examples on every run and machine: a failure is
# reproducible from the test name alone, and CI never fails on a draw nobody can repeat.
hypothesis_settings.register_profile("oktopus", derandomize=True, database=None, deadline=None)
hypothesis_settings.load_profile("oktopus")

ADMIN_PASSWORD = "admin-test-password"
USER_PASSWORD = "user-test-password"


BACKENDS = ["embedded", "mongodb"]
# A MONGODB_URI naming a server (a mongod of your own) replaces the SecantusDB test server.
_GIVEN_SERVER = os.environ.get("MONGODB_URI", "")
if not _GIVEN_SERVER.startswith(("mongodb://", "mongodb+srv://")):
    _GIVEN_SERVER = ""
_server_uri: str | None = None
# Every database this process named on the server, dropped when the session ends (tests that
# build settings of their own included), so a mongod of your own is left as it was.
_databases: set[str] = set()


@pytest.fixture(scope="session")
def mongodb_server() -> Iterator[str]:
    """The URI of a real MongoDB wire-protocol server for this test process.

    SecantusDB on a free loopback port with in-memory storage, started at the first test that
    needs it and stopped at the end of the session, failed tests or not."""
    global _server_uri
    if _GIVEN_SERVER:
        _server_uri = _GIVEN_SERVER
        try:
            yield _GIVEN_SERVER
        finally:
            for name in sorted(_databases):
                drop_database(name)
            _server_uri = None
        return
    with secantus_server() as uri:
        _server_uri = uri
        try:
            yield uri
            for name in sorted(_databases):
                drop_database(name)
        finally:
            _server_uri = None


def server_uri() -> str:
    """The running test server's URI (the `mongodb_server` fixture must be active)."""
    assert _server_uri, "the mongodb_server fixture is not active"
    return _server_uri


def new_database(prefix: str = "oktopus_test") -> str:
    """A new database name on the real server, dropped at the end of the session at the latest."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _databases.add(name)
    return name


def drop_database(name: str) -> None:
    """Drop one test database on the real server."""
    import pymongo

    _databases.discard(name)
    client = pymongo.MongoClient(server_uri())
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "mongodb":
        request.getfixturevalue("mongodb_server")
    return request.param


def make_settings(backend: str, data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test server on `backend`, with cheap password hashing."""
    uri = {
        "mongomock": "mongomock://",
        "embedded": "",
        "mongodb": server_uri() if backend == "mongodb" else "",
    }[backend]
    values: dict[str, object] = {
        "mongodb_uri": uri or None,
        "mongodb_db": new_database() if backend == "mongodb" else "oktopus",
        "data_dir": data_dir,
        "secret_key": "test-signing-key-" + uuid.uuid4().hex,
        "admin_password": ADMIN_PASSWORD,
        "password_hash_memory_kib": 1024,
        "cors_origins": [],
        "decision_workers": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, tmp_path / "data")
    yield settings
    if backend == "mongodb":
        drop_database(settings.mongodb_db)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    """Authorization headers for a password login (asserting it works)."""
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def credential_login(client: TestClient, client_id: str, client_secret: str):
    """The token endpoint's answer to an API credential's client_credentials login."""
    return client.post(
        "/api/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )


def client_user(http: TestClient, username: str) -> dict[str, str]:
    """A new client (tenant) with one user, made by the admin over `http` (a TestClient, or
    an httpx client of a live server): the user's authorization headers."""
    admin = login(http, "admin", ADMIN_PASSWORD)
    made = http.post("/api/clients", json={"name": f"Client of {username}"}, headers=admin)
    assert made.status_code == 201, made.text
    user = {"username": username, "password": USER_PASSWORD, "client_id": made.json()["id"]}
    made = http.post("/api/users", json=user, headers=admin)
    assert made.status_code == 201, made.text
    return login(http, username, USER_PASSWORD)


@pytest.fixture
def admin_headers(client: TestClient) -> dict[str, str]:
    return login(client, "admin", ADMIN_PASSWORD)


@dataclass
class TenantUser:
    """A client (tenant) with one user, and that user's auth headers."""

    client_id: str
    username: str
    headers: dict[str, str]


@pytest.fixture
def make_tenant(client: TestClient, admin_headers: dict[str, str]) -> Callable[..., TenantUser]:
    """Factory: a new client and a user of it holding `scopes`."""
    counter = iter(range(1_000_000))

    def factory(scopes: tuple[str, ...] = ("read", "write", "me")) -> TenantUser:
        n = next(counter)
        created = client.post("/api/clients", json={"name": f"Client {n}"}, headers=admin_headers)
        assert created.status_code == 201, created.text
        client_id = created.json()["id"]
        username = f"user{n}"
        made = client.post(
            "/api/users",
            json={
                "username": username,
                "password": USER_PASSWORD,
                "client_id": client_id,
                "scopes": list(scopes),
            },
            headers=admin_headers,
        )
        assert made.status_code == 201, made.text
        return TenantUser(client_id, username, login(client, username, USER_PASSWORD))

    return factory


@pytest.fixture
def tenant(make_tenant: Callable[..., TenantUser]) -> TenantUser:
    return make_tenant()


@pytest.fixture
def other_tenant(make_tenant: Callable[..., TenantUser]) -> TenantUser:
    return make_tenant()


# A tenant's campaigns and run states, made through the API (the state tests and many others).


def make_campaigns(client, headers, n=3, **fields):
    ids = []
    for k in range(n):
        response = client.post(
            "/api/campaigns",
            json={"name": f"campaign {k}", "platform": "google", **fields},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def make_state(client, headers, ids, **fields):
    body = {"campaign_ids": ids, "budget": 3000, "timesteps": 10, "seed": 7, **fields}
    return client.post("/api/states", json=body, headers=headers)


def created_state(client, headers, ids, **fields) -> dict:
    """`make_state` that must succeed: the created state's document."""
    made = make_state(client, headers, ids, **fields)
    assert made.status_code == 201, made.text
    return made.json()


@pytest.fixture
def campaigns(client, tenant):
    return make_campaigns(client, tenant.headers)


@pytest.fixture
def state(client, tenant, campaigns):
    response = make_state(client, tenant.headers, campaigns)
    assert response.status_code == 201, response.text
    return response.json()


@dataclass
class LiveServer:
    """A real `uvicorn fast:app` process on a loopback port."""

    url: str
    process: subprocess.Popen
    data_dir: Path

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "server.log"


def start_server(data_dir: Path, env: dict[str, str], timeout: float = 30.0) -> LiveServer:
    """Start uvicorn with `env` added to the environment and wait until /api/health answers."""
    port = free_port()
    log_path = data_dir.parent / "server.log"
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "ADMIN_"))},
        "DATA_DIR": str(data_dir),
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        **env,
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "fast:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=Path(__file__).resolve().parent.parent,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, data_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.output()}")
        try:
            if httpx.get(server.url + "/api/health", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"server did not start in {timeout} s:\n{server.output()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture
def live_server(backend: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A real server on this test's backend, admin password ADMIN_PASSWORD."""
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD, "SECRET_KEY": "live-" + uuid.uuid4().hex}
    if backend == "mongomock":
        env["MONGODB_URI"] = "mongomock://"
    elif backend == "mongodb":
        env["MONGODB_URI"] = server_uri()
        env["MONGODB_DB"] = new_database("oktopus_live")
    server = start_server(tmp_path / "data", env)
    yield server
    stop_server(server)
    if backend == "mongodb":
        drop_database(env["MONGODB_DB"])


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium for the dashboard's browser tests (tests.browser_helpers)."""
    from tests.browser_helpers import chromium_browser

    with chromium_browser() as started:
        yield started


@pytest.fixture
def run(live_server: LiveServer) -> Iterator[tuple]:
    """A client (USD) with a user, three campaigns and a run advanced three timesteps, made
    on the live server for the dashboard's browser tests: (url, the user's API client, id)."""
    from tests.browser_helpers import client_run

    with client_run(live_server.url) as made:
        yield made
