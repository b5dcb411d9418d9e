"""Time of one `advance` (one decision step) per policy, against a trivial baseline.

Each policy plays a negexp world of K campaigns for `history` timesteps; then the next
`advance` (validation, folding the timestep into the running sums, allocation, new state) is
timed `repeats` times and the median reported. The baseline, measured in the same run, is the
`uniform` policy: the same framework work (validation, pacing, projection, state) around a
trivial decision. A JSON round trip of the state (what storing and loading it costs anyway) is
shown for scale, `curve` without its S-shaped curve family ("curve, concave") for what that
family costs a decision, and with `decision` "mean" ("curve, mean") for what its default
information-directed choice of the move costs over following the draws' mean allocation.
"curve refold" is what a late correction costs once: `Policy.refold` folding every one of
the `history` timesteps again (run in a decision worker, not per step). "curve, K=200" is
one `curve` decision for 200 campaigns (the most a state holds; "curve mean, K=200" with
`decision` "mean"), whose "x uniform" column is still against the K-campaign baseline.

    python -m benchmarks.decision_step [--campaigns 20] [--history 30 90] [--repeats 200]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections.abc import Callable

import numpy as np

from engine import POLICY_NAMES, make_policy
from engine.simulate import make_world

TARGET_MS = 5.0
LARGE_CAMPAIGNS = 200
LARGE_TARGET_MS = 50.0
CONCAVE_ONLY = {"s_shaped_prior": 0.0}
MEAN_RULE = {"decision": "mean"}


def median_ms(action: Callable[[], object], repeats: int) -> float:
    """Median wall time of `action` in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def state_after(
    policy_name: str, n_campaigns: int, history: int, params: dict | None = None
) -> tuple:
    """A policy, its state after `history` timesteps of a world, and the next report."""
    policy, state, report, _, _ = played(policy_name, n_campaigns, history, params)
    return policy, state, report


def played(policy_name: str, n_campaigns: int, history: int, params: dict | None = None) -> tuple:
    """`state_after`'s policy, state and next report, and every finished timestep's reports
    and budgets (what `Policy.refold` takes)."""
    world = make_world("negexp", n_campaigns, history + 1, seed=0)
    policy = make_policy(policy_name, params)
    state = policy.init(n_campaigns, {"budget": 1e4 * (history + 2), "timesteps": history + 2})
    rng = np.random.default_rng(0)
    reports, planned = [], []
    for t in range(history):
        planned.append(list(state["budgets"]))
        reports.append(world.observe(np.array(state["budgets"]), t, rng))
        state, _ = policy.advance(state, reports[-1])
    return policy, state, world.observe(np.array(state["budgets"]), history, rng), reports, planned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--history", type=int, nargs="+", default=[30, 90])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    policies = [name for name in POLICY_NAMES if name != "rps" or args.campaigns == 2]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"one advance, K = {args.campaigns}, median of {args.repeats} (ms); load average {load}")
    print(f"{'policy':<16}" + "".join(f"{f'T={h}':>10}{'x uniform':>10}" for h in args.history))
    rows: dict[str, list[float]] = {"json round trip": []}
    for history in args.history:
        _, state, _ = state_after("uniform", args.campaigns, history)
        rows["json round trip"].append(
            median_ms(lambda state=state: json.loads(json.dumps(state)), args.repeats)
        )
    variants = [(name, name, None) for name in policies]
    # What the S-shaped curve family costs a decision: curve with the concave family alone.
    variants.append(("curve, concave", "curve", CONCAVE_ONLY))
    # What the default information-directed choice of the move costs over the mean rule.
    variants.append(("curve, mean", "curve", MEAN_RULE))
    for label, name, params in variants:
        rows[label] = []
        for history in args.history:
            policy, state, report = state_after(name, args.campaigns, history, params)
            rows[label].append(
                median_ms(lambda p=policy, s=state, r=report: p.advance(s, r), args.repeats)
            )
    large = f"curve, K={LARGE_CAMPAIGNS}"
    for label, params in ((large, None), (f"curve mean, K={LARGE_CAMPAIGNS}", MEAN_RULE)):
        rows[label] = []
        for history in args.history:
            policy, state, report = state_after("curve", LARGE_CAMPAIGNS, history, params)
            repeats = max(args.repeats // 10, 5)
            rows[label].append(
                median_ms(lambda p=policy, s=state, r=report: p.advance(s, r), repeats)
            )
    rows["curve refold"] = []
    for history in args.history:
        policy, state, _, reports, planned = played("curve", args.campaigns, history)
        refold = functools.partial(policy.refold, state, reports, planned)
        rows["curve refold"].append(median_ms(refold, max(args.repeats // 20, 3)))
    base = rows["uniform"]
    for name, times in rows.items():
        cells = "".join(f"{ms:>10.3f}{ms / b:>10.1f}" for ms, b in zip(times, base, strict=True))
        print(f"{name:<16}{cells}")
    worst = max(rows["curve"])
    verdict = "meets" if worst < TARGET_MS else "misses"
    print(f"\ncurve: {worst:.2f} ms at worst, {verdict} the {TARGET_MS:g} ms target")
    worst = max(rows[large])
    verdict = "meets" if worst < LARGE_TARGET_MS else "misses"
    print(
        f"curve for {LARGE_CAMPAIGNS} campaigns: {worst:.2f} ms at worst, {verdict} the "
        f"{LARGE_TARGET_MS:g} ms target"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
