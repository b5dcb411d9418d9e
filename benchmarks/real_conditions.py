"""Which of the `real` worlds' conditions costs a policy against another, one condition at a time.

The `real` distribution of benchmarks.policy_efficiency is the mixed broad worlds with delayed
conversions, drift, weekly seasonality, a sudden shift, log-normal order values and launched
and ended campaigns, all at once. Here each condition is switched on alone (drift and
seasonality also together), on the same worlds (same seeds, same campaigns) and run seeds, so
that the rows are paired: `none` is the mixed worlds themselves (the baseline measured in the
same run), `all` the `real` worlds. The last column is the first player's mean lead over the
second's; its spread over the worlds is printed as a standard error of the paired difference.

The seeds default to tuning seeds (1000 and above), as this is where a fix is looked for.

    python -m benchmarks.real_conditions [--seeds 1000 1001 ...] [--timesteps 90]
        [--players curve softmax] [--conditions none drift ...] [--params shared_factor=1]

`--params` sets parameters of the first player (a policy of the engine), e.g. to pair `curve`
with a parameter against `curve` without it (`--players curve curve`).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks.policy_efficiency import CONDITIONS, PLAYERS, REAL_VALUE_SIGMA, campaigns_of, play
from engine import make_policy
from engine.simulate import run
from engine.worlds import make_broad_world

SETTINGS: dict[str, dict[str, object]] = {
    "none": {},
    "delays": {"delays": CONDITIONS["delays"]},
    "drift": {"drift": CONDITIONS["drift"]},
    "season": {"seasonality": CONDITIONS["seasonality"]},
    "drift_season": {"drift": CONDITIONS["drift"], "seasonality": CONDITIONS["seasonality"]},
    "shift": {"shift": CONDITIONS["shift"]},
    "values": {"value_sigma": REAL_VALUE_SIGMA},
    "launches": {"launches": CONDITIONS["launches"]},
    "all": {"value_sigma": REAL_VALUE_SIGMA, **CONDITIONS},
}


def efficiencies(
    player: str,
    condition: str,
    seeds: list[int],
    timesteps: int,
    step: float,
    params: dict[str, float] | None = None,
) -> np.ndarray:
    """One player's efficiency on each seed's mixed world under one condition."""
    scores = []
    for seed in seeds:
        world = make_broad_world(
            "mixed", campaigns_of(seed), timesteps, seed, **SETTINGS[condition]
        )
        if params:
            scores.append(run(make_policy(player, params), world, seed, step=step).efficiency)
        else:
            scores.append(play(player, world, seed, step))
    return np.array(scores)


def parameter(text: str) -> tuple[str, float]:
    """A `name=value` option as a parameter."""
    name, _, value = text.partition("=")
    return name, float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1000, 1012)))
    parser.add_argument("--timesteps", type=int, default=90)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--players", nargs=2, default=["curve", "softmax"])
    parser.add_argument("--conditions", nargs="+", default=list(SETTINGS))
    parser.add_argument("--params", type=parameter, nargs="*", default=[])
    args = parser.parse_args(argv)
    unknown = set(args.players) - set(PLAYERS) | set(args.conditions) - set(SETTINGS)
    if unknown:
        parser.error(f"unknown {sorted(unknown)}")
    first, second = args.players
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"seeds {args.seeds}, T = {args.timesteps}, step {args.step:g}; load average {load}; "
        f"mean efficiency over the worlds"
    )
    params = dict(args.params)
    if params:
        print(f"{first}: {params}")
    print(f"{'condition':<14}{first:>10}{second:>10}{'lead':>10}{'(s.e.)':>10}")
    for condition in args.conditions:
        ours = efficiencies(first, condition, args.seeds, args.timesteps, args.step, params)
        theirs = efficiencies(second, condition, args.seeds, args.timesteps, args.step)
        lead = ours - theirs
        error = lead.std(ddof=1) / np.sqrt(lead.size) if lead.size > 1 else float("nan")
        print(
            f"{condition:<14}{ours.mean():>10.4f}{theirs.mean():>10.4f}"
            f"{lead.mean():>+10.4f}{error:>10.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
