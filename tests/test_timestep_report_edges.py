"""Reports and corrections at the timestep service's edges.

Metrics stored for a state deleted meanwhile, a campaign added mid-run, corrections that
change no spend or whose refold lost, which reports cost a refold, and a report naming a
campaign added after a lost step. Each test plays one interleaving on a small run, step by
step.
"""

from __future__ import annotations

import pytest

from models.states import MetricsPost
from tests.conftest import created_state, make_campaigns
from tests.timestep_helpers import _next, _post, _report, _rows, _stale_step, _stored
from utils.timesteps import StateConflict, commit_step, refolds, store_metrics


def test_metrics_stored_for_a_state_deleted_meanwhile_are_removed(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    store = client.app.state.store
    stale = _stored(client, sid)
    assert client.delete(f"/api/states/{sid}", headers=tenant.headers).status_code == 204
    body = MetricsPost(timestep=0, metrics=[{"campaign_id": ids[0], "spend": 10.0}])
    with pytest.raises(StateConflict, match="The state was deleted"):
        store.run(lambda: store_metrics(store, stale, body))
    assert _rows(client, "metrics", sid) == 0


def test_a_campaign_added_mid_run_planned_nothing_and_reported_nothing_before(client, tenant):
    """A campaign added at timestep 1: timestep 0's rows cannot name it, its correction is
    refolded with nothing planned for it then, history keeps timestep 0's two campaigns, and
    the addition shows at the timestep it happened."""
    ids = make_campaigns(client, tenant.headers, n=3)
    state = created_state(client, tenant.headers, ids[:2])  # 300 a timestep: 150 each
    sid, url = state["id"], f"/api/states/{state['id']}"
    _report(client, tenant.headers, sid, 0, ids[:2])
    _next(client, tenant.headers, sid)
    added = client.patch(url, json={"campaign_ids": ids}, headers=tenant.headers)
    assert added.status_code == 200, added.text
    outside = _post(client, tenant.headers, sid, 0, [{"campaign_id": ids[2], "spend": 5.0}])
    assert outside.status_code == 422
    assert f"Campaigns not in this state at timestep 0: {ids[2]}" in outside.text
    late = _post(client, tenant.headers, sid, 0, [{"campaign_id": ids[0], "spend": 80.0}])
    assert late.status_code == 200 and late.json()["correction"] is True
    assert _stored(client, sid)["remaining"] == pytest.approx(3000 - 80 - 100, abs=1e-6)
    _report(client, tenant.headers, sid, 1, ids)
    _next(client, tenant.headers, sid)
    rows = client.get(f"{url}/history", headers=tenant.headers).json()["items"]
    assert list(rows[0]["metrics"]) == ids[:2] and list(rows[1]["metrics"]) == ids
    assert rows[0]["events"] == []
    assert [event["timestep"] for event in rows[1]["events"]] == [1]
    assert rows[1]["events"][0]["changes"]["campaign_ids"]["to"] == ids


def test_a_correction_of_revenue_alone_is_refolded_and_an_unchanged_repost_writes_nothing(
    client, tenant
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    _report(client, tenant.headers, sid, 0, ids)
    _next(client, tenant.headers, sid)
    before = _stored(client, sid)
    revenue = [{"campaign_id": ids[0], "spend": 100.0, "revenue": 900.0}]
    corrected = _post(client, tenant.headers, sid, 0, revenue)
    assert corrected.status_code == 200 and corrected.json()["correction"] is True
    after = _stored(client, sid)
    # the same spend: nothing to re-pace, yet the engine learnt the new revenue
    assert after["remaining"] == before["remaining"] and after["budgets"] == before["budgets"]
    assert after["engine"] != before["engine"]
    assert after["version"] == before["version"] + 1
    again = _post(client, tenant.headers, sid, 0, revenue)
    assert again.status_code == 200 and again.json()["recorded"] == 0
    assert _stored(client, sid) == after


def test_reposting_a_correction_whose_refold_lost_refolds_it(client, tenant, monkeypatch):
    """The 409 of a refold that kept losing says to post the same rows again: that repost
    stores nothing new but folds the recorded rows into the engine."""
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    _report(client, tenant.headers, sid, 0, ids)
    _next(client, tenant.headers, sid)
    rows = [{"campaign_id": ids[0], "spend": 40.0}]
    with monkeypatch.context() as patched:
        patched.setattr(refolds, "commit_refold", lambda *args: False)
        lost = _post(client, tenant.headers, sid, 0, rows)
    assert lost.status_code == 409, lost.text
    assert _stored(client, sid)["remaining"] == pytest.approx(3000 - 200, abs=1e-6)
    again = _post(client, tenant.headers, sid, 0, rows)
    assert again.status_code == 200 and again.json()["recorded"] == 0
    assert _stored(client, sid)["remaining"] == pytest.approx(3000 - 140, abs=1e-6)


def test_reports_of_the_current_timestep_cost_no_refold_and_a_correction_one(
    client, tenant, monkeypatch
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    _report(client, tenant.headers, sid, 0, ids)
    _next(client, tenant.headers, sid)
    pool = client.app.state.decisions
    refold, refolded = pool.refold, []

    async def counted(policy, engine, *rest):
        refolded.append(len(rest[0]))  # the finished timesteps it was given
        return await refold(policy, engine, *rest)

    monkeypatch.setattr(pool, "refold", counted)
    _report(client, tenant.headers, sid, 1, ids)
    assert refolded == []
    _report(client, tenant.headers, sid, 0, ids, spend=90.0)
    assert refolded == [1]


def test_a_current_report_may_name_a_campaign_added_after_a_lost_step_wrote_its_row(client, tenant):
    """A step that lost to a pause leaves its history row at the current timestep: a report
    of that timestep still takes every campaign the run has now."""
    ids = make_campaigns(client, tenant.headers, n=3)
    state = created_state(client, tenant.headers, ids[:2])
    sid, url = state["id"], f"/api/states/{state['id']}"
    store = client.app.state.store
    step, decision = _stale_step(client, sid)
    assert client.post(f"{url}/pause", headers=tenant.headers).is_success
    with pytest.raises(StateConflict, match="was paused"):
        store.run(lambda: commit_step(store, step, decision))
    assert _rows(client, "history", sid) == 1
    added = client.patch(url, json={"campaign_ids": ids}, headers=tenant.headers)
    assert added.status_code == 200, added.text
    assert client.post(f"{url}/resume", headers=tenant.headers).is_success
    current = _post(client, tenant.headers, sid, 0, [{"campaign_id": ids[2], "spend": 5.0}])
    assert current.status_code == 200, current.text
    assert current.json()["correction"] is False
