"""Deleting a state leaves nothing behind, however it interleaves with `next` and reports.

Each test checks the store itself: no state document, no history row, no metrics row of the
deleted state, whatever the API answered.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from fast import create_app
from tests.conftest import client_user, make_campaigns, make_settings, make_state
from utils.crud import metrics as metrics_docs


def _left_behind(store, sid: str) -> dict[str, int]:
    """How many documents of state `sid` each collection still holds."""
    return {
        "states": store.collection("states").count({"_id": sid}),
        "history": store.collection("history").count({"state_id": sid}),
        "metrics": store.collection("metrics").count({"state_id": sid}),
    }


NOTHING = {"states": 0, "history": 0, "metrics": 0}


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "decision-worker"])
def test_a_delete_while_next_decides_leaves_no_history_row(backend, tmp_path, workers):
    """The state is deleted after `next` read it and before its commit: the history row the
    commit writes is removed again, and `next` answers 409."""
    app = create_app(make_settings(backend, tmp_path / "data", decision_workers=workers))
    with TestClient(app) as client:
        headers = client_user(client, "racer")
        ids = make_campaigns(client, headers, n=2)
        sid = make_state(client, headers, ids).json()["id"]
        row = {"campaign_id": ids[0], "spend": 100, "revenue": 250}
        posted = client.post(
            f"/api/states/{sid}/metrics", json={"timestep": 0, "metrics": [row]}, headers=headers
        )
        assert posted.status_code == 200
        pool = app.state.decisions
        decide, deleted = pool.decide, []

        async def delete_while_deciding(*arguments):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
                deleted.append(await other.delete(f"/api/states/{sid}", headers=headers))
            return await decide(*arguments)

        pool.decide = delete_while_deciding
        advanced = client.post(f"/api/states/{sid}/next", headers=headers)
        assert deleted[0].status_code == 204
        assert advanced.status_code == 409, advanced.text
        assert "deleted" in advanced.json()["detail"]["message"]
        assert _left_behind(app.state.store, sid) == NOTHING
        assert client.get(f"/api/states/{sid}", headers=headers).status_code == 404


def test_a_delete_while_metrics_are_written_leaves_no_metrics_row(client, tenant, monkeypatch):
    """The state is deleted between a report's check and its write (possible on a MongoDB
    server, where they are separate operations): the rows written are removed again."""
    from utils.timesteps import delete_state

    ids = make_campaigns(client, tenant.headers, n=2)
    sid = make_state(client, tenant.headers, ids).json()["id"]
    store = client.app.state.store
    save_rows = metrics_docs.save_rows

    def deleted_first(store_, state, *args):
        delete_state(store_, state)
        save_rows(store_, state, *args)

    monkeypatch.setattr(metrics_docs, "save_rows", deleted_first)
    row = {"campaign_id": ids[0], "spend": 100}
    posted = client.post(
        f"/api/states/{sid}/metrics",
        json={"timestep": 0, "metrics": [row]},
        headers=tenant.headers,
    )
    assert posted.status_code == 409, posted.text
    assert _left_behind(store, sid) == NOTHING


def test_deletes_racing_nexts_and_reports_leave_nothing(client, tenant):
    """Deletes fired together with `next` calls and reports, on several states: every
    deleted state is gone with all its rows, and none of the calls answers 5xx."""
    ids = make_campaigns(client, tenant.headers, n=2)
    states = [make_state(client, tenant.headers, ids).json()["id"] for _ in range(4)]
    answers: list[int] = []
    lock = threading.Lock()

    def call(method: str, path: str, body: dict | None = None) -> None:
        response = client.request(method, path, json=body, headers=tenant.headers)
        with lock:
            answers.append(response.status_code)

    threads = []
    for sid in states:
        report = {"timestep": 0, "metrics": [{"campaign_id": ids[1], "spend": 50}]}
        for method, path, body in (
            ("POST", f"/api/states/{sid}/next", None),
            ("POST", f"/api/states/{sid}/metrics", report),
            ("DELETE", f"/api/states/{sid}", None),
            ("POST", f"/api/states/{sid}/next", None),
        ):
            threads.append(threading.Thread(target=call, args=(method, path, body)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(status < 500 for status in answers), answers
    store = client.app.state.store
    for sid in states:
        assert _left_behind(store, sid) == NOTHING
