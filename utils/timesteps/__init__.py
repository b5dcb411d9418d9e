"""Optimization runs ("states") over time, by concern:

- `runs`: the run's lifecycle (create, pause and resume with its clock, delete);
- `reports`: metrics reported per timestep, late corrections, history as it reads now;
- `refolds`: late corrections folded into a running state's engine;
- `advancing`: `next`, exactly once;
- `rebalancing`: running states re-balanced when a campaign changes;
- `due`: the due runs a cron run advances;
- `driver`: the one read, decide, commit loop under `advancing` and `refolds`;
- `errors`: what they raise, answered at app level.
"""

from utils.timesteps.advancing import PendingStep, advance, commit_step, pending_step
from utils.timesteps.due import run_due
from utils.timesteps.errors import InvalidRequest, StateChanged, StateConflict
from utils.timesteps.rebalancing import rebalanced_states, save_rebalanced
from utils.timesteps.refolds import (
    PendingRefold,
    commit_refold,
    pending_refold,
    record_metrics,
    refold,
)
from utils.timesteps.reports import (
    Recorded,
    check_timestep_ran,
    history_rows,
    metric_rows,
    store_metrics,
)
from utils.timesteps.runs import create_state, delete_state, set_paused, state_view

__all__ = [
    "InvalidRequest",
    "PendingRefold",
    "PendingStep",
    "Recorded",
    "StateChanged",
    "StateConflict",
    "advance",
    "check_timestep_ran",
    "commit_refold",
    "commit_step",
    "create_state",
    "delete_state",
    "history_rows",
    "metric_rows",
    "pending_refold",
    "pending_step",
    "rebalanced_states",
    "record_metrics",
    "refold",
    "run_due",
    "save_rebalanced",
    "set_paused",
    "state_view",
    "store_metrics",
]
