"""Living runs over HTTP (every backend): PATCH a running state, its events, warm starts from a
stored fit, learnt curves and forecasts, and a race between PATCH and `next`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.conftest import client_user, make_campaigns, make_settings, make_state
from tests.test_optimize_api import long_rows


def new_campaign(client, headers, name):
    response = client.post(
        "/api/campaigns", json={"name": name, "platform": "meta"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def report(client, headers, state, timestep, factor=1.0):
    rows = [
        {"campaign_id": cid, "spend": amount * factor, "revenue": 3 * amount * factor}
        for cid, amount in state["budgets"].items()
    ]
    response = client.post(
        f"/api/states/{state['id']}/metrics",
        json={"timestep": timestep, "metrics": rows},
        headers=headers,
    )
    assert response.status_code == 200, response.text


def advance(client, headers, state, timesteps=1):
    for _ in range(timesteps):
        report(client, headers, state, state["current_time"])
        response = client.post(f"/api/states/{state['id']}/next", headers=headers)
        assert response.status_code == 200, response.text
        state = response.json()
    return state


def patch(client, headers, state, **body):
    return client.patch(f"/api/states/{state['id']}", json=body, headers=headers)


def test_raising_the_budget_re_paces_at_once_and_is_an_event(client, tenant, state):
    state = advance(client, tenant.headers, state, 2)
    spent = 3000 - state["remaining"]
    response = patch(client, tenant.headers, state, budget=6000, version=state["version"])
    assert response.status_code == 200, response.text
    raised = response.json()
    assert raised["budget"] == 6000 and raised["version"] == state["version"] + 1
    assert raised["remaining"] == pytest.approx(6000 - spent)
    assert raised["timestep_budget"] == pytest.approx((6000 - spent) / 8)
    assert sum(raised["budgets"].values()) == pytest.approx(raised["timestep_budget"])
    events = client.get(f"/api/states/{state['id']}/events", headers=tenant.headers).json()
    assert events["total"] == 1
    event = events["items"][0]
    assert event["by"] == tenant.username and event["timestep"] == 2
    assert event["changes"] == {"budget": {"from": 3000, "to": 6000}}
    advance(client, tenant.headers, raised)
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert [len(row["events"]) for row in history["items"]] == [0, 0, 1]


def test_timesteps_step_floor_name_and_params_change(client, tenant, state):
    response = patch(
        client,
        tenant.headers,
        state,
        timesteps=20,
        step=0.3,
        floor=0.05,
        name="Sale",
        params={"draws": 8},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["timesteps"], changed["step"], changed["floor"]) == (20, 0.3, 0.05)
    assert changed["name"] == "Sale" and changed["policy"]["params"] == {"draws": 8}
    assert changed["timestep_budget"] == pytest.approx(3000 / 20)
    again = patch(client, tenant.headers, changed, timesteps=20)
    assert again.status_code == 200 and again.json()["version"] == changed["version"]


def test_adding_and_removing_campaigns(client, tenant, state, campaigns):
    state = advance(client, tenant.headers, state, 2)
    added = new_campaign(client, tenant.headers, "Launch")
    new_ids = [campaigns[1], campaigns[2], added]
    response = patch(client, tenant.headers, state, campaign_ids=new_ids)
    assert response.status_code == 200, response.text
    resized = response.json()
    assert resized["campaign_ids"] == new_ids
    floor = 0.02 * state["timestep_budget"]  # the least share of every active campaign
    assert resized["budgets"][added] == pytest.approx(floor)
    assert sum(resized["budgets"].values()) == pytest.approx(state["timestep_budget"])
    assert campaigns[0] not in resized["budgets"]
    after = advance(client, tenant.headers, resized)
    assert after["budgets"][added] > 0
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert campaigns[0] in history["items"][0]["metrics"]  # a removed campaign's history stays
    assert added not in history["items"][0]["metrics"]
    # a late correction after the resize still refolds: timestep 0 spent more than planned
    first = history["items"][0]
    rows = [
        {"campaign_id": cid, "spend": 2 * amount, "revenue": amount}
        for cid, amount in first["budgets"].items()
        if cid in new_ids
    ]
    corrected = client.post(
        f"/api/states/{state['id']}/metrics",
        json={"timestep": 0, "metrics": rows},
        headers=tenant.headers,
    )
    assert corrected.status_code == 200, corrected.text
    now = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    extra = sum(amount for cid, amount in first["budgets"].items() if cid in new_ids)
    assert now["remaining"] == pytest.approx(after["remaining"] - extra)
    outside = client.post(
        f"/api/states/{state['id']}/metrics",
        json={"timestep": 0, "metrics": [{"campaign_id": added, "spend": 1}]},
        headers=tenant.headers,
    )
    assert outside.status_code == 422 and "at timestep 0" in outside.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"budget": -5}, "budget"),
        ({"budget": 10}, "below what the run has spent"),
        ({"timesteps": 1}, "above the 2 timesteps finished"),
        ({"step": 0}, "step"),
        ({"floor": 0.5}, "floors cannot all be met"),
        ({"params": {"grid_size": 10}}, "grid_size"),
        ({"campaign_ids": ["nope", "nada"]}, "Unknown campaign ids"),
        ({"budget": None}, "cannot be null"),
        ({}, "Nothing to change"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_edits_answer_422_and_store_nothing(client, tenant, state, body, message):
    state = advance(client, tenant.headers, state, 2)
    response = patch(client, tenant.headers, state, **body)
    assert response.status_code == 422, response.text
    assert message in response.text
    after = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert after["version"] == state["version"] and after["budget"] == 3000


def test_too_few_campaigns_and_another_tenants_campaign_are_refused(
    client, tenant, other_tenant, state, campaigns
):
    assert patch(client, tenant.headers, state, campaign_ids=campaigns[:1]).status_code == 422
    [theirs] = make_campaigns(client, other_tenant.headers, n=1)
    response = patch(client, tenant.headers, state, campaign_ids=[*campaigns, theirs])
    assert response.status_code == 422 and theirs in response.text


def test_a_stale_version_answers_409_with_the_current_one(client, tenant, state):
    moved = advance(client, tenant.headers, state)
    response = patch(client, tenant.headers, moved, budget=5000, version=state["version"])
    assert response.status_code == 409
    assert response.json()["detail"]["version"] == moved["version"]
    assert client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()["budget"] == 3000


def test_a_completed_state_cannot_change(client, tenant, campaigns):
    state = make_state(client, tenant.headers, campaigns, timesteps=1).json()
    done = advance(client, tenant.headers, state)
    assert done["status"] == "completed"
    assert patch(client, tenant.headers, done, budget=9000).status_code == 409
    forecast = client.get(f"/api/states/{state['id']}/forecast", headers=tenant.headers)
    assert forecast.status_code == 409


def test_another_tenant_gets_404_everywhere(client, tenant, other_tenant, state):
    sid = state["id"]
    other = other_tenant.headers
    assert patch(client, other, state, budget=9000).status_code == 404
    for path in ("events", "curves", "forecast"):
        assert client.get(f"/api/states/{sid}/{path}", headers=other).status_code == 404


def test_curves_and_forecast_of_a_curve_run(client, tenant, state, campaigns):
    state = advance(client, tenant.headers, state, 3)
    curves = client.get(f"/api/states/{state['id']}/curves", headers=tenant.headers)
    assert curves.status_code == 200, curves.text
    body = curves.json()
    assert [row["campaign_id"] for row in body["campaigns"]] == campaigns
    assert [row["name"] for row in body["campaigns"]] == ["campaign 0", "campaign 1", "campaign 2"]
    for row in body["campaigns"]:
        assert row["budget"] == pytest.approx(state["budgets"][row["campaign_id"]])
        assert all(lo <= hi for lo, hi in zip(row["low"], row["high"], strict=True))
    forecast = client.get(f"/api/states/{state['id']}/forecast", headers=tenant.headers)
    assert forecast.status_code == 200, forecast.text
    result = forecast.json()
    assert result["timesteps_left"] == 7
    assert result["policy"]["low"] <= result["policy"]["mean"] <= result["policy"]["high"]


def test_policies_without_curves_answer_404_with_a_message(client, tenant, campaigns):
    state = make_state(client, tenant.headers, campaigns, policy={"name": "ucb"}).json()
    response = client.get(f"/api/states/{state['id']}/curves", headers=tenant.headers)
    assert response.status_code == 404 and "learns no response curves" in response.text


@pytest.fixture
def fit(client, tenant):
    response = client.post("/api/optimize/fit", json={"rows": long_rows()}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_run_starts_from_a_stored_fit(client, tenant, fit):
    search = client.post(
        "/api/campaigns", json={"name": "search", "platform": "google"}, headers=tenant.headers
    ).json()
    other = client.post(
        "/api/campaigns",
        json={"name": "Social", "platform": "meta", "external_id": "social"},
        headers=tenant.headers,
    ).json()
    unknown = new_campaign(client, tenant.headers, "Video")
    ids = [search["id"], other["id"], unknown]
    response = make_state(
        client, tenant.headers, ids, prior={"fit_id": fit["id"]}, budget=30000, step=0.2
    )
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["prior"]["matched"] == {search["id"]: "search", other["id"]: "social"}
    assert started["prior"]["strength"] == 0.5
    assert len(set(started["budgets"].values())) > 1  # not an equal split
    stronger = make_state(
        client, tenant.headers, ids, prior={"fit_id": fit["id"]}, prior_strength=5
    ).json()
    assert stronger["prior"]["strength"] == 5


def test_bad_priors(client, tenant, other_tenant, fit, campaigns):
    cases = [
        ({"prior": {"fit_id": "missing"}}, 404, "Fit not found"),
        ({"prior": {"fit_id": fit["id"]}}, 422, "knows none of the run's campaigns"),
        ({"prior": {"fit_id": fit["id"]}, "policy": {"name": "thompson"}}, 422, "curve policy"),
        ({"prior_strength": 2}, 422, "needs a prior"),
        ({"prior": {"fit_id": fit["id"]}, "prior_strength": 0}, 422, "prior_strength"),
        ({"prior": {"model_id": "missing"}}, 404, "Model not found"),
        ({"prior": {"fit_id": fit["id"], "model_id": "m"}}, 422, "exactly one"),
    ]
    for fields, code, message in cases:
        response = make_state(client, tenant.headers, campaigns, **fields)
        assert response.status_code == code and message in response.text, response.text
    theirs = make_campaigns(client, other_tenant.headers, n=2)
    borrowed = make_state(client, other_tenant.headers, theirs, prior={"fit_id": fit["id"]})
    assert borrowed.status_code == 404


def test_patch_racing_next_one_wins_per_version(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        headers = client_user(http, "racer")
        ids = make_campaigns(http, headers, n=3)
        state = make_state(http, headers, ids).json()
        sid = state["id"]
        barrier = threading.Barrier(8)

        def call(k: int) -> httpx.Response:
            with httpx.Client(base_url=live_server.url, timeout=30) as own:
                barrier.wait()
                if k % 2:
                    body = {"budget": 4000 + k, "version": state["version"]}
                    return own.patch(f"/api/states/{sid}", json=body, headers=headers)
                return own.post(
                    f"/api/states/{sid}/next", json={"expected_time": 0}, headers=headers
                )

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(call, range(8)))
        patches = [r for k, r in enumerate(responses) if k % 2]
        nexts = [r for k, r in enumerate(responses) if not k % 2]
        assert sorted(r.status_code for r in nexts) == [200, 409, 409, 409]
        won = [r for r in patches if r.status_code == 200]
        assert len(won) <= 1 and all(r.status_code in (200, 409) for r in patches)
        final = http.get(f"/api/states/{sid}", headers=headers).json()
        events = http.get(f"/api/states/{sid}/events", headers=headers).json()
        assert final["current_time"] == 1
        assert events["total"] == len(won)
        if won:  # the edit is not lost: `next` decided again on it, or came first and lost it
            assert final["budget"] == won[0].json()["budget"]
            assert final["version"] == state["version"] + 2  # the edit, then `next` on it
        else:
            assert final["budget"] == 3000


@pytest.fixture
def worker_settings(backend, tmp_path, monkeypatch):
    """Settings with one decision worker; the API process's own readouts raise, so every
    curve and forecast the test sees was computed in the worker."""

    def not_here(*args: object) -> None:
        raise AssertionError("read out in the API process")

    monkeypatch.setattr("utils.living.READOUTS", {"curves": not_here, "forecast": not_here})
    return make_settings(backend, tmp_path / "data", decision_workers=1)


def test_curves_and_forecast_are_computed_in_the_decision_worker(worker_settings):
    with TestClient(create_app(worker_settings)) as http:
        headers = client_user(http, "worker")
        state = make_state(http, headers, make_campaigns(http, headers)).json()
        state = advance(http, headers, state, 2)
        for path in ("curves", "forecast"):
            response = http.get(f"/api/states/{state['id']}/{path}", headers=headers)
            assert response.status_code == 200, response.text
