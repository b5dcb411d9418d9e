"""GET /api/states/{id}/insights: the analysis, tenant isolation, and narration by a fake model.

The fake model is an OpenAI-compatible chat-completions server on a loopback port whose path
prefix picks its behaviour: /ok answers, /error answers 500, /slow answers too late.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

API_KEY = "sk-test-narration-key-0123456789"
NARRATIVE = "Search carries the run; move budget from Display."
SLOW_SECONDS = 3.0


class FakeModel(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        FakeModel.requests.append(
            {"path": self.path, "authorization": self.headers.get("Authorization"), "body": body}
        )
        if self.path == "/slow/chat/completions":
            time.sleep(SLOW_SECONDS)
        if self.path == "/trickle/chat/completions":
            self._trickle()
        elif self.path == "/error/chat/completions":
            self._answer(500, {"error": {"message": "model overloaded"}})
        elif self.path in ("/ok/chat/completions", "/slow/chat/completions"):
            message = {"role": "assistant", "content": f"  {NARRATIVE}\n"}
            self._answer(200, {"choices": [{"index": 0, "message": message}]})
        elif self.path == "/empty/chat/completions":
            self._answer(200, {"choices": []})
        else:
            self._answer(404, {"error": "unknown path"})

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout case)

    def _trickle(self) -> None:
        """Headers at once, then the body one byte every 0.2 s: each read is quick, the whole
        answer is not."""
        data = json.dumps({"choices": [{"message": {"content": NARRATIVE}}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for byte in data[: int(SLOW_SECONDS / 0.2)]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is about Oktopus."""


@pytest.fixture(scope="module")
def fake_model() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def use_model(client, base_url: str | None, timeout: float = 0.5) -> None:
    """Point the running app at the fake model (or at none) with a short timeout."""
    current = client.app.state.settings
    client.app.state.settings = current.model_copy(
        update={
            "llm_api_key": SecretStr(API_KEY) if base_url else None,
            "llm_base_url": base_url or current.llm_base_url,
            "llm_timeout_seconds": timeout,
        }
    )


@pytest.fixture
def run_state(client, tenant):
    """A state with two campaigns, advanced three timesteps with metrics: Search beats Display."""
    ids = []
    for name in ("Display", "Search"):
        made = client.post(
            "/api/campaigns", json={"name": name, "platform": "google"}, headers=tenant.headers
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    # Pacing keeps Display above its floor after three steps, so a shift is still possible.
    body = {"campaign_ids": ids, "budget": 10_000, "timesteps": 10, "seed": 3, "step": 0.1}
    state = client.post("/api/states", json=body, headers=tenant.headers).json()
    for t in range(3):
        budgets = client.get(f"/api/states/{state['id']}/budget", headers=tenant.headers).json()[
            "budgets"
        ]
        metrics = [
            {
                "campaign_id": cid,
                "spend": budgets[cid],
                "clicks": budgets[cid],
                "conversions": budgets[cid] * rate,
                "revenue": budgets[cid] * roas,
            }
            for cid, rate, roas in ((ids[0], 0.01, 1.2), (ids[1], 0.05, 3.0))
        ]
        posted = client.post(
            f"/api/states/{state['id']}/metrics",
            json={"timestep": t, "metrics": metrics},
            headers=tenant.headers,
        )
        assert posted.status_code == 200, posted.text
        assert (
            client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).status_code
            == 200
        )
    return state["id"], ids


def test_insights_analyse_the_history(client, tenant, run_state):
    state_id, (display, search) = run_state
    response = client.get(f"/api/states/{state_id}/insights", headers=tenant.headers)
    assert response.status_code == 200, response.text
    insights = response.json()
    assert insights["state_id"] == state_id
    assert insights["timesteps_analyzed"] == 3
    by_name = {c["name"]: c for c in insights["campaigns"]}
    assert by_name["Search"]["roas"] == pytest.approx(3.0)
    assert by_name["Display"]["cpa"] == pytest.approx(100.0)
    assert by_name["Search"]["conversion_rate"] == pytest.approx(0.05)
    assert by_name["Search"]["learning"]["observations"] == 3
    (shift,) = insights["recommendations"]
    assert (shift["from_campaign"], shift["to_campaign"]) == (display, search)
    assert "from Display to Search" in shift["text"]
    assert insights["narrative"] is None
    assert "LLM_API_KEY" in insights["narrative_error"]


def test_insights_are_tenant_scoped(
    client, tenant, other_tenant, make_tenant, admin_headers, run_state
):
    state_id, _ = run_state
    url = f"/api/states/{state_id}/insights"
    assert client.get(url, headers=other_tenant.headers).status_code == 404
    assert client.get("/api/states/nope/insights", headers=tenant.headers).status_code == 404
    assert client.get(url).status_code == 401
    as_admin = client.get(url, params={"client_id": tenant.client_id}, headers=admin_headers)
    assert as_admin.status_code == 200
    elsewhere = client.get(url, params={"client_id": other_tenant.client_id}, headers=admin_headers)
    assert elsewhere.status_code == 404
    writer = make_tenant(scopes=("write",))
    assert client.get(url, headers=writer.headers).status_code == 403


