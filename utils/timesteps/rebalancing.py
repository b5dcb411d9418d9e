"""Re-balancing running states when one of their campaigns changes status or bounds."""

from __future__ import annotations

from typing import Any

from engine import EngineError
from utils.crud import states
from utils.db import Store, utcnow
from utils.decisions import decision_of, engine_state, engine_text, policy_for
from utils.timesteps.errors import InvalidRequest
from utils.timesteps.runs import active_mask, allocation_fields, clock

_ATTEMPTS = 3


def rebalanced_states(
    store: Store, campaign: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every running state using `campaign` (as it is about to be stored), with its current
    timestep re-balanced to the campaign's status and per-timestep bounds. Writes nothing.

    InvalidRequest, naming the states, when the campaign's new bounds cannot hold with a
    state's budget. A state none of whose campaigns is active any more spends nothing until
    one is resumed.
    """
    client_id, campaign_id = campaign["client_id"], campaign["_id"]
    planned, refused = [], []
    for state in states.running_with(store, client_id, campaign_id):
        index = state["campaign_ids"].index(campaign_id)
        active = active_mask(store, client_id, state["campaign_ids"])
        active[index] = campaign.get("status", "active") == "active"
        stored = engine_state(state["engine"])
        bounds = {key: [*stored["settings"][key]] for key in ("min_budget", "max_budget")}
        for key, values in bounds.items():
            values[index] = campaign.get(key)
        policy = policy_for(state["policy"])
        try:
            planned.append((state, policy.rebalance(stored, active, **bounds)))
        except EngineError as error:
            refused.append(f"state {state.get('name') or state['_id']}: {error}")
    if refused:
        raise InvalidRequest("The campaign's budget bounds cannot hold in " + "; ".join(refused))
    return planned


def save_rebalanced(
    store: Store,
    campaign: dict[str, Any],
    planned: list[tuple[dict[str, Any], dict[str, Any]]],
) -> int:
    """Store re-balanced states; one another call changed meanwhile is re-balanced afresh.
    A running state left with no active campaign stops its clock until one is resumed."""
    count = 0
    for state, rebalanced in planned:
        for _ in range(_ATTEMPTS):
            now = utcnow()
            idle = not any(rebalanced["active"]) or state["status"] == "paused"
            updated = states.compare_and_update(
                store,
                state["_id"],
                {"version": state["version"]},
                {
                    "$set": {
                        "engine": engine_text(rebalanced),
                        "updated_at": now,
                        **allocation_fields(decision_of(rebalanced), state["campaign_ids"]),
                        **clock(state, stopped=idle, now=now),
                    },
                    "$inc": {"version": 1},
                },
            )
            if updated is not None:
                count += 1
                break
            fresh = rebalanced_states(store, campaign)
            again = [pair for pair in fresh if pair[0]["_id"] == state["_id"]]
            if not again:
                break
            state, rebalanced = again[0]
    return count
