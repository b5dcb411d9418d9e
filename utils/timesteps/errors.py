"""What a timestep service raises; fast.py answers each at app level (409, 422)."""

from __future__ import annotations


class StateConflict(Exception):
    """The state cannot change this way now (completed, paused, deleted, or another call
    won): the API answers 409 with the state's `current_time`."""

    def __init__(self, detail: str, current_time: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.current_time = current_time


class InvalidRequest(Exception):
    """The request names things that do not fit this state: the API answers 422."""


class StateChanged(Exception):
    """The state was changed (re-balanced by a campaign update) between reading a timestep and
    writing its step: the step must be decided again on what is stored now."""
