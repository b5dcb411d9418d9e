"""Exactly-once advancement under concurrency: simultaneous `next` calls and reports.

Twenty simultaneous `next` calls on a real server, and metrics reported while `next` decides,
during a refold, or after `next` wrote.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from fast import create_app
from models.states import MetricsPost
from tests.conftest import client_user, make_campaigns, make_settings, make_state
from utils.decisions import DecisionPool
from utils.timesteps import record_metrics


@pytest.fixture(params=[0, 1], ids=["decided-in-process", "decision-worker"])
def settings(backend, tmp_path, request):
    """This module's API tests run with decisions made in the API process and in a worker."""
    return make_settings(backend, tmp_path / "data", decision_workers=request.param)


def _fire(url: str, path: str, headers: dict, body: dict | None, n: int = 20) -> list:
    """`n` simultaneous POSTs, each on its own connection."""
    barrier = threading.Barrier(n)

    def call(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=30) as own:
            barrier.wait()
            return own.post(path, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def test_twenty_concurrent_next_calls_advance_once(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        headers = client_user(http, "live")
        ids = make_campaigns(http, headers, n=20)
        state = make_state(http, headers, ids, budget=20_000, timesteps=30).json()
        path = f"/api/states/{state['id']}/next"
        responses = _fire(live_server.url, path, headers, {"expected_time": 0})
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] + [409] * 19, [r.text for r in responses if r.status_code != 409]
        for r in responses:
            if r.status_code == 409:
                assert r.json()["detail"]["current_time"] == 1
        doc = http.get(f"/api/states/{state['id']}", headers=headers).json()
        assert doc["current_time"] == 1
        history = http.get(f"/api/states/{state['id']}/history", headers=headers).json()
        assert [row["timestep"] for row in history["items"]] == [0]

        # Without expected_time each call means "advance whatever is current": every 200 is
        # one distinct timestep, with no timestep advanced twice or skipped.
        responses = _fire(live_server.url, path, headers, None)
        won = sorted(r.json()["current_time"] for r in responses if r.status_code == 200)
        assert won == list(range(2, 2 + len(won)))
        assert all(r.status_code in (200, 409) for r in responses)
        history = http.get(f"/api/states/{state['id']}/history", headers=headers).json()
        assert [row["timestep"] for row in history["items"]] == list(range(1 + len(won)))


def test_metrics_reported_while_next_decides_reach_the_engine(backend, tmp_path):
    """A current-timestep report landing between `next`'s read and its write is answered as
    counting (not a correction), so the step is decided again with it, not without it."""
    app = create_app(make_settings(backend, tmp_path / "data", decision_workers=1))
    with TestClient(app) as client:
        headers = client_user(client, "mid")
        ids = make_campaigns(client, headers, n=2)
        state = make_state(client, headers, ids).json()
        pool = app.state.decisions
        decide, seen, answers = pool.decide, [], []

        async def decide_while_reported(policy, engine, observations, active):
            seen.append(observations["revenue"])
            if not answers:
                row = {"campaign_id": ids[0], "spend": 150, "revenue": 400}
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
                    answers.append(
                        await other.post(
                            f"/api/states/{state['id']}/metrics",
                            json={"timestep": 0, "metrics": [row]},
                            headers=headers,
                        )
                    )
            return await decide(policy, engine, observations, active)

        pool.decide = decide_while_reported
        advanced = client.post(f"/api/states/{state['id']}/next", headers=headers)
        assert advanced.status_code == 200, advanced.text
        assert answers[0].status_code == 200 and answers[0].json()["correction"] is False
        assert seen == [[None, None], [400, None]]
        row = client.get(f"/api/states/{state['id']}/history", headers=headers).json()["items"][0]
        assert row["metrics"][ids[0]]["revenue"] == 400 and row["corrected_at"] is None


def test_a_refold_survives_reports_of_the_timestep_in_progress(client, tenant):
    """Reports of the current timestep bump the state's version but leave a correction's
    refold valid: its write goes through. A `next` in between invalidates it."""
    from utils.decisions import refolded
    from utils.timesteps import commit_refold, pending_refold

    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids).json()
    sid, url = state["id"], f"/api/states/{state['id']}"
    assert client.post(f"{url}/next", headers=tenant.headers).status_code == 200
    store = client.app.state.store
    body = {"timestep": 0, "metrics": [{"campaign_id": ids[0], "spend": 250}]}
    assert client.post(f"{url}/metrics", json=body, headers=tenant.headers).status_code == 200
    store.collection("metrics").upsert(
        {"_id": f"{sid}:0"}, {"$set": {f"rows.{ids[1]}": {"spend": 50}}}
    )

    def refold_of(pending):
        s = pending.state
        return refolded(s["policy"], s["engine"], pending.observations, pending.planned)

    pending = store.run(lambda: pending_refold(store, sid))
    current = {"timestep": 1, "metrics": [{"campaign_id": ids[0], "spend": 10}]}
    assert client.post(f"{url}/metrics", json=current, headers=tenant.headers).status_code == 200
    assert store.run(lambda: commit_refold(store, pending, refold_of(pending))) is True
    now = client.get(url, headers=tenant.headers).json()
    assert now["remaining"] == pytest.approx(3000 - 250 - 50)

    store.collection("metrics").upsert(
        {"_id": f"{sid}:0"}, {"$set": {f"rows.{ids[1]}": {"spend": 60}}}
    )
    pending = store.run(lambda: pending_refold(store, sid))
    assert client.post(f"{url}/next", headers=tenant.headers).status_code == 200
    assert store.run(lambda: commit_refold(store, pending, refold_of(pending))) is False


def test_metrics_reported_after_next_wrote_are_a_correction(client, tenant):
    """A report for timestep t read while t was current, stored after `next` finished t, is
    a late correction: the answer says so and history marks the row corrected."""
    ids = make_campaigns(client, tenant.headers, n=2)
    state = make_state(client, tenant.headers, ids).json()
    store = client.app.state.store
    stale = store.collection("states").get({"_id": state["id"]})
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).status_code == 200
    body = MetricsPost(timestep=0, metrics=[{"campaign_id": ids[0], "spend": 150}])
    assert asyncio.run(record_metrics(store, DecisionPool(0), stale, body)) is True
    row = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert row["items"][0]["corrected_at"] is not None
    # And the engine folded it in: 150 spent where 150 was planned for that campaign, and the
    # other campaign's planned 150 counted as spent.
    now = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert now["remaining"] == pytest.approx(3000 - 300)
    body = MetricsPost(timestep=0, metrics=[{"campaign_id": ids[1], "spend": 30}])
    assert asyncio.run(record_metrics(store, DecisionPool(0), stale, body)) is True
    now = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert now["remaining"] == pytest.approx(3000 - 150 - 30)
