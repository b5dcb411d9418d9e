"""The cron run and the run's clock.

Due states advanced once, scope and credentials, a failing state among others, the command
line; pauses that stop the clock (concurrent `next` and reports:
tests/test_timestep_concurrency.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.conftest import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    client_user,
    credential_login,
    login,
    make_campaigns,
    make_settings,
    make_state,
)
from utils import cron
from utils.settings import get_settings


@pytest.fixture(params=[0, 1], ids=["decided-in-process", "decision-worker"])
def settings(backend, tmp_path, request):
    """This module's API tests run with decisions made in the API process and in a worker."""
    return make_settings(backend, tmp_path / "data", decision_workers=request.param)


@pytest.fixture
def decisions_in_workers_only(settings, monkeypatch):
    """With a decision worker, the API process's own `decide` raises: every decision the
    test sees was made in the worker."""
    import utils.decisions

    def not_here(*args: object) -> None:
        raise AssertionError("decided in the API process")

    if settings.decision_workers:
        monkeypatch.setitem(utils.decisions._TASKS, "decide", not_here)


def _past(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def test_cron_advances_due_states_once(
    client, tenant, make_tenant, admin_headers, decisions_in_workers_only
):
    ids = make_campaigns(client, tenant.headers, n=2)
    due = make_state(client, tenant.headers, ids, start_at=_past(25), timestep_hours=24).json()
    fresh = make_state(client, tenant.headers, ids, timestep_hours=24).json()
    paused = make_state(client, tenant.headers, ids, start_at=_past(25), timestep_hours=24).json()
    client.post(f"/api/states/{paused['id']}/pause", headers=tenant.headers)

    first = client.post("/api/timesteps/run", headers=admin_headers)
    assert first.status_code == 200, first.text
    outcome = first.json()
    assert [a["id"] for a in outcome["advanced"]] == [due["id"]]
    assert outcome["errors"] == [] and outcome["skipped"] == []
    second = client.post("/api/timesteps/run", headers=admin_headers).json()
    assert second["advanced"] == []
    doc = client.get(f"/api/states/{due['id']}", headers=tenant.headers).json()
    assert doc["current_time"] == 1
    history = client.get(f"/api/states/{due['id']}/history", headers=tenant.headers).json()
    assert history["items"][0]["unobserved"] == ids
    for other in (fresh, paused):
        doc = client.get(f"/api/states/{other['id']}", headers=tenant.headers).json()
        assert doc["current_time"] == 0


def test_a_pause_stops_the_runs_clock(client, tenant, admin_headers):
    """Timestep 0 of 1 h began 150 minutes ago and was paused at its 30th minute, two hours
    ago: on resume it has its other 30 minutes left, so cron does not advance it (nor the
    timesteps that would have ended while it was paused, each counted as spent in full)."""
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids, start_at=_past(2.5), timestep_hours=1)
    sid = state.json()["id"]
    paused = client.post(f"/api/states/{sid}/pause", headers=tenant.headers).json()
    assert paused["paused_at"] is not None
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    store = client.app.state.store
    store.collection("states").update({"_id": sid}, {"$set": {"paused_at": two_hours_ago}})
    resumed = client.post(f"/api/states/{sid}/resume", headers=tenant.headers).json()
    assert resumed["paused_at"] is None
    due = datetime.fromisoformat(resumed["next_due_at"])
    left = due - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30), left
    assert client.post("/api/timesteps/run", headers=admin_headers).json()["advanced"] == []
    advanced = client.post(f"/api/states/{sid}/next", headers=tenant.headers).json()
    assert datetime.fromisoformat(advanced["next_due_at"]) - due == timedelta(hours=1)


def test_cron_skips_a_state_resumed_after_the_run_listed_it(
    client, tenant, admin_headers, monkeypatch
):
    """A long cron run reads each state at its turn: one paused and resumed since the run
    listed it has its stopped time back (next_due_at moved on) and must wait for it."""
    import utils.timesteps.due

    ids = make_campaigns(client, tenant.headers, n=2)
    sid = make_state(client, tenant.headers, ids, start_at=_past(2.5), timestep_hours=1).json()
    sid = sid["id"]
    store = client.app.state.store
    list_due = utils.timesteps.due._due

    def listed_then_paused_and_resumed(*args, **kwargs):
        due = list_due(*args, **kwargs)
        later = datetime.now(UTC) + timedelta(minutes=30)
        store.collection("states").update(
            {"_id": sid}, {"$set": {"next_due_at": later}, "$inc": {"version": 1}}
        )
        return due

    monkeypatch.setattr(utils.timesteps.due, "_due", listed_then_paused_and_resumed)
    outcome = client.post("/api/timesteps/run", headers=admin_headers).json()
    assert outcome["advanced"] == [] and outcome["errors"] == []
    assert [row["id"] for row in outcome["skipped"]] == [sid]
    assert "no longer due" in outcome["skipped"][0]["reason"]
    assert client.get(f"/api/states/{sid}", headers=tenant.headers).json()["current_time"] == 0


