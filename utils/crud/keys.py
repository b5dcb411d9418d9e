"""The key shared by a state's per-timestep documents (metrics and history)."""

from __future__ import annotations


def timestep_key(state_id: str, timestep: int) -> str:
    """The `_id` of a state's metrics and history documents of one timestep: the unique
    (state, timestep) key, as the primary key every backend enforces and looks up fastest."""
    return f"{state_id}:{timestep}"
