"""State endpoints: creation and its validation, metrics, next, history, isolation."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from engine import POLICY_NAMES
from tests.conftest import make_campaigns, make_state


def test_created_state_document(state, campaigns):
    assert state["status"] == "active"
    assert state["current_time"] == 0
    assert state["policy"]["name"] == "curve"
    assert set(state["allocation"]) == set(campaigns)
    assert math.isclose(sum(state["allocation"].values()), 1.0, abs_tol=1e-9)
    assert math.isclose(sum(state["budgets"].values()), 300.0, rel_tol=1e-9)
    assert state["remaining"] == 3000
    assert state["next_due_at"] is not None
    assert "engine" not in state


@pytest.mark.parametrize(
    "fields",
    [
        {"budget": -5},
        {"budget": 0},
        {"timesteps": 0},
        {"step": 0},
        {"step": 1.5},
        {"floor": 0.5},
        {"policy": {"name": "astrology"}},
        {"policy": {"name": "epsilon_greedy", "params": {"epsilon": -1}}},
        {"objective": "likes"},
        {"start_at": "2026-01-01T00:00:00"},
        {"surprise": True},
    ],
)
def test_bad_states_answer_422_and_store_nothing(client, tenant, campaigns, fields):
    response = make_state(client, tenant.headers, campaigns, **fields)
    assert response.status_code == 422, response.text
    assert client.get("/api/states", headers=tenant.headers).json()["total"] == 0


def test_a_long_run_of_many_campaigns_is_accepted(client, tenant):
    """The engine keeps running sums, not the run's observations: length is no limit."""
    ids = make_campaigns(client, tenant.headers, n=6)
    response = make_state(client, tenant.headers, ids, timesteps=10_000)
    assert response.status_code == 201, response.text
    state_id = response.json()["id"]
    advanced = client.post(f"/api/states/{state_id}/next", headers=tenant.headers)
    assert advanced.status_code == 200 and advanced.json()["current_time"] == 1


def test_campaign_ids_must_be_own_distinct_and_two(client, tenant, other_tenant, campaigns):
    foreign = make_campaigns(client, other_tenant.headers, n=1)
    for ids in ([campaigns[0]], [campaigns[0], campaigns[0]], [campaigns[0], foreign[0]]):
        assert make_state(client, tenant.headers, ids).status_code == 422
    assert client.get("/api/states", headers=tenant.headers).json()["total"] == 0


def test_mins_above_the_timestep_budget_are_rejected(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=2, min_budget=200)
    response = make_state(client, tenant.headers, ids)
    assert response.status_code == 422
    assert "min" in response.text.lower()


