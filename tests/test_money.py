"""Money in answers: bounds met exactly, amounts to the cent, a timestep's budgets adding up
to no more than its budget."""

from __future__ import annotations

import json

import pytest

from models.money import budgets_in_cents, cents_down
from tests.conftest import make_campaigns, make_state


def _in_cents(amount: float) -> bool:
    return round(amount * 100) == amount * 100


def _check(budgets: dict[str, float], total: float) -> None:
    assert all(_in_cents(amount) for amount in budgets.values()), budgets
    assert sum(budgets.values()) <= total + 1e-9


def test_budgets_at_a_bound_are_exact_and_to_the_cent_in_every_answer(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=3)
    client.patch(f"/api/campaigns/{ids[0]}", json={"max_budget": 201}, headers=tenant.headers)
    made = make_state(
        client, tenant.headers, ids, budget=1009.62 * 3, timesteps=3, policy={"name": "uniform"}
    )
    assert made.status_code == 201, made.text
    state = made.json()
    url = f"/api/states/{state['id']}"
    assert state["budgets"][ids[0]] == 201.0
    _check(state["budgets"], state["timestep_budget"])
    assert _in_cents(state["timestep_budget"]) and _in_cents(state["remaining"])
    budget = client.get(f"{url}/budget", headers=tenant.headers).json()["budgets"]
    assert budget == state["budgets"]
    stored = client.app.state.store.collection("states").get({"_id": state["id"]})
    assert json.loads(stored["engine"])["budgets"][0] == 201.0

    # capping another campaign at 300 while the state runs: exact too
    client.patch(f"/api/campaigns/{ids[1]}", json={"max_budget": 300}, headers=tenant.headers)
    budget = client.get(f"{url}/budget", headers=tenant.headers).json()["budgets"]
    assert budget[ids[0]] == 201.0 and budget[ids[1]] == 300.0
    now = client.get(url, headers=tenant.headers).json()
    _check(budget, now["timestep_budget"])

    spend = {ids[0]: 200.013, ids[1]: 299.999, ids[2]: 508.6041}
    rows = [{"campaign_id": cid, "spend": amount, "revenue": 3.0} for cid, amount in spend.items()]
    posted = client.post(
        f"{url}/metrics", json={"timestep": 0, "metrics": rows}, headers=tenant.headers
    )
    assert posted.status_code in (200, 201), posted.text
    advanced = client.post(f"{url}/next", json={"expected_time": 0}, headers=tenant.headers)
    assert advanced.status_code == 200, advanced.text
    now = client.get(url, headers=tenant.headers).json()
    assert _in_cents(now["remaining"]) and now["remaining"] == pytest.approx(
        1009.62 * 3 - sum(spend.values()), abs=0.005
    )
    _check(now["budgets"], now["timestep_budget"])
    assert now["budgets"][ids[0]] <= 201.0 and now["budgets"][ids[1]] <= 300.0
    history = client.get(f"{url}/history", headers=tenant.headers).json()["items"]
    assert history[0]["budgets"] == budget
    assert history[0]["names"] == {cid: f"campaign {k}" for k, cid in enumerate(ids)}


def test_budgets_in_cents_round_down_and_hand_out_the_cents_left():
    budgets = {"a": 333.3333333, "b": 333.3333333, "c": 333.3333334}
    assert budgets_in_cents(budgets, 1000.0) == {"a": 333.33, "b": 333.33, "c": 333.34}
    assert budgets_in_cents({"a": 201.00000000000006, "b": 0.29}, 201.29) == {
        "a": 201.0,
        "b": 0.29,
    }
    # never more than the total, even when every budget rounds up
    assert sum(budgets_in_cents({"a": 0.005, "b": 0.005}, 0.01).values()) == 0.01
    assert cents_down(600.0000000000001) == 600.0 and cents_down(0.29) == 0.29
