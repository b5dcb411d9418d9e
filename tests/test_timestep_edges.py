"""The timestep service's less travelled branches: lost compare-and-sets, races, cron, versions.

Steps that lose their compare-and-set in each way, deletions racing writes, cron runs that
meet a state changed since the listing, and the version each write moves on. Each test plays
one interleaving on a small run, step by step (reports and corrections at the edges:
tests/test_timestep_report_edges.py).
"""

from __future__ import annotations

import inspect
import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import created_state, make_campaigns
from tests.timestep_helpers import _next, _report, _rows, _stale_step, _stored
from utils.crud import campaigns, states
from utils.db import as_utc
from utils.decisions import decide
from utils.timesteps import (
    StateChanged,
    StateConflict,
    advancing,
    commit_step,
    due,
    pending_step,
    rebalanced_states,
    runs,
    save_rebalanced,
)
from utils.timesteps.driver import RETRY

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def _logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "oktopus.timesteps"]


def test_a_step_that_keeps_finding_its_state_rebalanced_gives_up_after_three_attempts(
    client, tenant, monkeypatch
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    attempts = []

    def rebalanced_meanwhile(store, step, decision):
        attempts.append(step.state["current_time"])
        raise StateChanged("re-balanced meanwhile")

    monkeypatch.setattr(advancing, "commit_step", rebalanced_meanwhile)
    answer = client.post(f"/api/states/{state['id']}/next", headers=tenant.headers)
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == {
        "message": "The state kept changing while timestep 0 was decided: retry",
        "current_time": 0,
    }
    assert attempts == [0, 0, 0]


def test_a_step_decided_again_after_a_rebalance_never_advances_the_next_timestep(
    client, tenant, monkeypatch
):
    """A step that lost to a re-balance is decided again for the same timestep: if another
    `next` advanced the state before the second read, the retry must not advance it again."""
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    real_commit, calls = advancing.commit_step, []

    def another_step_won_then_rebalanced(store, step, decision):
        if step.state["current_time"] == 0 and not calls:
            calls.append(real_commit(store, step, decision))  # the other `next`
            raise StateChanged("re-balanced meanwhile")
        calls.append(step)
        return real_commit(store, step, decision)

    monkeypatch.setattr(advancing, "commit_step", another_step_won_then_rebalanced)
    answer = client.post(f"/api/states/{state['id']}/next", headers=tenant.headers)
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == {"message": "current_time is 1, not 0", "current_time": 1}
    assert len(calls) == 1
    assert _stored(client, state["id"])["current_time"] == 1
    assert _rows(client, "history", state["id"]) == 1


def test_a_step_that_lost_to_a_rebalance_or_to_another_step_says_which(client, tenant, caplog):
    """Re-balanced (same timestep, still active): StateChanged, decide again. Advanced by
    another `next` (the state active still): the timestep was advanced. A stale step that
    finds its history row written by a later version leaves that row and logs it."""
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    store = client.app.state.store
    _report(client, tenant.headers, sid, 0, ids)
    step, decision = _stale_step(client, sid)
    capped = client.patch(
        f"/api/campaigns/{ids[0]}", json={"max_budget": 50}, headers=tenant.headers
    )
    assert capped.status_code == 200, capped.text
    with caplog.at_level(logging.INFO, logger="oktopus.timesteps"):
        with pytest.raises(StateChanged):
            store.run(lambda: commit_step(store, step, decision))
        assert _logged(caplog) == []  # nothing of a later version was there
        step, decision = _stale_step(client, sid)
        _next(client, tenant.headers, sid)
        assert _stored(client, sid)["status"] == "active"
        with pytest.raises(StateConflict, match="already advanced; current_time is 1"):
            store.run(lambda: commit_step(store, step, decision))
        assert _logged(caplog) == []  # the winner's row is of the same version: rewritten
        # a step decided before a re-balance, committed after the winner's later version
        _report(client, tenant.headers, sid, 1, ids)
        step, decision = _stale_step(client, sid)
        capped = client.patch(
            f"/api/campaigns/{ids[1]}", json={"max_budget": 260}, headers=tenant.headers
        )
        assert capped.status_code == 200, capped.text
        _next(client, tenant.headers, sid)
        with pytest.raises(StateConflict, match="already advanced"):
            store.run(lambda: commit_step(store, step, decision))
    assert _logged(caplog) == [f"History of state {sid} timestep 1 is of a later version"]


def test_a_step_committed_after_its_state_was_deleted_leaves_no_history(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    store = client.app.state.store
    _report(client, tenant.headers, sid, 0, ids)
    step, decision = _stale_step(client, sid)
    assert client.delete(f"/api/states/{sid}", headers=tenant.headers).status_code == 204
    with pytest.raises(StateConflict, match="The state was deleted") as lost:
        store.run(lambda: commit_step(store, step, decision))
    assert lost.value.current_time == 0
    assert _rows(client, "history", sid) == 0


def test_a_deletion_racing_a_step_leaves_nothing_behind(client, tenant, monkeypatch):
    """The step commits between the deletion's removal of the rows and of the state: the
    state is already marked deleted, so the step loses and removes the row it wrote."""
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    sid = state["id"]
    _report(client, tenant.headers, sid, 0, ids)
    step, decision = _stale_step(client, sid)
    forget, lost = runs.forget_writes_of, []

    def forget_then_a_step_commits(store, state_id):
        forget(store, state_id)
        try:
            commit_step(store, step, decision)
        except StateConflict as error:
            lost.append(error.detail)

    monkeypatch.setattr(runs, "forget_writes_of", forget_then_a_step_commits)
    assert client.delete(f"/api/states/{sid}", headers=tenant.headers).status_code == 204
    assert lost == ["The state was deleted"]
    for name in ("history", "metrics", "states"):
        assert _rows(client, name, sid) == 0, name
    assert client.app.state.store.collection("states").count({"_id": sid}) == 0


def test_a_cron_run_reports_an_unexpected_failure_as_internal_and_logs_it(
    client, tenant, admin_headers, monkeypatch, caplog
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids, start_at=T0.isoformat(), timestep_hours=1)

    async def broken(*args):
        raise RuntimeError("a worker fell over")

    monkeypatch.setattr(client.app.state.decisions, "decide", broken)
    monkeypatch.setattr(due, "utcnow", lambda: T0 + timedelta(hours=2))
    with caplog.at_level(logging.ERROR, logger="oktopus.timesteps"):
        outcome = client.post("/api/timesteps/run", headers=admin_headers)
    assert outcome.status_code == 200, outcome.text
    assert outcome.json() == {
        "advanced": [],
        "skipped": [],
        "errors": [{"id": state["id"], "timestep": 0, "detail": "internal error"}],
    }
    assert _logged(caplog) == [f"Advancing state {state['id']} failed"]
    assert "a worker fell over" in caplog.text  # the traceback is in the log, not the answer


def test_a_cron_run_advances_a_state_due_at_the_very_instant_of_the_run(
    client, tenant, admin_headers, monkeypatch
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids, start_at=T0.isoformat(), timestep_hours=1)
    assert datetime.fromisoformat(state["next_due_at"]) == T0 + timedelta(hours=1)
    monkeypatch.setattr(due, "utcnow", lambda: T0 + timedelta(hours=1))
    outcome = client.post("/api/timesteps/run", headers=admin_headers).json()
    assert outcome["advanced"] == [{"id": state["id"], "timestep": 0, "status": "active"}]


def test_a_cron_run_skips_a_state_another_call_advanced_after_the_listing(
    client, tenant, admin_headers, monkeypatch
):
    """Advanced meanwhile to a timestep not due yet: the skip says it was advanced, not that
    the run's clock was stopped."""
    ids = make_campaigns(client, tenant.headers, 2)
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=90)).isoformat()
    state = created_state(client, tenant.headers, ids, start_at=start, timestep_hours=1)
    sid = state["id"]
    list_due = due._due

    def listed_then_advanced(store, *args):
        listed = list_due(store, *args)
        step = pending_step(store, states.get(store, sid))
        s = step.state
        commit_step(store, step, decide(s["policy"], s["engine"], step.observations, step.active))
        return listed

    monkeypatch.setattr(due, "_due", listed_then_advanced)
    outcome = client.post("/api/timesteps/run", headers=admin_headers).json()
    assert outcome["advanced"] == [] and outcome["errors"] == []
    assert outcome["skipped"] == [{"id": sid, "timestep": 0, "reason": "current_time is 1, not 0"}]
    stored = _stored(client, sid)
    assert stored["current_time"] == 1 and as_utc(stored["next_due_at"]) > now


