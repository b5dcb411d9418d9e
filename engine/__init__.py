"""Pure decision makers of Oktopus: numpy in, numpy or JSON-able data out.

policy = make_policy("curve", params)
state = policy.init(n_campaigns, settings, active)
state, allocation = policy.advance(state, observations, active)
state = policy.rebalance(state, active)

The policy registry is imported on first use, so that importing `engine` stays cheap for
modules that need only its errors or one of its leaves (engine.rps, the command lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import EngineError
from engine.framework import Policy

DEFAULT_POLICY = "curve"

__all__ = ["DEFAULT_POLICY", "POLICY_NAMES", "EngineError", "Policy", "make_policy"]


def make_policy(name: str, params: Mapping | None = None) -> Policy:
    """The policy called `name` with validated `params`; EngineError on a bad name or params."""
    from engine.policies import POLICIES

    if not isinstance(name, str) or name not in POLICIES:
        raise EngineError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    return POLICIES[name](params)


def __getattr__(name: str) -> Any:
    if name == "POLICY_NAMES":
        from engine.policies import POLICIES

        return tuple(POLICIES)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
