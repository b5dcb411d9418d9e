"""What the invalid-input tests share: raw JSON requests, a campaign and a state made in one
call, and every operation the app declares."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

JSON = {"Content-Type": "application/json"}


def _raw(client: TestClient, method: str, path: str, body: bytes, headers: dict):
    return client.request(method, path, content=body, headers={**headers, **JSON})


def _campaign(client: TestClient, headers: dict, name: str) -> str:
    made = client.post("/api/campaigns", json={"name": name, "platform": "google"}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _state(client: TestClient, headers: dict, campaign_ids: list[str]) -> str:
    made = client.post(
        "/api/states", json={"campaign_ids": campaign_ids, "budget": 1000}, headers=headers
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _operations(client: TestClient) -> Iterator[tuple[str, str, dict]]:
    for path, operations in client.app.openapi()["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation
