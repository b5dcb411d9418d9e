"""The timestep service's compare-and-sets other than the main advance, its rewards and its
clock: each interleaving is played step by step on the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import created_state, make_campaigns
from utils.crud import campaigns, states
from utils.decisions import decide, refolded
from utils.timesteps import (
    StateConflict,
    commit_refold,
    commit_step,
    pending_refold,
    pending_step,
    rebalanced_states,
    runs,
    save_rebalanced,
    set_paused,
)

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def _stored(client, state_id: str) -> dict:
    store = client.app.state.store
    return store.run(lambda: states.get(store, state_id))


def _report(client, headers, state_id, timestep, ids, spend=100.0, revenue=250.0):
    rows = [{"campaign_id": cid, "spend": spend, "revenue": revenue} for cid in ids]
    body = {"timestep": timestep, "metrics": rows}
    posted = client.post(f"/api/states/{state_id}/metrics", json=body, headers=headers)
    assert posted.status_code in (200, 201), posted.text


def test_pausing_or_resuming_a_stale_copy_changes_nothing(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    store = client.app.state.store
    stale = _stored(client, state["id"])
    assert client.post(f"/api/states/{state['id']}/pause", headers=tenant.headers).is_success
    assert client.post(f"/api/states/{state['id']}/resume", headers=tenant.headers).is_success
    now = _stored(client, state["id"])
    assert store.run(lambda: set_paused(store, stale, True)) is None
    assert _stored(client, state["id"]) == now
    paused = store.run(lambda: set_paused(store, now, True))
    assert paused is not None and paused["status"] == "paused"
    assert store.run(lambda: set_paused(store, now, False)) is None  # `now` is stale already


def test_a_refold_is_not_written_over_an_engine_that_changed(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    _report(client, tenant.headers, state["id"], 0, ids)
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).is_success
    store = client.app.state.store
    pending = store.run(lambda: pending_refold(store, state["id"]))
    step = pending.state
    # a correction of timestep 0's spend, refolded into a new engine...
    corrected = [{**pending.observations[0], "spend": [150.0, 150.0]}]
    decision = refolded(step["policy"], step["engine"], corrected, pending.planned)
    assert decision.engine != step["engine"]
    # ...while another writer of the engine: a campaign paused re-balances the state
    paused = client.patch(
        f"/api/campaigns/{ids[0]}", json={"status": "paused"}, headers=tenant.headers
    )
    assert paused.status_code == 200, paused.text
    before = _stored(client, state["id"])
    assert before["engine"] != step["engine"]
    assert store.run(lambda: commit_refold(store, pending, decision)) is False
    assert _stored(client, state["id"]) == before


def test_a_stale_step_does_not_overwrite_a_later_history_row(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    _report(client, tenant.headers, state["id"], 0, ids)
    store = client.app.state.store
    stale = store.run(lambda: pending_step(store, _stored(client, state["id"])))
    stale_decision = decide(
        stale.state["policy"], stale.state["engine"], stale.observations, stale.active
    )
    # meanwhile: capped (a new version) and advanced on that version
    capped = client.patch(
        f"/api/campaigns/{ids[0]}", json={"max_budget": 50}, headers=tenant.headers
    )
    assert capped.status_code == 200, capped.text
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).is_success
    written = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    with pytest.raises(StateConflict, match="already advanced"):
        store.run(lambda: commit_step(store, stale, stale_decision))
    again = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert again == written
    assert again["items"][0]["budgets"][ids[0]] == 50.0


def test_the_profit_reward_of_a_history_row_is_revenue_less_spend(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=3)
    state = created_state(client, tenant.headers, ids, objective="profit")
    rows = [
        {"campaign_id": ids[0], "spend": 100.0, "revenue": 250.0},
        {"campaign_id": ids[1], "spend": 80.0, "revenue": 20.0},
        {"campaign_id": ids[2], "spend": 40.0},  # no revenue reported: left out
    ]
    body = {"timestep": 0, "metrics": rows}
    assert client.post(f"/api/states/{state['id']}/metrics", json=body, headers=tenant.headers)
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).is_success
    (row,) = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()[
        "items"
    ]
    assert row["reward"] == pytest.approx(150.0 - 60.0)


def test_two_pauses_move_the_due_time_by_both_spans(client, tenant, monkeypatch):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids, start_at=T0.isoformat(), timestep_hours=24)
    assert datetime.fromisoformat(state["next_due_at"]) == T0 + timedelta(hours=24)
    url = f"/api/states/{state['id']}"
    for pause_at, resume_at in ((1, 3), (5, 6)):
        monkeypatch.setattr(runs, "utcnow", lambda h=pause_at: T0 + timedelta(hours=h))
        assert client.post(f"{url}/pause", headers=tenant.headers).is_success
        monkeypatch.setattr(runs, "utcnow", lambda h=resume_at: T0 + timedelta(hours=h))
        assert client.post(f"{url}/resume", headers=tenant.headers).is_success
    due = client.get(url, headers=tenant.headers).json()["next_due_at"]
    assert datetime.fromisoformat(due) == T0 + timedelta(hours=24 + 2 + 1)


def test_a_new_state_starts_at_version_0_and_each_step_keeps_the_due_times_on_the_clock(
    client, tenant
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids, start_at=T0.isoformat(), timestep_hours=2)
    assert state["version"] == 0
    assert datetime.fromisoformat(state["next_due_at"]) == T0 + timedelta(hours=2)
    _report(client, tenant.headers, state["id"], 0, ids)
    reported = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    stepped = client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).json()
    # never paused: the next timestep is due exactly one timestep later
    assert datetime.fromisoformat(stepped["next_due_at"]) == T0 + timedelta(hours=4)
    # a report and a step are one compare-and-set each: one version on each
    assert reported["version"] == 1
    assert stepped["version"] == 2
    stored = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert stored["version"] == 2


def test_a_correction_refolds_the_spend_of_a_campaign_removed_since(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=3)
    state = created_state(client, tenant.headers, ids)  # 300 a timestep: 100 each
    url = f"/api/states/{state['id']}"
    rows = [
        {"campaign_id": cid, "spend": s} for cid, s in zip(ids, (100.0, 100.0, 40.0), strict=True)
    ]
    body = {"timestep": 0, "metrics": rows}
    assert client.post(f"{url}/metrics", json=body, headers=tenant.headers).is_success
    assert client.post(f"{url}/next", headers=tenant.headers).is_success
    removed = client.patch(url, json={"campaign_ids": ids[:2]}, headers=tenant.headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["remaining"] == pytest.approx(3000 - 240)
    # a late correction of timestep 0: the removed campaign still spent its reported 40
    late = {"timestep": 0, "metrics": [{"campaign_id": ids[0], "spend": 80.0}]}
    assert client.post(f"{url}/metrics", json=late, headers=tenant.headers).is_success
    assert client.get(url, headers=tenant.headers).json()["remaining"] == pytest.approx(
        3000 - 80 - 100 - 40
    )


def test_a_correction_to_a_completed_run_keeps_its_engine_as_it_ended(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids, timesteps=2)
    url = f"/api/states/{state['id']}"
    for t in range(2):
        _report(client, tenant.headers, state["id"], t, ids)
        assert client.post(f"{url}/next", headers=tenant.headers).is_success
    ended = _stored(client, state["id"])
    assert ended["status"] == "completed"
    _report(client, tenant.headers, state["id"], 0, ids, spend=10.0)
    # its last timestep (1) takes corrections too; the one it never ran (2) is refused
    _report(client, tenant.headers, state["id"], 1, ids, spend=20.0)
    never = {"timestep": 2, "metrics": [{"campaign_id": ids[0], "spend": 1.0}]}
    refused = client.post(f"{url}/metrics", json=never, headers=tenant.headers)
    assert refused.status_code == 422 and "never ran" in refused.text
    after = _stored(client, state["id"])
    assert after["engine"] == ended["engine"] and after["status"] == "completed"
    assert client.get(url, headers=tenant.headers).json()["remaining"] == ended["remaining"]
    # a run that completes while a correction is recorded is not refolded either; nor is a
    # run with no finished timestep, nor one deleted
    store = client.app.state.store
    assert store.run(lambda: pending_refold(store, state["id"])) is None
    fresh = created_state(client, tenant.headers, ids)
    assert store.run(lambda: pending_refold(store, fresh["id"])) is None
    assert store.run(lambda: pending_refold(store, "no-such-state")) is None


def test_a_rebalance_that_lost_a_race_is_planned_again_on_the_fresh_state(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    store = client.app.state.store
    campaign = store.run(lambda: campaigns.get_owned(store, {}, ids[0]))
    paused = {**campaign, "status": "paused"}
    planned = store.run(lambda: rebalanced_states(store, paused))
    # meanwhile another call changes the state: the planned copy is stale
    renamed = client.patch(
        f"/api/states/{state['id']}", json={"name": "renamed"}, headers=tenant.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert store.run(lambda: save_rebalanced(store, paused, planned)) == 1
    now = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert now["name"] == "renamed"
    assert now["budgets"][ids[0]] == 0.0 and now["budgets"][ids[1]] == 300.0
    # a state deleted meanwhile is left alone
    planned = store.run(lambda: rebalanced_states(store, paused))
    assert client.delete(f"/api/states/{state['id']}", headers=tenant.headers).is_success
    assert store.run(lambda: save_rebalanced(store, paused, planned)) == 0
    assert _stored(client, state["id"]) is None


def test_a_run_needs_one_active_campaign_and_one_is_enough(client, tenant):
    ids = make_campaigns(client, tenant.headers, 3)
    for cid in ids[1:]:
        paused = client.patch(
            f"/api/campaigns/{cid}", json={"status": "paused"}, headers=tenant.headers
        )
        assert paused.status_code == 200, paused.text
    state = created_state(client, tenant.headers, ids)
    assert state["budgets"][ids[0]] == pytest.approx(300.0)
    assert state["budgets"][ids[1]] == state["budgets"][ids[2]] == 0
    body = {"campaign_ids": ids[1:], "budget": 3000, "timesteps": 10}
    refused = client.post("/api/states", json=body, headers=tenant.headers)
    assert refused.status_code == 422
    assert "active" in refused.text


def test_reposting_what_was_reported_is_no_correction(client, tenant):
    """A finished timestep's row posted again as it was stores nothing and leaves history
    unmarked; a changed one is a correction. The current timestep's row is always stored."""
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid, cid = state["id"], ids[0]
    url = f"/api/states/{sid}/metrics"
    body = {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": 80, "revenue": 120}]}
    for version in (1, 2):
        first = client.post(url, json=body, headers=tenant.headers)
        assert first.status_code == 200 and first.json()["recorded"] == 1
        assert first.json()["correction"] is False
        assert _stored(client, sid)["version"] == version
    assert client.post(f"/api/states/{sid}/next", headers=tenant.headers).status_code == 200
    again = client.post(url, json=body, headers=tenant.headers)
    assert again.status_code == 200 and again.json()["correction"] is True
    assert again.json()["recorded"] == 0
    history = f"/api/states/{sid}/history"
    assert client.get(history, headers=tenant.headers).json()["items"][0]["corrected_at"] is None
    changed = {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": 80, "revenue": 90}]}
    written = client.post(url, json=changed, headers=tenant.headers)
    assert written.status_code == 200 and written.json()["recorded"] == 1
    row = client.get(history, headers=tenant.headers).json()["items"][0]
    assert row["corrected_at"] is not None and row["metrics"][cid]["revenue"] == 90


def test_deleting_a_state_removes_its_history_and_metrics(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    _report(client, tenant.headers, sid, 0, ids)
    assert client.post(f"/api/states/{sid}/next", headers=tenant.headers).status_code == 200
    _report(client, tenant.headers, sid, 1, ids)
    store = client.app.state.store
    for name in ("history", "metrics"):
        assert store.collection(name).count({"state_id": sid}) > 0
    assert client.delete(f"/api/states/{sid}", headers=tenant.headers).status_code == 204
    for name in ("history", "metrics"):
        assert store.collection(name).count({"state_id": sid}) == 0, name
    assert store.collection("states").count({"_id": sid}) == 0


def test_a_report_recorded_at_the_instant_its_timestep_was_read_is_no_correction(
    client, tenant, monkeypatch
):
    """Clocks tick coarsely (MongoDB keeps milliseconds): a report stored before `next` read
    its timestep, at the same clock reading, was seen by the decision and is not late."""
    from utils.timesteps import advancing, reports

    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    instant = T0 + timedelta(days=1)
    monkeypatch.setattr(reports, "utcnow", lambda: instant)
    monkeypatch.setattr(advancing, "utcnow", lambda: instant)
    _report(client, tenant.headers, state["id"], 0, ids)
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).is_success
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert history["items"][0]["corrected_at"] is None


def test_a_start_time_is_kept_to_the_millisecond_as_stored(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    start = T0 + timedelta(microseconds=123_456)
    state = created_state(client, tenant.headers, ids, start_at=start.isoformat(), timestep_hours=1)
    kept = T0 + timedelta(milliseconds=123)
    assert datetime.fromisoformat(state["start_at"]) == kept
    assert datetime.fromisoformat(state["next_due_at"]) == kept + timedelta(hours=1)
    read = client.get(f"/api/states/{state['id']}", headers=tenant.headers).json()
    assert read["start_at"] == state["start_at"] and read["next_due_at"] == state["next_due_at"]


def test_a_drawn_seed_fits_a_64_bit_integer(client, tenant, monkeypatch):
    """A run without a seed draws one the API itself would accept (below 2**63): MongoDB
    stores at most a signed 64-bit integer. The draw is pinned to its largest value."""
    monkeypatch.setattr(runs.secrets, "randbelow", lambda n: n - 1)
    ids = make_campaigns(client, tenant.headers, 2)
    body = {"campaign_ids": ids, "budget": 3000, "timesteps": 10}
    made = client.post("/api/states", json=body, headers=tenant.headers)
    assert made.status_code == 201, made.text
    assert made.json()["seed"] == 2**63 - 1
    assert _stored(client, made.json()["id"])["seed"] == 2**63 - 1


def test_a_step_that_lost_to_a_pause_or_to_another_step_says_which(client, tenant):
    """A step decided while the state was paused says so (at its timestep); one that another
    `next` beat says the timestep was advanced, with the current timestep, even if the state
    was paused after that."""
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid, url = state["id"], f"/api/states/{state['id']}"
    store = client.app.state.store

    def stale_step():
        step = store.run(lambda: pending_step(store, _stored(client, sid)))
        s = step.state
        return step, decide(s["policy"], s["engine"], step.observations, step.active)

    step, decision = stale_step()
    assert client.post(f"{url}/pause", headers=tenant.headers).is_success
    with pytest.raises(StateConflict, match="was paused") as lost:
        store.run(lambda: commit_step(store, step, decision))
    assert lost.value.current_time == 0
    assert client.post(f"{url}/resume", headers=tenant.headers).is_success
    step, decision = stale_step()
    assert client.post(f"{url}/next", headers=tenant.headers).is_success
    assert client.post(f"{url}/pause", headers=tenant.headers).is_success
    with pytest.raises(StateConflict, match="already advanced; current_time is 1") as lost:
        store.run(lambda: commit_step(store, step, decision))
    assert lost.value.current_time == 1


def test_the_revenue_reward_of_a_history_row_is_the_revenue_alone(client, tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    state = created_state(client, tenant.headers, ids, objective="revenue")
    rows = [
        {"campaign_id": ids[0], "spend": 100.0, "revenue": 250.0},
        {"campaign_id": ids[1], "spend": 80.0, "revenue": 20.0},
    ]
    body = {"timestep": 0, "metrics": rows}
    assert client.post(f"/api/states/{state['id']}/metrics", json=body, headers=tenant.headers)
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).is_success
    history = client.get(f"/api/states/{state['id']}/history", headers=tenant.headers).json()
    assert history["items"][0]["reward"] == 270.0


def test_a_correction_whose_refold_keeps_losing_gives_up_after_ten_attempts(
    client, tenant, monkeypatch
):
    from utils.timesteps import refolds

    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    _report(client, tenant.headers, state["id"], 0, ids)
    assert client.post(f"/api/states/{state['id']}/next", headers=tenant.headers).is_success
    attempts = []

    def always_lost(store, pending, decision):
        attempts.append(pending)
        return False

    monkeypatch.setattr(refolds, "commit_refold", always_lost)
    rows = [{"campaign_id": cid, "spend": 90.0, "revenue": 250.0} for cid in ids]
    answer = client.post(
        f"/api/states/{state['id']}/metrics",
        json={"timestep": 0, "metrics": rows},
        headers=tenant.headers,
    )
    assert answer.status_code == 409, answer.text
    assert len(attempts) == 10