def test_pausing_every_campaign_stops_the_runs_clock(client, tenant, admin_headers):
    """As a state pause does: all campaigns paused for two hours in the middle of a 1 h
    timestep leave it the rest of its time on resume, not two timesteps counted as spent."""
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids, start_at=_past(2.5), timestep_hours=1)
    sid = state.json()["id"]
    for cid in ids:
        client.patch(f"/api/campaigns/{cid}", json={"status": "paused"}, headers=tenant.headers)
    idle = client.get(f"/api/states/{sid}", headers=tenant.headers).json()
    assert idle["status"] == "active" and idle["paused_at"] is not None
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    client.app.state.store.collection("states").update(
        {"_id": sid}, {"$set": {"paused_at": two_hours_ago}}
    )
    client.patch(f"/api/campaigns/{ids[1]}", json={"status": "active"}, headers=tenant.headers)
    running = client.get(f"/api/states/{sid}", headers=tenant.headers).json()
    assert running["paused_at"] is None
    left = datetime.fromisoformat(running["next_due_at"]) - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30), left
    assert client.post("/api/timesteps/run", headers=admin_headers).json()["advanced"] == []


def test_a_pause_before_the_run_begins_does_not_delay_it(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    start = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    state = make_state(client, tenant.headers, ids, start_at=start, timestep_hours=24).json()
    sid = state["id"]
    client.post(f"/api/states/{sid}/pause", headers=tenant.headers)
    a_day_ago = datetime.now(UTC) - timedelta(days=1)
    client.app.state.store.collection("states").update(
        {"_id": sid}, {"$set": {"paused_at": a_day_ago}}
    )
    resumed = client.post(f"/api/states/{sid}/resume", headers=tenant.headers).json()
    assert resumed["next_due_at"] == state["next_due_at"]


def test_cron_scope_and_tenant(client, tenant, make_tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids, start_at=_past(2), timestep_hours=1).json()
    assert client.post("/api/timesteps/run", headers=tenant.headers).status_code == 403
    other_cron = make_tenant(scopes=("cron",))
    assert client.post("/api/timesteps/run", headers=other_cron.headers).json()["advanced"] == []
    doc = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert doc["current_time"] == 0


def _credential_headers(client: TestClient, headers: dict, scopes: list[str]) -> dict:
    made = client.post(
        "/api/users/me/credentials",
        json={"description": "narrow", "scopes": scopes},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    token = credential_login(client, made.json()["client_id"], made.json()["client_secret"])
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_an_admin_narrowed_to_cron_still_covers_every_client(
    client, tenant, make_tenant, admin_headers
):
    """The scheduler's credential is made by an admin with only the `cron` scope: it must
    advance every client's due states, and do nothing else."""
    other = make_tenant()
    due = []
    for owner in (tenant, other):
        ids = make_campaigns(client, owner.headers, n=2)
        state = make_state(client, owner.headers, ids, start_at=_past(5), timestep_hours=1)
        due.append(state.json()["id"])
    scheduler = _credential_headers(client, admin_headers, ["cron"])
    outcome = client.post("/api/timesteps/run", headers=scheduler)
    assert outcome.status_code == 200, outcome.text
    assert sorted(a["id"] for a in outcome.json()["advanced"]) == sorted(due)
    url = f"/api/states/{due[0]}?client_id={tenant.client_id}"
    assert client.get(url, headers=scheduler).status_code == 403  # no read scope
    assert client.get("/api/users", headers=scheduler).status_code == 403  # no admin scope
    password_token = client.post(
        "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD, "scope": "cron"}
    ).json()["access_token"]
    # Four timesteps overdue: a second run advances both states again, by the admin's
    # password login narrowed to `cron` this time.
    again = client.post("/api/timesteps/run", headers={"Authorization": f"Bearer {password_token}"})
    assert sorted(a["id"] for a in again.json()["advanced"]) == sorted(due)


def test_an_admin_credential_narrowed_to_read_reads_any_client_and_writes_none(
    client, tenant, admin_headers
):
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids).json()
    reader = _credential_headers(client, admin_headers, ["read"])
    me = client.get("/api/users/me", headers=reader).json()
    assert me["is_admin"] is True and me["scopes"] == ["read"]  # dashboards offer clients
    url = f"/api/states/{state['id']}?client_id={tenant.client_id}"
    assert client.get(url, headers=reader).json()["id"] == state["id"]
    listed = client.get(f"/api/campaigns?client_id={tenant.client_id}", headers=reader).json()
    assert sorted(c["id"] for c in listed["items"]) == sorted(ids)
    pause = f"/api/states/{state['id']}/pause?client_id={tenant.client_id}"
    assert client.post(pause, headers=reader).status_code == 403


def test_one_failing_state_does_not_stop_the_others(client, tenant, decisions_in_workers_only):
    ids = make_campaigns(client, tenant.headers, n=4)
    broken = make_state(client, tenant.headers, ids[:2], start_at=_past(2), timestep_hours=1).json()
    healthy = make_state(
        client, tenant.headers, ids[2:], start_at=_past(2), timestep_hours=1
    ).json()
    # An engine state damaged in the database: its step fails, the other state's does not.
    damaged = json.dumps({"version": 2, "policy": "curve"})
    client.app.state.store.collection("states").update(
        {"_id": broken["id"]}, {"$set": {"engine": damaged}}
    )
    admin = client.post(
        "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    outcome = client.post("/api/timesteps/run", headers={"Authorization": f"Bearer {admin}"}).json()
    assert [e["id"] for e in outcome["errors"]] == [broken["id"]]
    assert "state is missing" in outcome["errors"][0]["detail"]
    assert [a["id"] for a in outcome["advanced"]] == [healthy["id"]]


def test_a_state_whose_campaigns_all_stop_spends_nothing_until_one_resumes(
    client, tenant, admin_headers, decisions_in_workers_only
):
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids, start_at=_past(2), timestep_hours=1).json()
    sid = state["id"]
    client.patch(f"/api/campaigns/{ids[0]}", json={"status": "paused"}, headers=tenant.headers)
    client.patch(f"/api/campaigns/{ids[1]}", json={"status": "stopped"}, headers=tenant.headers)
    assert client.get(f"/api/states/{sid}/budget", headers=tenant.headers).json()["budgets"] == {
        ids[0]: 0.0,
        ids[1]: 0.0,
    }
    assert client.get(f"/api/states/{sid}", headers=tenant.headers).json()["timestep_budget"] == 0
    outcome = client.post("/api/timesteps/run", headers=admin_headers).json()
    assert outcome["errors"] == [] and outcome["advanced"] == []
    assert [row["id"] for row in outcome["skipped"]] == [sid]
    assert "paused or stopped" in outcome["skipped"][0]["reason"]
    assert client.post(f"/api/states/{sid}/next", headers=tenant.headers).status_code == 409

    # Bounds still hold while nothing runs: one the state's budget cannot meet is refused.
    too_high = client.patch(
        f"/api/campaigns/{ids[0]}", json={"min_budget": 10**9}, headers=tenant.headers
    )
    assert too_high.status_code == 422
    stored = client.get(f"/api/campaigns/{ids[0]}", headers=tenant.headers).json()
    assert stored["min_budget"] is None

    client.patch(f"/api/campaigns/{ids[0]}", json={"status": "active"}, headers=tenant.headers)
    doc = client.get(f"/api/states/{sid}", headers=tenant.headers).json()
    assert doc["budgets"][ids[1]] == 0
    assert doc["budgets"][ids[0]] == pytest.approx(doc["timestep_budget"])
    assert doc["timestep_budget"] == pytest.approx(state["timestep_budget"])
    advanced = client.post("/api/timesteps/run", headers=admin_headers).json()["advanced"]
    assert [row["id"] for row in advanced] == [sid]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_cron_cli_with_api_credentials(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        headers = client_user(http, "live")
        ids = make_campaigns(http, headers, n=2)
        state = make_state(http, headers, ids, start_at=_past(3), timestep_hours=1).json()
        token = http.post("/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        made = http.post("/api/users/me/credentials", json={"description": "cron"}, headers=admin)
        credential = made.json()
    code = cron.main(
        [
            "--url",
            live_server.url,
            "--client-id",
            credential["client_id"],
            "--client-secret",
            credential["client_secret"],
        ]
    )
    assert code == 0
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        doc = http.get(f"/api/states/{state['id']}", headers=headers).json()
    assert doc["current_time"] == 1
    assert cron.main(["--url", live_server.url, "--client-id", "x", "--client-secret", "y"]) == 2


def _cron_direct() -> int:
    """`utils.cron --direct` with the settings the environment names now."""
    get_settings.cache_clear()
    try:
        return cron.main(["--direct"])
    finally:
        get_settings.cache_clear()


def test_cron_cli_direct_on_the_embedded_store(tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "data"
    settings = make_settings("embedded", data_dir)
    with TestClient(create_app(settings)) as client:
        headers = client_user(client, "direct")
        ids = make_campaigns(client, headers, n=2)
        due = make_state(client, headers, ids, start_at=_past(3), timestep_hours=1).json()
        fresh = make_state(client, headers, ids, timestep_hours=1).json()
        gone = make_state(client, headers, ids, start_at=_past(3), timestep_hours=1).json()
        assert client.delete(f"/api/states/{gone['id']}", headers=headers).status_code == 204
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    assert _cron_direct() == 0
    outcome = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in outcome["advanced"]] == [due["id"]]
    with TestClient(create_app(settings)):
        assert _cron_direct() == 2
        assert "embedded store" in capsys.readouterr().err
    with TestClient(create_app(settings)) as client:
        headers = login(client, "direct", USER_PASSWORD)
        for state, expected in ((due, 1), (fresh, 0)):
            doc = client.get(f"/api/states/{state['id']}", headers=headers).json()
            assert doc["current_time"] == expected
