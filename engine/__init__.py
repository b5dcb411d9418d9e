"""Pure decision makers of Oktopus: numpy in, numpy or JSON-able data out.

policy = make_policy("curve", params)
state = policy.init(n_campaigns, settings, active)
state, allocation = policy.advance(state, observations, active)
state = policy.rebalance(state, active)
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import EngineError
from engine.framework import Policy
from engine.policies import POLICIES

POLICY_NAMES: tuple[str, ...] = tuple(POLICIES)
DEFAULT_POLICY = "curve"

__all__ = ["DEFAULT_POLICY", "POLICY_NAMES", "EngineError", "Policy", "make_policy"]


def make_policy(name: str, params: Mapping | None = None) -> Policy:
    """The policy called `name` with validated `params`; EngineError on a bad name or params."""
    if not isinstance(name, str) or name not in POLICIES:
        raise EngineError(f"unknown policy {name!r} (known: {', '.join(POLICY_NAMES)})")
    return POLICIES[name](params)
