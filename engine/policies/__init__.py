"""One module per policy; this registry is the only place that lists them."""

from __future__ import annotations

from engine.framework import Policy
from engine.policies.curve import Curve
from engine.policies.epsilon_greedy import EpsilonGreedy
from engine.policies.optimistic import Optimistic
from engine.policies.rps import RPS
from engine.policies.softmax import Softmax
from engine.policies.step_thompson import StepThompson
from engine.policies.thompson import Thompson
from engine.policies.ucb import UCB
from engine.policies.uniform import Uniform

POLICIES: dict[str, type[Policy]] = {
    policy.name: policy
    for policy in (
        Curve,
        Thompson,
        EpsilonGreedy,
        UCB,
        Softmax,
        Optimistic,
        StepThompson,
        RPS,
        Uniform,
    )
}
