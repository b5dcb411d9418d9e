"""How much of what drift costs `curve` a campaign level that followed the drift could win back.

The `real` worlds' drift is a random walk on each campaign's log amplitude, while `curve` fits
one amplitude a campaign from all its rows. Here, on the mixed worlds of benchmarks.
real_conditions with and without drift (same campaigns, same run seeds), three players:
`curve`; `softmax`; and `curve` told each campaign's true drift level (the walk, seasonality
left out), which divides every finished row by its campaign's level at that timestep before
learning it and multiplies every drawn amplitude by the level of the timestep it decides:
what a level model on `curve` (a Kalman filter on each level, say) would do if it knew the
truth. Printed: each
player's mean efficiency, its loss to drift (drift minus none, paired by world) and that
loss's difference from `curve`'s, with standard errors over the worlds.

Tuning seeds (1000 and above) by default, as this is where a fix is looked for.

    python -m benchmarks.drift_level [--seeds 1000 1001 ...] [--timesteps 90]
        [--drift drift_season]
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

import numpy as np

from benchmarks.policy_efficiency import campaigns_of
from benchmarks.real_conditions import SETTINGS
from engine import make_policy
from engine.context import Context
from engine.framework import Policy
from engine.policies.curve import Curve
from engine.simulate import run
from engine.worlds import WEEK, World, make_broad_world


class KnownDrift(Curve):
    """`curve` told each campaign's drift level (T, K) at every timestep."""

    name = "curve told the drift"

    def __init__(self, level: np.ndarray) -> None:
        super().__init__()
        self.level = level
        self.deciding = 0

    def learn(self, stats: dict, context: Context) -> tuple[dict, dict[str, np.ndarray]]:
        observed = dict(context.observed)
        metric = context.value_metric
        observed[metric] = observed[metric] / self.level[context.t - 1]
        return super().learn(stats, replace(context, observed=observed))

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        self.deciding = context.t
        return super().propose(context, rng)

    def sample_curves(
        self, post: dict[str, np.ndarray], rng: np.random.Generator, count: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alpha, mu, blend = super().sample_curves(post, rng, count)
        return alpha * self.level[self.deciding][None, :], mu, blend


def drift_level(world: World, seasonality: float) -> np.ndarray:
    """Each campaign's amplitude over its first, the weekly cycle divided out: (T, K)."""
    cycle = 1.0 + seasonality * np.sin(2 * np.pi * np.arange(world.timesteps) / WEEK)
    amplitude = world.amplitude / cycle[:, None]
    return amplitude / amplitude[0]


def player(name: str, world: World, seasonality: float) -> Policy:
    """A fresh policy for one run."""
    if name == KnownDrift.name:
        return KnownDrift(drift_level(world, seasonality))
    return make_policy(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1000, 1024)))
    parser.add_argument("--timesteps", type=int, default=90)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--drift", choices=("drift", "drift_season"), default="drift")
    args = parser.parse_args(argv)
    players = ("curve", "softmax", KnownDrift.name)
    scores = {}
    for condition in ("none", args.drift):
        seasonality = float(SETTINGS[condition].get("seasonality", 0.0))
        worlds = [
            make_broad_world(
                "mixed", campaigns_of(seed), args.timesteps, seed, **SETTINGS[condition]
            )
            for seed in args.seeds
        ]
        for name in players:
            runs = [
                run(player(name, world, seasonality), world, seed, step=args.step)
                for seed, world in zip(args.seeds, worlds, strict=True)
            ]
            scores[condition, name] = np.array([result.efficiency for result in runs])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"seeds {args.seeds[0]}..{args.seeds[-1]} ({len(args.seeds)}), T = {args.timesteps}, "
        f"step {args.step:g}, mixed worlds with and without {args.drift}; load average {load}"
    )
    header = f"{'none':>8}{args.drift:>14}{'loss':>9}{'(s.e.)':>8}{'vs curve':>10}{'(s.e.)':>8}"
    print(f"{'player':<22}{header}")
    base = scores[args.drift, "curve"] - scores["none", "curve"]
    for name in players:
        loss = scores[args.drift, name] - scores["none", name]
        versus = loss - base
        means = f"{scores['none', name].mean():>8.4f}{scores[args.drift, name].mean():>14.4f}"
        print(
            f"{name:<22}{means}{loss.mean():>+9.4f}{_error(loss):>8.4f}"
            f"{versus.mean():>+10.4f}{_error(versus):>8.4f}"
        )
    return 0


def _error(differences: np.ndarray) -> float:
    """Standard error of a mean of paired differences (NaN for one world)."""
    if differences.size < 2:
        return float("nan")
    return float(differences.std(ddof=1) / np.sqrt(differences.size))


if __name__ == "__main__":
    raise SystemExit(main())
