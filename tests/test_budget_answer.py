"""`GET /states/{id}/budget`: the current timestep's budgets by id, and with names to read."""

from __future__ import annotations

import math

from tests.conftest import make_campaigns, make_state


def _budget(client, headers, state_id):
    response = client.get(f"/api/states/{state_id}/budget", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _run_to_the_end(client, headers, state):
    url = f"/api/states/{state['id']}"
    for t in range(state["timesteps"]):
        budgets = _budget(client, headers, state["id"])["budgets"]
        rows = [
            {"campaign_id": cid, "spend": amount, "revenue": 2.0} for cid, amount in budgets.items()
        ]
        posted = client.post(
            f"{url}/metrics", json={"timestep": t, "metrics": rows}, headers=headers
        )
        assert posted.status_code == 200, posted.text
        assert client.post(f"{url}/next", headers=headers).status_code == 200


def test_the_budget_names_each_campaign_and_keeps_the_id_map(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    third = client.post(
        "/api/campaigns", json={"name": "reels", "platform": "meta"}, headers=tenant.headers
    ).json()["id"]
    ids.append(third)
    state = make_state(client, tenant.headers, ids, budget=1000.01, timesteps=3).json()
    answer = _budget(client, tenant.headers, state["id"])
    assert answer["state_id"] == state["id"]
    assert answer["timestep"] == 0
    assert answer["timestep_budget"] == state["timestep_budget"]
    assert answer["budgets"] == state["budgets"]
    assert [row["campaign_id"] for row in answer["campaigns"]] == ids
    assert [row["name"] for row in answer["campaigns"]] == ["campaign 0", "campaign 1", "reels"]
    assert [row["platform"] for row in answer["campaigns"]] == ["google", "google", "meta"]
    assert {row["campaign_id"]: row["budget"] for row in answer["campaigns"]} == answer["budgets"]
    assert sum(answer["budgets"].values()) <= answer["timestep_budget"] + 1e-9
    assert all(math.isclose(v * 100, round(v * 100)) for v in answer["budgets"].values())

    # A renamed campaign is read by its new name; the next timestep is named as such.
    client.patch(f"/api/campaigns/{third}", json={"name": "stories"}, headers=tenant.headers)
    rows = [{"campaign_id": cid, "spend": amount} for cid, amount in answer["budgets"].items()]
    url = f"/api/states/{state['id']}"
    client.post(f"{url}/metrics", json={"timestep": 0, "metrics": rows}, headers=tenant.headers)
    advanced = client.post(f"{url}/next", headers=tenant.headers).json()
    later = _budget(client, tenant.headers, state["id"])
    assert later["timestep"] == 1
    assert later["budgets"] == advanced["budgets"]
    assert later["campaigns"][2]["name"] == "stories"


def test_a_campaign_removed_from_the_run_leaves_the_answer(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=3)
    state = make_state(client, tenant.headers, ids).json()
    patched = client.patch(
        f"/api/states/{state['id']}", json={"campaign_ids": ids[:2]}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text
    answer = _budget(client, tenant.headers, state["id"])
    assert [row["campaign_id"] for row in answer["campaigns"]] == ids[:2]
    assert set(answer["budgets"]) == set(ids[:2])
    assert [row["name"] for row in answer["campaigns"]] == ["campaign 0", "campaign 1"]


def test_a_campaign_deleted_after_the_run_answers_without_a_name(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids, timesteps=2).json()
    _run_to_the_end(client, tenant.headers, state)
    deleted = client.delete(f"/api/campaigns/{ids[0]}", headers=tenant.headers)
    assert deleted.status_code == 204, deleted.text
    answer = _budget(client, tenant.headers, state["id"])
    first, second = answer["campaigns"]
    assert first["campaign_id"] == ids[0]
    assert first["name"] is None and first["platform"] is None
    assert second["name"] == "campaign 1" and second["platform"] == "google"
    assert first["budget"] == answer["budgets"][ids[0]]


def test_the_budget_of_another_client_answers_404(client, tenant, other_tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids).json()
    response = client.get(f"/api/states/{state['id']}/budget", headers=other_tenant.headers)
    assert response.status_code == 404


def test_the_budget_answer_is_documented_with_an_example(client):
    spec = client.get("/api/openapi.json").json()
    answer = spec["paths"]["/api/states/{state_id}/budget"]["get"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = spec["components"]["schemas"][ref]
    assert {"state_id", "timestep", "timestep_budget", "budgets", "campaigns"} <= set(
        schema["properties"]
    )
    example = schema["examples"][0]
    assert example["campaigns"][0]["name"] == "search"
    assert {row["campaign_id"]: row["budget"] for row in example["campaigns"]} == example["budgets"]
