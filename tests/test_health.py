"""GET /api/health pings the database: 200 with backend and version, 503 when it cannot."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.conftest import free_port, make_settings
from utils.db import Store, StoreUnavailable
from utils.settings import Settings
from utils.version import VERSION

SECRET_IN_URI = "s3cret-db-password"


def _unreachable_settings(tmp_path) -> Settings:
    """A real MongoDB URI, with credentials, to a loopback port nothing listens on."""
    uri = (
        f"mongodb://oktopus:{SECRET_IN_URI}@127.0.0.1:{free_port()}/"
        "?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    )
    return make_settings("mongomock", tmp_path, mongodb_uri=uri)


@pytest.fixture
def unreachable(client: TestClient, tmp_path) -> Iterator[TestClient]:
    """The running app, its store swapped for one whose server does not answer."""
    healthy = client.app.state.store
    dead = Store(_unreachable_settings(tmp_path))
    client.app.state.store = dead
    yield client
    client.app.state.store = healthy
    dead.close()


def test_health_answers_ok_with_backend_and_version(client, settings):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": settings.backend, "version": VERSION}
    assert settings.backend in ("mongomock", "embedded", "mongodb")


def test_health_needs_no_token(client):
    response = client.get("/api/health", headers={"Authorization": "Bearer rubbish"})
    assert response.status_code == 200


def test_health_answers_503_when_the_database_is_unreachable(unreachable, caplog):
    caplog.set_level(logging.DEBUG)
    response = unreachable.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "backend": "mongodb", "version": VERSION}
    assert SECRET_IN_URI not in caplog.text


def test_other_routes_answer_503_not_500_when_the_database_is_unreachable(unreachable, caplog):
    caplog.set_level(logging.DEBUG)
    response = unreachable.post("/api/auth/token", data={"username": "a", "password": "b"})
    assert response.status_code == 503
    assert response.json() == {"detail": "Database unavailable"}
    assert SECRET_IN_URI not in response.text
    assert SECRET_IN_URI not in caplog.text


def test_health_answers_503_when_the_ping_fails(client, monkeypatch):
    def refuse() -> None:
        raise StoreUnavailable("ping refused")

    monkeypatch.setattr(client.app.state.store, "ping", refuse)
    assert client.get("/api/health").status_code == 503
    monkeypatch.undo()
    assert client.get("/api/health").status_code == 200


def test_server_refuses_to_start_without_its_database(tmp_path, caplog):
    """Start-up creates indexes and the admin: without a database it stops, loudly."""
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreUnavailable), TestClient(create_app(_unreachable_settings(tmp_path))):
        pass
    assert SECRET_IN_URI not in caplog.text


def test_the_start_up_log_says_where_the_embedded_store_keeps_its_files(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="oktopus")
    settings = make_settings("embedded", tmp_path / "data")
    with TestClient(create_app(settings)):
        pass
    assert str((tmp_path / "data" / "store").resolve()) in caplog.text
