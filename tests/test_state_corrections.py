"""State endpoints: late corrections of finished timesteps re-pace the run and are learnt."""

from __future__ import annotations

import math

import pytest

from tests.conftest import make_state


def test_late_correction_updates_history(client, tenant, state):
    sid, cid = state["id"], state["campaign_ids"][0]
    client.post(f"/api/states/{sid}/next", headers=tenant.headers)
    body = {"timestep": 0, "metrics": [{"campaign_id": cid, "spend": 80, "revenue": 120}]}
    response = client.post(f"/api/states/{sid}/metrics", json=body, headers=tenant.headers)
    assert response.status_code == 200 and response.json()["correction"] is True
    row = client.get(f"/api/states/{sid}/history", headers=tenant.headers).json()["items"][0]
    assert row["metrics"][cid]["revenue"] == 120 and row["corrected_at"] is not None
    assert row["reward"] == 120


def _report(client, headers, sid, timestep, budgets, best_first=True):
    """Every campaign's metrics for `timestep`: its budget spent, revenue a saturating curve
    of it, campaign 0 earning most per unit spend (or, not `best_first`, campaign 0 least)."""
    ranks = range(len(budgets)) if best_first else reversed(range(len(budgets)))
    rows = [
        {
            "campaign_id": cid,
            "spend": amount,
            "revenue": (3 - rank) * 100 * (1 - math.exp(-amount / 100)),
        }
        for rank, (cid, amount) in zip(ranks, budgets.items(), strict=True)
    ]
    body = {"timestep": timestep, "metrics": rows}
    response = client.post(f"/api/states/{sid}/metrics", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_late_spend_correction_re_paces_the_budget_left(client, tenant, state):
    """Spend of timestep 0 corrected after it was decided: the budget left, and with it the
    budgets of the timesteps to come, follow the corrected spend."""
    sid, headers = state["id"], tenant.headers
    url = f"/api/states/{sid}"
    _report(client, headers, sid, 0, state["budgets"])
    advanced = client.post(f"{url}/next", headers=headers).json()
    assert advanced["remaining"] == pytest.approx(2700.0)
    first = state["campaign_ids"][0]
    body = {
        "timestep": 0,
        "metrics": [{"campaign_id": first, "spend": state["budgets"][first] + 90.0}],
    }
    corrected = client.post(f"{url}/metrics", json=body, headers=headers).json()
    assert corrected["correction"] is True
    now = client.get(url, headers=headers).json()
    assert now["remaining"] == pytest.approx(2610.0)
    assert now["budgets"] == advanced["budgets"], "the timestep being spent keeps its budgets"
    _report(client, headers, sid, 1, now["budgets"])
    following = client.post(f"{url}/next", headers=headers).json()
    assert following["remaining"] == pytest.approx(2610.0 - 300.0)
    assert sum(following["budgets"].values()) == pytest.approx((2610.0 - 300.0) / 8)


def _next(client, headers, sid):
    response = client.post(f"/api/states/{sid}/next", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_correction_leaving_less_than_the_timestep_shrinks_its_budgets(client, tenant, state):
    sid, headers, url = state["id"], tenant.headers, f"/api/states/{state['id']}"
    _report(client, headers, sid, 0, state["budgets"])
    advanced = client.post(f"{url}/next", headers=headers).json()
    first = state["campaign_ids"][0]
    body = {"timestep": 0, "metrics": [{"campaign_id": first, "spend": 2800.0}]}
    assert client.post(f"{url}/metrics", json=body, headers=headers).status_code == 200
    now = client.get(url, headers=headers).json()
    left = 3000.0 - 2800.0 - 200.0
    assert now["remaining"] == pytest.approx(left)
    assert sum(now["budgets"].values()) == pytest.approx(left)
    for cid, share in advanced["allocation"].items():
        assert now["budgets"][cid] == pytest.approx(share * left)
    assert client.get(f"{url}/budget", headers=headers).json()["budgets"] == now["budgets"]


def test_a_correction_that_could_not_be_folded_in_is_folded_when_posted_again(
    client, tenant, state, monkeypatch
):
    """A refold that lost every compare-and-set answers 409 with the rows stored; posting the
    same rows again folds them in, although nothing in them changed."""
    from utils.timesteps import refolds

    sid, headers, url = state["id"], tenant.headers, f"/api/states/{state['id']}"
    _report(client, headers, sid, 0, state["budgets"])
    client.post(f"{url}/next", headers=headers)
    first = state["campaign_ids"][0]
    body = {"timestep": 0, "metrics": [{"campaign_id": first, "spend": 400.0}]}
    monkeypatch.setattr(refolds, "_REFOLD_ATTEMPTS", 0)
    refused = client.post(f"{url}/metrics", json=body, headers=headers)
    assert refused.status_code == 409, refused.text
    assert "post the same rows again" in refused.json()["detail"]["message"]
    assert client.get(url, headers=headers).json()["remaining"] == pytest.approx(2700.0)
    monkeypatch.setattr(refolds, "_REFOLD_ATTEMPTS", 10)
    again = client.post(f"{url}/metrics", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["correction"] is True
    spent_more = 400.0 - state["budgets"][first]
    assert client.get(url, headers=headers).json()["remaining"] == pytest.approx(2700 - spent_more)
    version = client.app.state.store.collection("states").get({"_id": sid})["version"]
    assert client.post(f"{url}/metrics", json=body, headers=headers).status_code == 200
    after = client.app.state.store.collection("states").get({"_id": sid})["version"]
    assert after == version, "a repost the engine has seen refolds nothing"


def test_a_late_correction_is_learnt_as_if_it_had_come_in_time(client, tenant, campaigns):
    """Two runs of one seed: one told timestep 0's revenue in time, the other told revenue that
    ranks the campaigns the other way round, corrected after deciding timestep 1. Once both
    are told timestep 1's, their decisions for timestep 2 agree."""
    headers = tenant.headers
    runs = [make_state(client, headers, campaigns, step=1.0).json() for _ in range(2)]
    in_time, corrected = (run["id"] for run in runs)
    _report(client, headers, in_time, 0, runs[0]["budgets"])
    _report(client, headers, corrected, 0, runs[1]["budgets"], best_first=False)
    decided = [
        client.post(f"/api/states/{sid}/next", headers=headers).json()
        for sid in (in_time, corrected)
    ]
    moved = [abs(decided[0]["allocation"][c] - decided[1]["allocation"][c]) for c in campaigns]
    assert max(moved) > 0.05, "the wrong revenue was learnt from"
    assert _report(client, headers, corrected, 0, runs[1]["budgets"])["correction"] is True
    for sid in (in_time, corrected):
        _report(client, headers, sid, 1, decided[0]["budgets"])
    after = [
        client.post(f"/api/states/{sid}/next", headers=headers).json()
        for sid in (in_time, corrected)
    ]
    for cid in campaigns:
        assert after[1]["allocation"][cid] == pytest.approx(after[0]["allocation"][cid], abs=1e-9)
