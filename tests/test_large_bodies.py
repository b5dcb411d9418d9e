"""Large JSON bodies are parsed and validated in a worker thread, and answered exactly as the
same body sent small (validated on the event loop)."""

from __future__ import annotations

import json
import threading

import pytest

import models.campaigns
from utils.bodies import INLINE_PARSE_BYTES

JSON = {"Content-Type": "application/json"}
# JSON allows whitespace after the value: the same body, made large enough for the thread.
PAD = b" " * (INLINE_PARSE_BYTES + 1)


def _both(client, path, body: bytes, headers: dict):
    small = client.post(path, content=body, headers={**headers, **JSON})
    large = client.post(path, content=body + PAD, headers={**headers, **JSON})
    return small, large


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/campaigns", {"name": "x", "platform": "google", "min_budget": 5, "max_budget": 1}),
        ("/api/campaigns", {"name": "x", "platform": "google", "colour": "red"}),
        ("/api/campaigns", {"name": True, "platform": "google", "max_budget": True}),
        ("/api/campaigns", {"name": "x", "platform": "google", "max_budget": 1e400}),
        ("/api/campaigns", ["not", "an", "object"]),
        ("/api/allocate", {"prices_a": [1, "x", 3], "prices_b": [1, 2]}),
        ("/api/allocate", {"prices_a": [1.0, 1.2, 1.1], "prices_b": [1.3, 1.35, 1.25]}),
        ("/api/allocate", {"prices_a": [1.5] * 20_000, "prices_b": [1.0] * 20_000}),
        ("/api/states", {"campaign_ids": [], "budget": -1}),
        ("/api/optimize/fit", {"rows": []}),
        ("/api/optimize/fit", {"rows": [{"date": "2024-01-01", "spend": [1]}]}),
    ],
)
def test_a_large_body_answers_as_the_same_body_sent_small(client, tenant, path, body):
    small, large = _both(client, path, json.dumps(body).encode(), tenant.headers)
    assert small.status_code in (200, 422), small.text
    assert (large.status_code, large.json()) == (small.status_code, small.json())


def test_a_large_body_is_created_like_a_small_one(client, tenant):
    body = {"name": "Search", "platform": "google", "min_budget": 1.5, "max_budget": 9}
    small = client.post("/api/campaigns", json=body, headers=tenant.headers)
    body["name"] = "Reels"
    large = client.post(
        "/api/campaigns",
        content=json.dumps(body).encode() + PAD,
        headers={**tenant.headers, **JSON},
    )
    assert (small.status_code, large.status_code) == (201, 201), large.text
    keep = ("platform", "min_budget", "max_budget", "status", "external_id")
    assert {k: large.json()[k] for k in keep} == {k: small.json()[k] for k in keep}
    assert large.json()["name"] == "Reels"


def test_large_bodies_keep_the_answers_of_surrogates_tokens_and_states(client, tenant):
    lone = b'{"name": "a\\ud800b", "platform": "google"}'
    small, large = _both(client, "/api/campaigns", lone, tenant.headers)
    assert small.status_code == 422 and large.json() == small.json()
    # without a token, a bad body still answers 401 first
    small, large = _both(client, "/api/campaigns", b'{"name": 1}', {})
    assert (small.status_code, large.status_code) == (401, 401)
    assert large.json() == small.json()
    ids = [
        client.post(
            "/api/campaigns", json={"name": n, "platform": "google"}, headers=tenant.headers
        ).json()["id"]
        for n in ("a", "b")
    ]
    state = client.post(
        "/api/states", json={"campaign_ids": ids, "budget": 100}, headers=tenant.headers
    ).json()
    url = f"/api/states/{state['id']}/next"
    for body in (b'{"expected_time": "x"}', b'{"expected_time": 7}'):
        small, large = _both(client, url, body, tenant.headers)
        assert small.status_code in (409, 422), small.text
        assert (large.status_code, large.json()) == (small.status_code, small.json())
    # an optional body sent as null advances, small or large
    small, large = _both(client, url, b"null", tenant.headers)
    assert (small.status_code, large.status_code) == (200, 200), large.text
    assert (small.json()["current_time"], large.json()["current_time"]) == (1, 2)


def test_a_large_body_is_validated_in_a_worker_thread(client, tenant, monkeypatch):
    seen: list[str] = []
    check = models.campaigns._check_bounds

    def watched(low, high):
        seen.append(threading.current_thread().name)
        return check(low, high)

    monkeypatch.setattr(models.campaigns, "_check_bounds", watched)
    body = json.dumps({"name": "x", "platform": "google", "min_budget": 5, "max_budget": 1})
    small, large = _both(client, "/api/campaigns", body.encode(), tenant.headers)
    assert small.status_code == large.status_code == 422
    small_threads, large_threads = seen[:1], seen[1:]
    assert "AnyIO worker thread" not in small_threads
    assert large_threads == ["AnyIO worker thread"]
