"""What the user and credential tests share: the users route, a client, a stored document."""

from __future__ import annotations

from fastapi.testclient import TestClient

USERS = "/api/users"


def _new_client(client: TestClient, admin_headers: dict, name: str = "Acme") -> str:
    response = client.post("/api/clients", json={"name": name}, headers=admin_headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _stored(client: TestClient, collection: str, filter: dict) -> dict | None:
    return client.app.state.store.collection(collection).get(filter)
