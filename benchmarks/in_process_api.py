"""The Oktopus app in process for the API benchmarks: Starlette's test client on the in-memory
store, with a known admin password and a cheap password hash (the benchmarks time other work)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from fast import create_app
from utils.settings import Settings

PASSWORD = "benchmark-admin-password"


@contextmanager
def in_process_client() -> Iterator[TestClient]:
    """A test client of a fresh app whose data lives in a temporary folder, removed after."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            mongodb_uri="mongomock://",
            data_dir=Path(folder),
            admin_password=PASSWORD,
            secret_key="benchmark-signing-key",
            password_hash_memory_kib=1024,
            cors_origins=[],
        )
        with TestClient(create_app(settings)) as client:
            yield client


def admin_headers(client: TestClient) -> dict[str, str]:
    """The admin's authorization headers."""
    token = client.post("/api/auth/token", data={"username": "admin", "password": PASSWORD})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}
