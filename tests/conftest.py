"""Shared fixtures: every API test runs once per database backend.

Backends: `mongomock` (in memory) and `embedded` (litemongo files under a temp dir) always;
`mongodb` too when MONGODB_URI points at a real server (each test then uses its own database).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fast import create_app
from utils.settings import Settings

ADMIN_PASSWORD = "admin-test-password"
USER_PASSWORD = "user-test-password"


def _backends() -> list[str]:
    backends = ["mongomock", "embedded"]
    if os.environ.get("MONGODB_URI", "").startswith(("mongodb://", "mongodb+srv://")):
        backends.append("mongodb")
    return backends


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def make_settings(backend: str, data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test server on `backend`, with cheap password hashing."""
    uri = {
        "mongomock": "mongomock://",
        "embedded": "",
        "mongodb": os.environ.get("MONGODB_URI", ""),
    }[backend]
    values: dict[str, object] = {
        "mongodb_uri": uri or None,
        "mongodb_db": f"oktopus_test_{uuid.uuid4().hex[:12]}"
        if backend == "mongodb"
        else "oktopus",
        "data_dir": data_dir,
        "secret_key": "test-signing-key-" + uuid.uuid4().hex,
        "admin_password": ADMIN_PASSWORD,
        "password_hash_memory_kib": 1024,
        "cors_origins": [],
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, tmp_path / "data")
    yield settings
    if backend == "mongodb":
        import pymongo

        pymongo.MongoClient(settings.mongodb_uri).drop_database(settings.mongodb_db)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    """Authorization headers for a password login (asserting it works)."""
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


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