def test_a_direct_cron_run_covers_as_many_states_as_an_api_run(client):
    """`utils.cron --direct` calls the service with its default limit: the API's default."""
    schema = client.get("/api/openapi.json").json()
    (limit,) = [
        p
        for p in schema["paths"]["/api/timesteps/run"]["post"]["parameters"]
        if p["name"] == "limit"
    ]
    default = inspect.signature(due.run_due).parameters["limit"].default
    assert default == limit["schema"]["default"] == 10_000


def test_a_rebalance_that_keeps_losing_gives_up_after_three_attempts(client, tenant, monkeypatch):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    store = client.app.state.store
    campaign = store.run(lambda: campaigns.get_owned(store, {}, ids[0]))
    paused = {**campaign, "status": "paused"}
    planned = store.run(lambda: rebalanced_states(store, paused))
    tries = []

    def always_lost(store, state_id, expected, update):
        tries.append(expected["version"])
        return None

    with monkeypatch.context() as patched:
        patched.setattr(states, "compare_and_update", always_lost)
        assert store.run(lambda: save_rebalanced(store, paused, planned)) == 0
    assert tries == [0, 0, 0]
    assert _stored(client, state["id"])["version"] == 0


def test_a_rebalance_moves_the_version_on_by_one_and_keeps_a_paused_runs_clock_stopped(
    client, tenant
):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids, start_at=T0.isoformat())
    url = f"/api/states/{state['id']}"
    capped = client.patch(
        f"/api/campaigns/{ids[0]}", json={"max_budget": 100}, headers=tenant.headers
    )
    assert capped.status_code == 200, capped.text
    assert _stored(client, state["id"])["version"] == 1
    paused = client.post(f"{url}/pause", headers=tenant.headers).json()
    assert paused["version"] == 2 and _stored(client, state["id"])["version"] == 2
    stopped_at = _stored(client, state["id"])["paused_at"]
    assert stopped_at is not None
    uncapped = client.patch(
        f"/api/campaigns/{ids[0]}", json={"max_budget": None}, headers=tenant.headers
    )
    assert uncapped.status_code == 200, uncapped.text
    after = _stored(client, state["id"])
    assert after["version"] == 3 and after["status"] == "paused"
    assert after["paused_at"] == stopped_at
    assert as_utc(after["next_due_at"]) == datetime.fromisoformat(state["next_due_at"])


