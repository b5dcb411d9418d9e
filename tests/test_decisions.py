"""Decision steps in worker processes: the same decisions as in process, errors and dead
workers handled, and the API's timestep loop unchanged with workers on every backend."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import EngineError, make_policy
from engine.simulate import make_world
from fast import create_app
from tests.conftest import client_user, make_campaigns, make_settings, make_state
from utils import decisions
from utils.decisions import DecisionPool, decide, engine_text, refolded

POLICY = {"name": "curve", "params": {}}


@pytest.fixture(scope="module")
def pool() -> Iterator[DecisionPool]:
    pool = DecisionPool(1)
    pool.ready()
    yield pool
    pool.close()


def _run_inputs(steps: int = 4, campaigns: int = 5) -> list[tuple[str, dict, list[bool]]]:
    """(stored engine text, observations, active) for `steps` timesteps of a curve run."""
    world = make_world("negexp", campaigns, steps + 1, seed=3)
    policy = make_policy(POLICY["name"], POLICY["params"])
    state = policy.init(campaigns, {"budget": 5000.0, "timesteps": steps + 1, "seed": 11})
    rng = np.random.default_rng(0)
    inputs, active = [], [True] * campaigns
    for t in range(steps):
        observations = world.observe(np.array(state["budgets"]), t, rng)
        inputs.append((engine_text(state), observations, active))
        state, _ = policy.advance(state, observations, active)
    return inputs


def test_workers_decide_exactly_as_the_api_process(pool):
    for text, observations, active in _run_inputs():
        here = decide(POLICY, text, observations, active)
        there = asyncio.run(pool.decide(POLICY, text, observations, active))
        assert there == here


def test_engine_errors_come_back_typed(pool):
    text, observations, active = _run_inputs(1)[0]
    with pytest.raises(EngineError, match="spend"):
        asyncio.run(pool.decide(POLICY, text, {**observations, "spend": [-1.0] * 5}, active))


def test_a_dead_worker_is_replaced(pool):
    text, observations, active = _run_inputs(1)[0]
    expected = decide(POLICY, text, observations, active)
    assert asyncio.run(pool.decide(POLICY, text, observations, active)) == expected
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=10)
    assert asyncio.run(pool.decide(POLICY, text, observations, active)) == expected


def test_a_cancelled_decision_leaves_no_answer_behind(pool):
    # A decision for 80 campaigns is sent at once (its 0.15 MB fit the socket's buffer) and
    # takes the worker milliseconds: time to cancel the request waiting for it (tried again in
    # the rare case the machine stalled past the decision's end).
    *_, (first, first_seen, active), (second, second_seen, _) = _run_inputs(3, campaigns=80)
    expected = decide(POLICY, second, second_seen, active)
    assert decide(POLICY, first, first_seen, active) != expected

    async def cancel_then_decide() -> tuple[bool, object]:
        task = asyncio.create_task(pool.decide(POLICY, first, first_seen, active))
        await asyncio.sleep(0.001)
        landed = not task.done()
        task.cancel()
        if landed:
            with pytest.raises(asyncio.CancelledError):
                await task
        answer = pool.decide(POLICY, second, second_seen, active)
        return landed, await asyncio.wait_for(answer, timeout=30)

    landed = []
    for _ in range(5):
        cancelled, answer = asyncio.run(cancel_then_decide())
        assert answer == expected
        landed.append(cancelled)
        if cancelled:
            break
    assert any(landed)


def test_workers_refold_exactly_as_the_api_process(pool):
    inputs = _run_inputs(steps=4)
    policy = make_policy(POLICY["name"], POLICY["params"])
    state = policy.init(5, {"budget": 5000.0, "timesteps": 5, "seed": 11})
    planned = []
    for _, observations, active in inputs:
        planned.append(list(state["budgets"]))
        state, _ = policy.advance(state, observations, active)
    observations = [
        {key: [float(x) for x in values] for key, values in row.items()} for _, row, _ in inputs
    ]
    observations[1]["revenue"] = [0.0] * 5
    here = refolded(POLICY, engine_text(state), observations, planned)
    there = asyncio.run(pool.refold(POLICY, engine_text(state), observations, planned))
    assert there == here and here.engine != engine_text(state)


def test_no_workers_means_deciding_in_process():
    """A pool of 0 workers decides itself, exactly as `decide` and `refolded` do."""
    policy = make_policy(POLICY["name"], POLICY["params"])
    state = policy.init(3, {"budget": 900.0, "timesteps": 3, "seed": 4}, [True] * 3)
    observations = {"spend": [100.0, 100.0, 100.0], "revenue": [300.0, 100.0, 50.0]}
    pool = DecisionPool(0)
    text = engine_text(state)
    made = asyncio.run(pool.decide(POLICY, text, observations, [True] * 3))
    assert made == decide(POLICY, text, observations, [True] * 3)
    assert made.remaining == pytest.approx(600.0)
    with pytest.raises(EngineError):
        asyncio.run(pool.decide(POLICY, text, {"spend": [-1.0] * 3}, [True] * 3))
    pool.close()


def _timestep_loop(backend: str, data_dir: Path, workers: int) -> list[dict]:
    """Budgets and history of a 5-timestep curve state driven over HTTP, timestep 0's first
    campaign corrected (more spend, less revenue) once timestep 2 is decided."""
    settings = make_settings(backend, data_dir, decision_workers=workers)
    with TestClient(create_app(settings)) as client:
        headers = client_user(client, "planner")
        ids = make_campaigns(client, headers, n=4)
        state = make_state(client, headers, ids, timesteps=5, policy=POLICY).json()
        sid, seen = state["id"], [state["budgets"]]
        for t in range(5):
            rows = [
                {"campaign_id": cid, "spend": spend, "revenue": spend * (1 + k) ** 0.5}
                for k, (cid, spend) in enumerate(state["budgets"].items())
            ]
            body = {"timestep": t, "metrics": rows}
            client.post(f"/api/states/{sid}/metrics", json=body, headers=headers)
            response = client.post(f"/api/states/{sid}/next", headers=headers)
            assert response.status_code == 200, response.text
            state = response.json()
            if t == 2:
                late = {"campaign_id": ids[0], "spend": seen[0][ids[0]] + 50, "revenue": 1.0}
                body = {"timestep": 0, "metrics": [late]}
                corrected = client.post(f"/api/states/{sid}/metrics", json=body, headers=headers)
                assert corrected.json()["correction"] is True
                state = client.get(f"/api/states/{sid}", headers=headers).json()
                assert state["remaining"] == pytest.approx(response.json()["remaining"] - 50)
            seen.append(state["budgets"])
        again = client.post(f"/api/states/{sid}/next", headers=headers)
        assert again.status_code == 409 and state["status"] == "completed"
        history = client.get(f"/api/states/{sid}/history", headers=headers).json()
        rewards = [row["reward"] for row in history["items"]]
        return [[budgets[cid] for cid in ids] for budgets in seen] + rewards


def _not_here(*args: object) -> None:
    raise AssertionError("decided in the API process")


def test_api_decides_the_same_with_or_without_workers(backend, tmp_path, monkeypatch):
    without = _timestep_loop(backend, tmp_path / "without", workers=0)
    # With workers, every decision and refold is made in a worker: none in the API process.
    monkeypatch.setitem(decisions._TASKS, "decide", _not_here)
    monkeypatch.setitem(decisions._TASKS, "refold", _not_here)
    with_workers = _timestep_loop(backend, tmp_path / "with", workers=1)
    assert with_workers == without
    assert len(without) == 11 and without[0] != without[-6]


def test_a_campaign_paused_while_next_decides_gets_nothing(backend, tmp_path):
    """A campaign update that lands while a worker decides `next` re-balances the state; the
    step decided on the state as it was must not overwrite that, so it is decided again."""
    settings = make_settings(backend, tmp_path, decision_workers=1)
    with TestClient(create_app(settings)) as client:
        headers = client_user(client, "planner")
        ids = make_campaigns(client, headers, n=4)
        state = make_state(client, headers, ids, timesteps=5, policy=POLICY, floor=0.05).json()
        sid, paused = state["id"], ids[0]
        pool = client.app.state.decisions
        decide_in_worker, decided = pool.decide, []

        async def pause_during_first_decision(*arguments):
            if not decided:
                transport = httpx.ASGITransport(app=client.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://x") as api:
                    answer = await api.patch(
                        f"/api/campaigns/{paused}", json={"status": "paused"}, headers=headers
                    )
                    assert answer.status_code == 200, answer.text
            decided.append(arguments)
            return await decide_in_worker(*arguments)

        pool.decide = pause_during_first_decision
        response = client.post(f"/api/states/{sid}/next", headers=headers)
        assert response.status_code == 200, response.text
        after = response.json()
        assert after["current_time"] == 1
        assert after["budgets"][paused] == 0.0 and after["allocation"][paused] == 0.0
        assert len(decided) == 2 and decided[1][3] == [False, True, True, True]
        assert math.isclose(sum(after["budgets"].values()), after["timestep_budget"])
        # The finished timestep's history shows its shares as re-balanced by the pause.
        history = client.get(f"/api/states/{sid}/history", headers=headers).json()["items"]
        assert [row["timestep"] for row in history] == [0]
        assert history[0]["allocation"][paused] == 0.0
        assert history[0]["allocation"] != state["allocation"]


def test_a_state_that_keeps_changing_while_next_decides_is_left_for_a_retry(backend, tmp_path):
    settings = make_settings(backend, tmp_path, decision_workers=1)
    with TestClient(create_app(settings)) as client:
        headers = client_user(client, "planner")
        ids = make_campaigns(client, headers, n=3)
        state = make_state(client, headers, ids, timesteps=5, policy=POLICY).json()
        pool = client.app.state.decisions
        decide_in_worker, decided = pool.decide, []

        async def change_bounds_during_every_decision(*arguments):
            decided.append(arguments)
            transport = httpx.ASGITransport(app=client.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as api:
                bound = {"max_budget": 1000 + len(decided)}
                answer = await api.patch(f"/api/campaigns/{ids[0]}", json=bound, headers=headers)
                assert answer.status_code == 200, answer.text
            return await decide_in_worker(*arguments)

        pool.decide = change_bounds_during_every_decision
        response = client.post(f"/api/states/{state['id']}/next", headers=headers)
        assert response.status_code == 409, response.text
        assert response.json()["detail"]["current_time"] == 0
        assert "kept changing" in response.json()["detail"]["message"]
        assert len(decided) == 3
        pool.decide = decide_in_worker
        assert client.get(f"/api/states/{state['id']}", headers=headers).json()["current_time"] == 0
        assert client.post(f"/api/states/{state['id']}/next", headers=headers).status_code == 200
