"""Request bodies: text that is not text, echoes of rejected input, and size limits."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.conftest import ADMIN_PASSWORD, client_user, login, make_settings

JSON = {"Content-Type": "application/json"}
LONE = b'"a\\ud800b"'


def _total(client: TestClient, path: str, headers: dict) -> int:
    return client.get(path, headers=headers).json()["total"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/campaigns", b'{"name": ' + LONE + b', "platform": "google"}', "name"),
        (
            "/api/campaigns",
            b'{"name": "x", "platform": "google", "external_id": ' + LONE + b"}",
            "external_id",
        ),
        ("/api/allocate", b'{"prices_a": [1, 2, ' + LONE + b'], "prices_b": [1, 2, 3]}', 2),
        ("/api/campaigns", b'{"name": "x", ' + LONE + b': 1, "platform": "google"}', "a\\ud800b"),
    ],
)
def test_a_lone_surrogate_answers_422_naming_the_field(client, tenant, path, body, field):
    before = _total(client, "/api/campaigns", tenant.headers)
    response = client.post(path, content=body, headers={**tenant.headers, **JSON})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == field
    assert "surrogate" in error["msg"]
    assert _total(client, "/api/campaigns", tenant.headers) == before
    # the connection goes on serving
    assert client.get("/api/health").status_code == 200


def test_a_surrogate_pair_is_a_character_and_is_stored(client, tenant):
    body = b'{"name": "smile \\ud83d\\ude00", "platform": "google"}'
    response = client.post("/api/campaigns", content=body, headers={**tenant.headers, **JSON})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "smile \U0001f600"


def test_a_state_name_with_a_lone_surrogate_answers_422(client, tenant):
    made = client.post(
        "/api/campaigns", json={"name": "A", "platform": "google"}, headers=tenant.headers
    )
    body = json.dumps({"campaign_ids": [made.json()["id"]], "budget": 100, "name": "s\ud800"})
    response = client.post("/api/states", content=body, headers={**tenant.headers, **JSON})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_a_422_never_echoes_a_password(client, admin_headers):
    body = {"username": "somebody", "password": "short7!"}
    response = client.post("/api/users", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert "short7!" not in response.text
    body = {"old_password": "whatever-it-was", "new_password": "tiny"}
    response = client.patch("/api/auth/account", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert "tiny" not in response.text and "whatever-it-was" not in response.text


def test_a_422_hides_secrets_inside_an_echoed_object(client, admin_headers):
    # A missing field echoes the whole body: the password in it stays hidden.
    body = {"password": "hunter2-hunter2", "client_id": None}
    response = client.post("/api/users", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert "hunter2" not in response.text


def test_a_422_cuts_long_inputs(client, tenant):
    name = "n" * 100_000
    response = client.post(
        "/api/campaigns", json={"name": name, "platform": "google"}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert len(response.content) < 2_000
    assert "100000 characters" in response.text
    rows = [{"campaign": "s", "date": "2024-01-01", "spend": 1}] * 5_000
    response = client.post("/api/allocate", json={"prices_a": rows}, headers=tenant.headers)
    assert response.status_code == 422
    assert len(response.content) < 5_000


@pytest.mark.parametrize("backend", ["mongomock"], indirect=True)
def test_bodies_over_the_limits_answer_413_naming_the_limit(tmp_path, backend):
    settings = make_settings(backend, tmp_path / "data", max_body_bytes=4096, max_upload_bytes=8192)
    with TestClient(create_app(settings)) as client:
        headers = client_user(client, "ana")
        big = {"name": "x" * 5000, "platform": "google"}
        response = client.post("/api/campaigns", json=big, headers=headers)
        assert response.status_code == 413
        assert "4096" in response.json()["detail"]
        assert _total(client, "/api/campaigns", headers) == 0

        # Streamed without a declared length: cut while it is read.
        def chunks():
            yield b'{"name": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'", "platform": "google"}'

        response = client.post("/api/campaigns", content=chunks(), headers={**headers, **JSON})
        assert response.status_code == 413

        csv = "date,campaign,spend,revenue\n" + "2024-01-01,s,1,2\n" * 300
        response = client.post("/api/optimize/fit", files={"file": ("a.csv", csv)}, headers=headers)
        # 5 KB: over the JSON limit only, so the CSV is read (and found too short to fit)
        assert response.status_code == 422, response.text
        assert "observations" in response.json()["detail"]
        csv = "date,campaign,spend,revenue\n" + "2024-01-01,s,1,2\n" * 600
        response = client.post("/api/optimize/fit", files={"file": ("a.csv", csv)}, headers=headers)
        assert response.status_code == 413
        assert "8192" in response.json()["detail"]


def _fit_rows_without_a_metric(size: int) -> bytes:
    """JSON rows for `POST /optimize/fit` just under `size` bytes: valid rows (validated in
    full), which the data reader then refuses for want of a conversions or revenue column."""
    start = date(2000, 1, 1)
    rows = [
        {"date": str(start + timedelta(days=i % 3000)), "campaign": f"c{i // 3000}", "spend": 7.5}
        for i in range(size // 58)
    ]
    body = json.dumps({"rows": rows}).encode()
    assert size - 100_000 < len(body) < size, len(body)
    return body


def test_health_answers_while_large_bodies_are_parsed_validated_and_refused(live_server):
    """Large bodies are refused unread (413), or parsed and validated off the event loop: a
    health check sent meanwhile is not held up behind them."""
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        headers = {**login(http, "admin", ADMIN_PASSWORD), **JSON}
        user = {**client_user(http, "ana"), **JSON}
        # just under the 2 MB default: read and parsed, then refused by validation (422)
        near_limit = json.dumps({"prices_a": [1.5] * 300_000, "prices_b": "x"}).encode()
        over_limit = b'{"prices_a": [' + b"1.5, " * 2_500_000 + b"1]}"
        # just under the limit and valid: validated in full, then read by the service
        valid_rows = _fit_rows_without_a_metric(2_000_000)
        valid_prices = json.dumps({"prices_a": [1.2] * 10_000, "prices_b": [1.1] * 10_000})
        sends = [
            ("/api/allocate", near_limit, headers),
            ("/api/optimize/fit", valid_rows, user),
            ("/api/allocate", over_limit, headers),
            ("/api/allocate", valid_prices.encode(), headers),
            ("/api/optimize/fit", valid_rows, user),
        ]
        answers: list[httpx.Response] = []

        def send_bodies() -> None:
            with httpx.Client(base_url=live_server.url, timeout=60) as other:
                for path, body, sent_headers in sends:
                    answers.append(other.post(path, content=body, headers=sent_headers))

        sender = threading.Thread(target=send_bodies)
        sender.start()
        waits = []
        while sender.is_alive():
            started = time.perf_counter()
            assert http.get("/api/health").status_code == 200
            waits.append(time.perf_counter() - started)
            time.sleep(0.01)
        sender.join()
    assert [answer.status_code for answer in answers] == [422, 422, 413, 200, 422]
    assert "2000000" in answers[2].json()["detail"]
    assert len(answers[0].content) < 5_000
    # the rows passed validation: what refused them is the reader, after it
    assert answers[1].json() == {"detail": "the data has no conversions column"}
    assert sum(answers[3].json()["allocation"]) == pytest.approx(1.0)
    # The stall this guards against held every request 6 to 11 s behind one 10 MB body; the
    # bound leaves room for a loaded machine (a health check alone has taken 2 s there).
    assert max(waits) < 5.0, waits


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/campaigns", "GET, POST"),
        ("PUT", "/api/campaigns/abc", "GET, PATCH, DELETE"),
        ("POST", "/api/states/abc", "GET, PATCH, DELETE"),
        ("GET", "/api/auth/token", "POST"),
    ],
)
def test_a_405_lists_every_method_of_the_path(client, admin_headers, method, path, allow):
    response = client.request(method, path, headers=admin_headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"detail": "Method Not Allowed"}


def test_a_body_that_is_not_utf8_answers_a_documented_400(client, tenant):
    body = b'{"name": "caf\xe9", "platform": "google"}'
    response = client.post("/api/campaigns", content=body, headers={**tenant.headers, **JSON})
    assert response.status_code == 400
    schema = client.get("/api/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)