def test_bounds_a_run_cannot_hold_are_refused_naming_the_run(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    created_state(client, tenant.headers, ids, name="spring")
    unnamed = created_state(client, tenant.headers, ids)
    refused = client.patch(
        f"/api/campaigns/{ids[0]}", json={"min_budget": 10**6}, headers=tenant.headers
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("The campaign's budget bounds cannot hold in state spring: ")
    assert f"; state {unnamed['id']}: " in detail


def test_a_run_whose_campaign_is_deleted_while_it_is_made_is_not_kept(client, tenant, monkeypatch):
    ids = make_campaigns(client, tenant.headers, 2)
    usable, reads = campaigns.usable, []

    def deleted_after_the_first_read(store, client_id, campaign_ids):
        found = usable(store, client_id, campaign_ids)
        reads.append(len(found))
        return found if len(reads) == 1 else {k: v for k, v in found.items() if k != ids[1]}

    monkeypatch.setattr(campaigns, "usable", deleted_after_the_first_read)
    body = {"campaign_ids": ids, "budget": 3000, "timesteps": 10, "seed": 7}
    refused = client.post("/api/states", json=body, headers=tenant.headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == f"Campaigns deleted meanwhile: {ids[1]}"
    assert reads == [2, 2]
    assert client.app.state.store.collection("states").count({}) == 0


@pytest.mark.parametrize("micros", [999_999, 500_250])
def test_a_start_time_is_cut_to_its_millisecond_not_rounded(client, tenant, micros):
    ids = make_campaigns(client, tenant.headers, 2)
    start = T0 + timedelta(microseconds=micros)
    state = created_state(client, tenant.headers, ids, start_at=start.isoformat(), timestep_hours=1)
    kept = T0 + timedelta(milliseconds=micros // 1000)
    assert datetime.fromisoformat(state["start_at"]) == kept
    assert as_utc(_stored(client, state["id"])["start_at"]) == kept


def test_a_pause_and_a_resume_move_the_version_on_by_one_each(client, tenant):
    ids = make_campaigns(client, tenant.headers, 2)
    state = created_state(client, tenant.headers, ids)
    url = f"/api/states/{state['id']}"
    paused = client.post(f"{url}/pause", headers=tenant.headers).json()
    assert paused["version"] == 1 and _stored(client, state["id"])["version"] == 1
    resumed = client.post(f"{url}/resume", headers=tenant.headers).json()
    assert resumed["version"] == 2 and _stored(client, state["id"])["version"] == 2


def test_the_retry_marker_names_itself():
    assert repr(RETRY) == "RETRY"
