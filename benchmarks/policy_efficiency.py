"""The efficiency of every policy on several world distributions, with MABWiser peers.

Each world distribution is a column; each cell is a policy's mean efficiency over the worlds
(seeds) and, in brackets, its worst world. Efficiency is expected revenue over the oracle's
(engine.simulate). Distributions (engine.worlds):

- first: the simulator's first worlds (`make_world`), family and K in {3, 8, 20} by seed;
- negexp, mm, hill, log, mixed: broad worlds (`make_broad_world`) of that family (mixed:
  each campaign its own), K log-uniform from 5 to 200 by seed, saturation spends 0.1 to 10
  equal shares, amplitudes log-normal (sd 0.8), values per conversion log-normal (sd 0.5);
- real: the mixed worlds of the same seeds (same campaigns) with delayed conversions (up to
  60% of a campaign's reported 1 to 7 timesteps late, posted as late corrections), drift
  (sd 0.02 a timestep), weekly seasonality (15%), a sudden shift (one campaign's response
  halves or doubles halfway), log-normal order values (sd 1 in log) and campaigns launched
  and ended mid-run (about a fifth launched in the first half, a fifth ended in the second,
  added to and removed from the running state as the API does; the oracle splits each
  timestep among the campaigns running then);
- spread100, spread400, spread1600: worlds like those of the generator kept outside the
  project on which issue 22 measured `curve` through the REST API (`make_spread_world`):
  5 or 12 campaigns and one family (negexp, Michaelis-Menten or Hill) by seed, saturation
  spends log-uniform over 0.2 to 5 equal shares, maximum conversions log-normal (sd 0.8 in
  log), values per conversion log-uniform over a 4-fold range; an equal split buys 100, 400
  or 1600 conversions a timestep in all (400 reproduces that measurement's figures). They
  are played at `--spread-step` (0.25, that measurement's step), the others at `--step`.

`--volume V` multiplies every campaign's expected conversions by V on the broad columns
(negexp, mm, hill, log, mixed, real; `make_broad_world`'s `volume`), everything else of their
worlds unchanged, and the reference players' amplitude priors follow; first and spread* are
unchanged (spread* set their conversion counts by name). Each table's last row,
`conv/campaign`, gives each column's conversions per campaign a timestep at an equal split:
the median over the worlds of each world's median campaign, with the lowest and highest
world's in brackets.

Rows: Oktopus's policies; `known curves`, which knows the true curves and moves at the same
step (the limit); `known shapes` and `known shapes (thompson)` (benchmarks.known_shapes),
told every campaign's curve shape and the column's generator prior, learning only each
campaign's amplitude and value per conversion from the reports with exact posteriors, and
splitting on their posterior means or on one draw (a reference for what the reports of a
run hold; on `real` they still assume a stationary world with complete reports, so there
they are a misspecified learner told the shapes, not a limit); `known family` and `known
family (thompson)` (benchmarks.known_family_mean, benchmarks.known_family), told only each
campaign's family and Hill exponent and the column's generator priors, scales included,
learning scale, amplitude and value with exact posteriors, and splitting on the
posterior-mean curves or on one draw, and `known family (ids)` (benchmarks.known_family_ids),
the same learner choosing its move by the least information ratio, and `known family
(believes negexp)` (benchmarks.known_family_negexp), the same learner taking every curve for
a negative exponential; and MABWiser's Thompson
sampling, UCB1, epsilon-greedy and softmax used as budget allocators (benchmarks.peers says
exactly how; `pip install mabwiser`, skipped without it). Every row plays the same worlds
with the same run seeds, in the same run.

Reported seeds start at 0; the policies' defaults were tuned on seeds 1000 and above, which
are never reported (`--first-seed 1000` reproduces the tuning runs).

    python -m benchmarks.policy_efficiency [--seeds 6] [--horizons 30 90] [--step 0.1]
        [--spread-step 0.25] [--volume 1] [--distributions spread400 ...] [--players curve ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from benchmarks.known_family import (
    FamilyPrior,
    KnownFamily,
    broad_family_prior,
    first_family_prior,
    spread_family_prior,
)
from benchmarks.known_family_ids import KnownFamilyIds
from benchmarks.known_family_mean import KnownFamilyMean
from benchmarks.known_family_negexp import KnownFamilyNegexp
from benchmarks.known_shapes import KnownShapes, ShapePrior, broad_prior, first_prior, spread_prior
from benchmarks.peers import MABWISER_POLICIES, KnownCurves, MabwiserAllocator
from engine.simulate import BENCHMARK_POLICIES, World, make_broad_world, make_world, run
from engine.spread_worlds import make_spread_world
from engine.worlds import FAMILIES, VOLUMES

Prior = TypeVar("Prior", ShapePrior, FamilyPrior)
CONDITIONS = {"drift": 0.02, "seasonality": 0.15, "shift": True, "delays": True, "launches": True}
REAL_VALUE_SIGMA = 1.0


def campaigns_of(seed: int) -> int:
    """K of a broad world: log-uniform from 5 to 200, drawn from the seed."""
    rng = np.random.default_rng([seed, 2718])
    return int(np.rint(np.exp(rng.uniform(np.log(5), np.log(200)))))


def _first(seed: int, timesteps: int) -> World:
    family = FAMILIES[seed % 3]
    return make_world(family, (3, 8, 20)[(seed // 3) % 3], timesteps, seed)


def _broad(family: str, **conditions: object) -> Callable[..., World]:
    def make(seed: int, timesteps: int, volume: float = 1.0) -> World:
        k = campaigns_of(seed)
        return make_broad_world(family, k, timesteps, seed, volume=volume, **conditions)

    return make


def _spread(conversions: float) -> Callable[[int, int], World]:
    def make(seed: int, timesteps: int) -> World:
        family, n_campaigns = FAMILIES[seed % 3], (5, 12)[(seed // 3) % 2]
        return make_spread_world(family, n_campaigns, timesteps, seed, conversions)

    return make


SPREAD_LEVELS = (100, 400, 1600)
DISTRIBUTIONS: dict[str, Callable[..., World]] = {
    "first": _first,
    "negexp": _broad("negexp"),
    "mm": _broad("michaelis_menten"),
    "hill": _broad("hill"),
    "log": _broad("log"),
    "mixed": _broad("mixed"),
    "real": _broad("mixed", value_sigma=REAL_VALUE_SIGMA, **CONDITIONS),
    **{f"spread{level}": _spread(level) for level in SPREAD_LEVELS},
}
BROAD = ("negexp", "mm", "hill", "log", "mixed", "real")
"""The columns of `make_broad_world`, the ones `--volume` applies to."""
KNOWN_SHAPES = {"known shapes": "mean", "known shapes (thompson)": "thompson"}
KNOWN_FAMILY = {
    "known family": KnownFamilyMean,
    "known family (thompson)": KnownFamily,
    "known family (ids)": KnownFamilyIds,
    "known family (believes negexp)": KnownFamilyNegexp,
}
PLAYERS = (
    *BENCHMARK_POLICIES,
    "known curves",
    *KNOWN_SHAPES,
    *KNOWN_FAMILY,
    *MABWISER_POLICIES,
)


def make_worlds(name: str, seeds: list[int], timesteps: int, volume: float = 1.0) -> list[World]:
    """The worlds of column `name`, one a seed; `volume` applies to the broad columns only."""
    if name not in BROAD and volume != 1.0:
        raise ValueError(f"volume applies to the broad columns {BROAD}, not {name!r}")
    extra = {"volume": volume} if name in BROAD else {}
    return [DISTRIBUTIONS[name](seed, timesteps, **extra) for seed in seeds]


def conversions_at_equal(worlds: list[World]) -> tuple[float, float, float]:
    """Each world's median campaign's expected conversions a timestep at an equal split (at
    timestep 0): their median over the worlds, lowest and highest."""
    medians = []
    for world in worlds:
        equal = np.full(world.n_campaigns, world.timestep_budget / world.n_campaigns)
        medians.append(np.median(world.expected_conversions(equal, 0)))
    return float(np.median(medians)), float(np.min(medians)), float(np.max(medians))


def _generator_prior(
    distribution: str,
    world: World,
    volume: float,
    first: Callable[[World], Prior],
    spread: Callable[[World], Prior],
    broad: Callable[..., Prior],
) -> Prior:
    """The prior `first`, `spread` or `broad` gives for the generator of `distribution`'s worlds
    (`volume`: the broad worlds' factor on every campaign's conversions)."""
    if distribution == "first":
        return first(world)
    if distribution.startswith("spread"):
        return spread(world)
    return broad(world, volume=volume)


def shape_prior(distribution: str, world: World, volume: float = 1.0) -> ShapePrior:
    """The generator's own prior of a distribution's worlds, for the known-shapes players."""
    return _generator_prior(distribution, world, volume, first_prior, spread_prior, broad_prior)


def family_prior(distribution: str, world: World, volume: float = 1.0) -> FamilyPrior:
    """The generator's own priors of a distribution's worlds, for the known-family players."""
    return _generator_prior(
        distribution, world, volume, first_family_prior, spread_family_prior, broad_family_prior
    )


def play(
    player: str,
    world: World,
    seed: int,
    step: float,
    distribution: str = "mixed",
    volume: float = 1.0,
) -> float:
    """One run's efficiency (`distribution` names the world's generator and `volume` its factor
    on conversions, for the players that are told its prior)."""
    if player == "known curves":
        return run(KnownCurves(world), world, seed, step=step).efficiency
    if player in KNOWN_SHAPES:
        prior = shape_prior(distribution, world, volume)
        shapes = KnownShapes(world, KNOWN_SHAPES[player], prior)
        return run(shapes, world, seed, step=step).efficiency
    if player in KNOWN_FAMILY:
        family = KNOWN_FAMILY[player](world, family_prior(distribution, world, volume))
        return run(family, world, seed, step=step).efficiency
    if player in MABWISER_POLICIES:
        return run(MabwiserAllocator(player, seed), world, seed, step=step).efficiency
    return run(player, world, seed, step=step).efficiency


LEVELS = "conv/campaign"


def _count(conversions: float) -> str:
    """A conversions count, to a tenth below 10 and whole above."""
    return f"{conversions:.1f}" if conversions < 10 else f"{conversions:.0f}"


def table(
    results: dict[tuple[str, str], np.ndarray],
    players: list[str],
    names: list[str],
    levels: dict[str, tuple[float, float, float]] | None = None,
) -> str:
    """Rows of players, columns of distributions: mean (worst world); with `levels`, a last
    row of each column's conversions per campaign (`conversions_at_equal`)."""
    width = max(len(p) for p in [*players, LEVELS]) + 2
    lines = [" " * width + "".join(f"{name:>16}" for name in names)]
    for player in players:
        cells = "".join(
            f"{results[player, name].mean():>8.4f} ({results[player, name].min():.3f})"
            for name in names
        )
        lines.append(f"{player:<{width}}{cells}")
    if levels is not None:
        cells = "".join(
            f" {_count(levels[n][0])} ({_count(levels[n][1])}-{_count(levels[n][2])})".rjust(16)
            for n in names
        )
        lines.append(f"{LEVELS:<{width}}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6, help="worlds per distribution")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--horizons", type=int, nargs="+", default=[30, 90])
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--spread-step", type=float, default=0.25, help="step of spread*")
    parser.add_argument(
        "--volume",
        type=float,
        default=1.0,
        help="factor on every campaign's expected conversions in the broad columns "
        f"({', '.join(BROAD)}); first and spread* unchanged",
    )
    parser.add_argument("--distributions", nargs="+", default=list(DISTRIBUTIONS))
    parser.add_argument("--players", nargs="+", default=list(PLAYERS))
    args = parser.parse_args(argv)
    unknown = set(args.players) - set(PLAYERS) | set(args.distributions) - set(DISTRIBUTIONS)
    if unknown:
        parser.error(f"unknown {sorted(unknown)}")
    if not VOLUMES[0] <= args.volume <= VOLUMES[1]:
        parser.error(f"--volume must be in [{VOLUMES[0]:g}, {VOLUMES[1]:g}]")
    if not MABWISER_POLICIES:
        print("MABWiser rows skipped: pip install mabwiser", file=sys.stderr)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    volume = (
        f"conversions x{args.volume:g} on the broad columns (first, spread* unchanged); "
        if args.volume != 1.0
        else ""
    )
    print(
        f"seeds {seeds[0]}..{seeds[-1]}, step {args.step:g} (spread*: {args.spread_step:g}); "
        f"{volume}load average {load}; "
        f"mean efficiency over the worlds (worst world)"
    )
    started = time.perf_counter()
    for timesteps in args.horizons:
        results, levels = {}, {}
        for name in args.distributions:
            factor = args.volume if name in BROAD else 1.0
            worlds = make_worlds(name, seeds, timesteps, factor)
            levels[name] = conversions_at_equal(worlds)
            step = args.spread_step if name.startswith("spread") else args.step
            for player in args.players:
                results[player, name] = np.array(
                    [
                        play(player, world, seed, step, name, factor)
                        for seed, world in zip(seeds, worlds, strict=True)
                    ]
                )
        print(f"\nT = {timesteps}")
        print(table(results, args.players, args.distributions, levels))
        if {"real", "mixed"} <= set(args.distributions) and "curve" in args.players:
            loss = results["curve", "mixed"] - results["curve", "real"]
            print(
                f"curve's loss to delays, drift, season, shift, order values and launches "
                f"(mixed worlds of the same seeds without them): mean {loss.mean():.4f}, "
                f"largest {loss.max():.4f}"
            )
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