def test_narrative_from_the_model(client, tenant, run_state, fake_model, caplog):
    state_id, _ = run_state
    use_model(client, fake_model + "/ok")
    FakeModel.requests.clear()
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"/api/states/{state_id}/insights", headers=tenant.headers)
    assert response.status_code == 200
    insights = response.json()
    assert insights["narrative"] == NARRATIVE
    assert insights["narrative_error"] is None
    (sent,) = FakeModel.requests
    assert sent["authorization"] == f"Bearer {API_KEY}"
    assert sent["body"]["model"] == client.app.state.settings.llm_model
    analysis = json.loads(sent["body"]["messages"][-1]["content"])
    assert analysis["recommendations"] == insights["recommendations"]
    assert API_KEY not in response.text and API_KEY not in caplog.text


def test_model_errors_leave_the_analysis_alone(client, tenant, run_state, fake_model, caplog):
    state_id, _ = run_state
    cases = [
        (fake_model + "/error", "HTTP 500"),
        (fake_model + "/empty", "no text"),
        (fake_model + "/missing", "HTTP 404"),
        ("http://127.0.0.1:9", "could not be reached"),  # the discard port: nothing listens
    ]
    for base_url, expected in cases:
        use_model(client, base_url)
        with caplog.at_level(logging.DEBUG):
            response = client.get(f"/api/states/{state_id}/insights", headers=tenant.headers)
        assert response.status_code == 200
        insights = response.json()
        assert insights["narrative"] is None
        assert expected in insights["narrative_error"], base_url
        assert insights["recommendations"]
        assert API_KEY not in response.text
    assert API_KEY not in caplog.text


@pytest.mark.parametrize(
    ("path", "within"),
    [("/slow", SLOW_SECONDS), ("/trickle", SLOW_SECONDS / 2)],
    ids=["silent", "trickling"],
)
def test_model_timeout_answers_in_time(client, tenant, run_state, fake_model, path, within):
    """A silent model, and one trickling its answer byte by byte: both cut off at 0.5 s."""
    state_id, _ = run_state
    use_model(client, fake_model + path, timeout=0.5)
    started = time.monotonic()
    response = client.get(f"/api/states/{state_id}/insights", headers=tenant.headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["narrative"] is None
    assert "within 0.5 s" in response.json()["narrative_error"]
    assert elapsed < within


def test_me_tells_client_users_their_currency(client, tenant, admin_headers):
    client.patch(
        f"/api/clients/{tenant.client_id}", json={"currency": "USD"}, headers=admin_headers
    )
    me = client.get("/api/users/me", headers=tenant.headers).json()
    assert me["username"] == tenant.username
    assert me["client"]["currency"] == "USD" and me["client"]["id"] == tenant.client_id
    assert me["is_admin"] is False and "read" in me["scopes"]
    admin = client.get("/api/users/me", headers=admin_headers).json()
    assert admin["is_admin"] is True and admin["client"] is None
    assert client.get("/api/users/me").status_code == 401


def test_insights_answer_when_a_marginal_return_is_beyond_the_float_range(client, tenant):
    """Accepted metrics (subnormal spends earning up to 1e12) whose marginal return exceeds
    every float: 200, with that figure null."""
    ids = []
    for name in ("Tiny", "Steady"):
        made = client.post(
            "/api/campaigns", json={"name": name, "platform": "google"}, headers=tenant.headers
        )
        ids.append(made.json()["id"])
    body = {"campaign_ids": ids, "budget": 1000, "timesteps": 10, "seed": 1}
    state = client.post("/api/states", json=body, headers=tenant.headers).json()["id"]
    tiny = [5e-324, 1e-320, 1e-315, 1e-310, 1e-305]
    earned = [1e-12, 1e-6, 1.0, 1e6, 1e12]
    for t, (spend, revenue) in enumerate(zip(tiny, earned, strict=True)):
        metrics = [
            {"campaign_id": ids[0], "spend": spend, "revenue": revenue},
            {"campaign_id": ids[1], "spend": 50 + t, "revenue": 100 + t},
        ]
        posted = client.post(
            f"/api/states/{state}/metrics",
            json={"timestep": t, "metrics": metrics},
            headers=tenant.headers,
        )
        assert posted.status_code == 200, posted.text
        assert client.post(f"/api/states/{state}/next", headers=tenant.headers).status_code == 200
    response = client.get(f"/api/states/{state}/insights", headers=tenant.headers)
    assert response.status_code == 200, response.text
    by_name = {c["name"]: c for c in response.json()["campaigns"]}
    assert by_name["Tiny"]["marginal_return"] is None
    assert by_name["Steady"]["marginal_return"] > 0
