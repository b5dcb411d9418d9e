"""State endpoints: campaigns paused, resumed, re-bounded or deleted while a run goes on."""

from __future__ import annotations

import math

from tests.conftest import make_campaigns, make_state


def test_pause_and_resume(client, tenant, state):
    sid = state["id"]
    assert (
        client.post(f"/api/states/{sid}/pause", headers=tenant.headers).json()["status"] == "paused"
    )
    assert client.post(f"/api/states/{sid}/pause", headers=tenant.headers).status_code == 409
    assert client.post(f"/api/states/{sid}/next", headers=tenant.headers).status_code == 409
    assert (
        client.post(f"/api/states/{sid}/resume", headers=tenant.headers).json()["status"]
        == "active"
    )
    assert client.post(f"/api/states/{sid}/next", headers=tenant.headers).status_code == 200


def test_paused_campaign_gets_nothing_at_once(client, tenant, state):
    paused = state["campaign_ids"][0]
    response = client.patch(
        f"/api/campaigns/{paused}", json={"status": "paused"}, headers=tenant.headers
    )
    assert response.status_code == 200
    doc = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert doc["budgets"][paused] == 0
    assert math.isclose(sum(doc["budgets"].values()), 300.0, rel_tol=1e-9)
    doc = client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).json()
    assert doc["budgets"][paused] == 0


def test_new_campaign_bounds_hold_in_running_states_at_once(client, tenant, state):
    sid, capped = state["id"], state["campaign_ids"][0]
    response = client.patch(
        f"/api/campaigns/{capped}", json={"max_budget": 40}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    doc = client.get(f"/api/states/{sid}", headers=tenant.headers).json()
    assert doc["budgets"][capped] <= 40 + 1e-9
    assert math.isclose(sum(doc["budgets"].values()), 300.0, rel_tol=1e-9)
    for _ in range(3):
        doc = client.post(f"/api/states/{sid}/next", headers=tenant.headers).json()
        assert doc["budgets"][capped] <= 40 + 1e-9


def test_campaign_bounds_a_running_state_cannot_hold_are_refused(client, tenant, state):
    sid, cid = state["id"], state["campaign_ids"][0]
    before = client.get(f"/api/states/{sid}", headers=tenant.headers).json()
    # 300 a timestep over three campaigns with a 0.02 floor: a 295 minimum cannot hold.
    url = f"/api/campaigns/{cid}"
    response = client.patch(url, json={"min_budget": 295}, headers=tenant.headers)
    assert response.status_code == 422
    assert "cannot hold" in response.text and sid in response.text
    assert client.get(f"/api/campaigns/{cid}", headers=tenant.headers).json()["min_budget"] is None
    after = client.get(f"/api/states/{sid}", headers=tenant.headers).json()
    assert after["budgets"] == before["budgets"] and after["updated_at"] == before["updated_at"]


def test_new_minimums_are_checked_against_the_current_timestep_budget(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=3)
    state = make_state(client, tenant.headers, ids, budget=900, timesteps=3, floor=0).json()
    url = f"/api/states/{state['id']}"
    # 300 a timestep; 600 spent by one campaign and 100 by each other leave 100 for two.
    overspent = [{"campaign_id": cid, "spend": 600 if k == 0 else 100} for k, cid in enumerate(ids)]
    client.post(
        f"{url}/metrics", json={"timestep": 0, "metrics": overspent}, headers=tenant.headers
    )
    before = client.post(f"{url}/next", headers=tenant.headers).json()
    assert math.isclose(before["timestep_budget"], 50.0)
    # 80 fits the run's average timestep (300) but not the current one (50).
    refused = client.patch(
        f"/api/campaigns/{ids[1]}", json={"min_budget": 80}, headers=tenant.headers
    )
    assert refused.status_code == 422 and "remaining / timesteps left" in refused.text
    assert (
        client.get(f"/api/campaigns/{ids[1]}", headers=tenant.headers).json()["min_budget"] is None
    )
    assert client.get(url, headers=tenant.headers).json()["budgets"] == before["budgets"]
    # A minimum the current budget can meet is taken, and pausing always is.
    taken = client.patch(
        f"/api/campaigns/{ids[1]}", json={"min_budget": 40}, headers=tenant.headers
    )
    assert taken.status_code == 200, taken.text
    paused = client.patch(
        f"/api/campaigns/{ids[2]}", json={"status": "paused"}, headers=tenant.headers
    )
    assert paused.status_code == 200, paused.text
    after = client.get(url, headers=tenant.headers).json()
    assert after["budgets"][ids[1]] >= 40 - 1e-9 and after["budgets"][ids[2]] == 0.0


def test_campaign_in_running_state_cannot_be_deleted(client, tenant, state):
    cid = state["campaign_ids"][0]
    assert client.delete(f"/api/campaigns/{cid}", headers=tenant.headers).status_code == 409
    assert client.delete(f"/api/states/{state['id']}", headers=tenant.headers).status_code == 204
    assert client.delete(f"/api/campaigns/{cid}", headers=tenant.headers).status_code == 204