def test_metrics_validation_stores_nothing(client, tenant, state, other_tenant):
    url = f"/api/states/{state['id']}/metrics"
    cid = state["campaign_ids"][0]
    bad_bodies = [
        {"timestep": 1, "metrics": [{"campaign_id": cid, "spend": 1}]},
        {"timestep": 0, "metrics": [{"campaign_id": "unknown", "spend": 1}]},
        {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": -1}]},
        {
            "timestep": 0,
            "metrics": [{"campaign_id": cid, "spend": 1, "clicks": 2, "conversions": 3}],
        },
        {
            "timestep": 0,
            "metrics": [{"campaign_id": cid, "spend": 1}, {"campaign_id": cid, "spend": 2}],
        },
        {"timestep": 0, "metrics": []},
        {"timestep": -1, "metrics": [{"campaign_id": cid, "spend": 1}]},
    ]
    for body in bad_bodies:
        assert client.post(url, json=body, headers=tenant.headers).status_code == 422, body
    raw = b'{"timestep": 0, "metrics": [{"campaign_id": "%s", "spend": Infinity}]}' % cid.encode()
    response = client.post(
        url, content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    reported = client.get(url, headers=tenant.headers).json()
    assert all(row is None for row in reported.values())
    good = {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": 1}]}
    assert client.post(url, json=good, headers=other_tenant.headers).status_code == 404


def test_metrics_repost_replaces_the_row(client, tenant, state):
    url = f"/api/states/{state['id']}/metrics"
    cid = state["campaign_ids"][0]
    for revenue in (10, 25):
        body = {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": 50, "revenue": revenue}]}
        assert client.post(url, json=body, headers=tenant.headers).status_code == 200
    reported = client.get(url, headers=tenant.headers).json()
    assert reported[cid]["revenue"] == 25
    assert reported[state["campaign_ids"][1]] is None


def test_metrics_of_a_timestep_that_has_not_started_answer_422(client, tenant, state):
    url = f"/api/states/{state['id']}/metrics"
    assert client.get(f"{url}?timestep=0", headers=tenant.headers).status_code == 200
    future = client.get(f"{url}?timestep=1", headers=tenant.headers)
    assert future.status_code == 422
    assert "has not started" in future.json()["detail"]


def test_next_advances_and_writes_history(client, tenant, state):
    sid, ids = state["id"], state["campaign_ids"]
    metrics = [{"campaign_id": c, "spend": 100, "revenue": 150 + 50 * k} for k, c in enumerate(ids)]
    metrics.pop()  # the last campaign reports nothing: unobserved
    posted = client.post(
        f"/api/states/{sid}/metrics",
        json={"timestep": 0, "metrics": metrics},
        headers=tenant.headers,
    )
    assert posted.status_code == 200
    advanced = client.post(f"/api/states/{sid}/next", headers=tenant.headers)
    assert advanced.status_code == 200, advanced.text
    doc = advanced.json()
    assert doc["current_time"] == 1
    # Unreported spend counts as its full budget (100), so the run can never overspend.
    assert math.isclose(doc["remaining"], 3000 - 200 - 100)
    assert math.isclose(sum(doc["budgets"].values()), 2700 / 9, rel_tol=1e-9)
    history = client.get(f"/api/states/{sid}/history", headers=tenant.headers).json()
    assert history["total"] == 1
    row = history["items"][0]
    assert row["timestep"] == 0
    assert row["budgets"] == state["budgets"]
    assert row["unobserved"] == [ids[-1]]
    assert row["metrics"][ids[-1]] is None
    assert row["reward"] == 150 + 200
    budget = client.get(f"/api/states/{sid}/budget", headers=tenant.headers).json()["budgets"]
    assert budget == doc["budgets"]


def test_expected_time_guards_retries(client, tenant, state):
    url = f"/api/states/{state['id']}/next"
    assert client.post(url, json={"expected_time": 0}, headers=tenant.headers).status_code == 200
    again = client.post(url, json={"expected_time": 0}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["detail"]["current_time"] == 1


def test_run_completes_after_last_timestep(client, tenant, campaigns):
    state = make_state(client, tenant.headers, campaigns, timesteps=3).json()
    url = f"/api/states/{state['id']}/next"
    for _ in range(3):
        assert client.post(url, headers=tenant.headers).status_code == 200
    doc = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert doc["status"] == "completed" and doc["next_due_at"] is None
    assert client.post(url, headers=tenant.headers).status_code == 409
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert [r["timestep"] for r in history["items"]] == [0, 1, 2]


def test_a_run_whose_budget_is_spent_early_takes_no_metrics_for_timesteps_it_never_ran(
    client, tenant, campaigns
):
    state = make_state(client, tenant.headers, campaigns, budget=300, timesteps=5).json()
    sid = state["id"]
    spent = [{"campaign_id": cid, "spend": 100} for cid in campaigns]
    url = f"/api/states/{sid}/metrics"
    assert client.post(url, json={"timestep": 0, "metrics": spent}, headers=tenant.headers)
    advanced = client.post(f"/api/states/{sid}/next", headers=tenant.headers).json()
    assert advanced["status"] == "completed" and advanced["current_time"] == 1
    late = {"timestep": 1, "metrics": [{"campaign_id": campaigns[0], "spend": 5}]}
    refused = client.post(url, json=late, headers=tenant.headers)
    assert refused.status_code == 422 and "never ran" in refused.json()["detail"]
    assert client.get(f"{url}?timestep=1", headers=tenant.headers).status_code == 422
    metrics = client.app.state.store.collection("metrics")
    assert metrics.get({"state_id": sid, "timestep": 1}) is None
    corrected = client.post(url, json={**late, "timestep": 0}, headers=tenant.headers)
    assert corrected.status_code == 200 and corrected.json()["correction"] is True


def test_a_run_must_end_before_the_calendar_does(client, tenant, campaigns):
    for start_at, hours in (("9999-12-31T00:00:00Z", 24), ("9998-01-01T00:00:00Z", 8784)):
        refused = make_state(
            client, tenant.headers, campaigns, timesteps=2, start_at=start_at, timestep_hours=hours
        )
        assert refused.status_code == 422 and "year 9999" in refused.text
    assert client.get("/api/states", headers=tenant.headers).json()["total"] == 0
    edge = make_state(
        client,
        tenant.headers,
        campaigns,
        timesteps=2,
        start_at="9997-06-01T00:00:00Z",
        timestep_hours=8784,
    ).json()
    url = f"/api/states/{edge['id']}/next"
    assert client.post(url, headers=tenant.headers).json()["next_due_at"].startswith("9999-06")
    assert client.post(url, headers=tenant.headers).json()["status"] == "completed"


def test_history_lists_finished_timesteps_only(client, tenant, state):
    """A `next` that wrote its history row and then lost its compare-and-set (the state was
    paused meanwhile) or crashed leaves a row for the timestep in progress: not history yet."""
    sid = state["id"]
    client.post(f"/api/states/{sid}/next", headers=tenant.headers)
    client.app.state.store.collection("history").insert(
        {"_id": f"{sid}:1", "state_id": sid, "client_id": tenant.client_id, "timestep": 1}
        | {"allocation": {}, "budgets": {}, "decided_at": datetime.now(UTC), "version": 1}
    )
    history = client.get(f"/api/states/{sid}/history", headers=tenant.headers).json()
    assert [row["timestep"] for row in history["items"]] == [0] and history["total"] == 1
    insights = client.get(f"/api/states/{sid}/insights", headers=tenant.headers)
    assert insights.status_code == 200
    advanced = client.post(f"/api/states/{sid}/next", headers=tenant.headers)
    assert advanced.status_code == 200  # the retry finishes timestep 1 over the stale row
    history = client.get(f"/api/states/{sid}/history", headers=tenant.headers).json()
    assert [row["timestep"] for row in history["items"]] == [0, 1]
    assert history["items"][1]["budgets"] != {}


def test_states_are_isolated(client, tenant, other_tenant, state):
    sid = state["id"]
    h = other_tenant.headers
    for method, path in [
        ("get", ""),
        ("get", "/budget"),
        ("get", "/history"),
        ("get", "/metrics"),
        ("post", "/next"),
        ("post", "/pause"),
        ("post", "/resume"),
        ("delete", ""),
    ]:
        assert getattr(client, method)(f"/api/states/{sid}{path}", headers=h).status_code == 404
    assert client.get("/api/states", headers=h).json()["total"] == 0
    assert client.get(f"/api/states/{sid}", headers=tenant.headers).json()["current_time"] == 0


def test_crash_between_writes_is_completed_by_a_retry(client, tenant, state, monkeypatch):
    from utils.db import Collection, StoreUnavailable

    original = Collection.set_if

    def failing_update(self, filter, update):
        if "current_time" in filter:
            raise StoreUnavailable("connection lost")
        return original(self, filter, update)

    monkeypatch.setattr(Collection, "set_if", failing_update)
    url = f"/api/states/{state['id']}/next"
    assert client.post(url, headers=tenant.headers).status_code == 503
    monkeypatch.setattr(Collection, "set_if", original)
    # The history row was written before the crash; it is not history until the retry.
    stored = client.app.state.store.collection("history").find({"state_id": state["id"]})
    assert [row["timestep"] for row in stored] == [0]
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert history["total"] == 0
    assert client.post(url, json={"expected_time": 0}, headers=tenant.headers).status_code == 200
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert [r["timestep"] for r in history["items"]] == [0]


def test_a_client_loop_moves_budget_to_the_best_campaign(client, tenant):
    """The product's promise, over HTTP only: read budgets, report, advance, learn."""
    ids = make_campaigns(client, tenant.headers, n=3)
    state = make_state(
        client, tenant.headers, ids, budget=30_000, timesteps=15, step=0.2, floor=0.02
    ).json()
    value = {ids[0]: 3.0, ids[1]: 1.0, ids[2]: 0.5}
    rng = np.random.default_rng(3)
    for t in range(15):
        budgets = client.get(f"/api/states/{state['id']}/budget", headers=tenant.headers).json()[
            "budgets"
        ]
        rows = []
        for cid, amount in budgets.items():
            revenue = value[cid] * 1500 * (1 - math.exp(-amount / 1500)) * rng.uniform(0.9, 1.1)
            rows.append({"campaign_id": cid, "spend": amount, "revenue": revenue})
        body = {"timestep": t, "metrics": rows}
        posted = client.post(
            f"/api/states/{state['id']}/metrics", json=body, headers=tenant.headers
        )
        assert posted.status_code == 200, posted.text
        advanced = client.post(f"/api/states/{state['id']}/next", headers=tenant.headers)
        assert advanced.status_code == 200, advanced.text
    final = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert final["status"] == "completed"
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    last = history["items"][-1]["allocation"]
    # The optimum gives the best campaign about 90 % here; the two weak ones share a nearly
    # flat remainder, so only the best one's share is asserted.
    assert last[ids[0]] > 0.7
    assert last[ids[0]] > 2 * history["items"][0]["allocation"][ids[0]]


def test_absurd_metric_values_are_rejected_before_they_reach_the_engine(client, tenant, state):
    cid = state["campaign_ids"][0]
    body = {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": 1, "revenue": 1e308}]}
    url = f"/api/states/{state['id']}/metrics"
    assert client.post(url, json=body, headers=tenant.headers).status_code == 422
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).status_code == 200


def test_the_schema_names_every_policy_the_engine_runs(client):
    spec = client.app.openapi()["components"]["schemas"]["PolicySpec"]["properties"]["name"]
    named = set(spec["description"].replace(",", " ").replace(":", " ").split())
    assert set(POLICY_NAMES) <= named
