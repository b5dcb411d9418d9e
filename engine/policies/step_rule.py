"""The first Oktopus API's move: `step` share points go to the chosen campaign, taken from the
weakest first.

This is the slow, fixed-size move that API's README names as its limitation; the value-estimate
bandits keep it as their `rule: "step"` option and `step_thompson` uses it, so the benchmark
can show what it costs.
"""

from __future__ import annotations

import numpy as np

from engine.context import Context


def step_toward(context: Context, chosen: int, strength: np.ndarray) -> np.ndarray:
    """Previous shares with up to `step` moved to `chosen` from the lowest-`strength` donors.

    Donors give only what they hold above their lower bound; the move shrinks when the chosen
    campaign reaches its upper bound or the donors run dry.
    """
    previous = np.where(context.active, context.previous, 0.0)
    donors = context.active.copy()
    donors[chosen] = False
    available = np.where(donors, np.maximum(previous - context.lower, 0.0), 0.0)
    room = max(context.upper[chosen] - previous[chosen], 0.0)
    amount = min(context.settings["step"], room, available.sum())
    order = np.argsort(np.where(donors, strength, np.inf), kind="stable")
    ordered = available[order]
    taken_before = np.cumsum(ordered) - ordered
    target = previous.copy()
    target[order] -= np.clip(amount - taken_before, 0.0, ordered)
    target[chosen] += amount
    return target
