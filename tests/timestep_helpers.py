"""What the timestep edge tests share: stored states, row counts, reports, steps.

A state read straight from the store, rows counted, metrics posted and a step taken through
the API, and a step decided now to be committed later.
"""

from __future__ import annotations

from utils.crud import states
from utils.decisions import decide
from utils.timesteps import pending_step


def _stored(client, state_id: str) -> dict | None:
    store = client.app.state.store
    return store.run(lambda: states.get(store, state_id))


def _rows(client, name: str, state_id: str) -> int:
    return client.app.state.store.collection(name).count({"state_id": state_id})


def _post(client, headers, state_id, timestep, rows):
    body = {"timestep": timestep, "metrics": rows}
    return client.post(f"/api/states/{state_id}/metrics", json=body, headers=headers)


def _report(client, headers, state_id, timestep, ids, spend=100.0, revenue=250.0):
    rows = [{"campaign_id": cid, "spend": spend, "revenue": revenue} for cid in ids]
    posted = _post(client, headers, state_id, timestep, rows)
    assert posted.status_code == 200, posted.text


def _next(client, headers, state_id):
    stepped = client.post(f"/api/states/{state_id}/next", headers=headers)
    assert stepped.status_code == 200, stepped.text
    return stepped.json()


def _stale_step(client, state_id):
    """A step read and decided now, to be committed after something else happened."""
    store = client.app.state.store
    step = store.run(lambda: pending_step(store, _stored(client, state_id)))
    s = step.state
    return step, decide(s["policy"], s["engine"], step.observations, step.active)
