"""Each broad world's efficiency as its conversion volume grows: which worlds hold a column's
worst cell, and at how many conversions a campaign each world reaches a target.

For every world (seed) of a broad column of benchmarks.policy_efficiency, a row: its campaign
count K, the conversions its median campaign reports a timestep at an equal split at volume 1
(`conv/campaign`), and a player's efficiency at each `--volumes` factor (make_broad_world's
`volume`: every campaign's expected conversions times V, nothing else of the world changed).
Same worlds, run seeds and step as policy_efficiency's table; the generator's priors of the
reference players follow the volume.

    python -m benchmarks.volume_by_world [--seeds 6] [--timesteps 30] [--volumes 1 4 16 64]
        [--distributions negexp hill mixed] [--player curve]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.policy_efficiency import BROAD, PLAYERS, conversions_at_equal, make_worlds, play


def by_world(
    name: str, seeds: list[int], timesteps: int, volumes: list[float], player: str, step: float
) -> np.ndarray:
    """(worlds, volumes) efficiencies of `player` on column `name`."""
    scores = np.zeros((len(seeds), len(volumes)))
    for j, volume in enumerate(volumes):
        worlds = make_worlds(name, seeds, timesteps, volume)
        for i, (seed, world) in enumerate(zip(seeds, worlds, strict=True)):
            scores[i, j] = play(player, world, seed, step, name, volume)
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--volumes", type=float, nargs="+", default=[1.0, 4.0, 16.0, 64.0])
    parser.add_argument("--distributions", nargs="+", default=["negexp", "hill", "mixed"])
    parser.add_argument("--player", default="curve")
    args = parser.parse_args(argv)
    unknown = set(args.distributions) - set(BROAD) | {args.player} - set(PLAYERS)
    if unknown:
        parser.error(f"unknown or not broad: {sorted(unknown)}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{args.player}, T = {args.timesteps}, step {args.step:g}, seeds {seeds[0]}..{seeds[-1]}; "
        f"load average {load}; efficiency of each world at each volume"
    )
    started = time.perf_counter()
    for name in args.distributions:
        scores = by_world(name, seeds, args.timesteps, args.volumes, args.player, args.step)
        header = "".join(f"{f'x{volume:g}':>9}" for volume in args.volumes)
        print(f"\n{name:<8}{'seed':>6}{'K':>6}{'conv/campaign':>15}{header}")
        for i, seed in enumerate(seeds):
            world = make_worlds(name, [seed], 1)
            level = conversions_at_equal(world)[0]
            cells = "".join(f"{score:>9.4f}" for score in scores[i])
            print(f"{'':<8}{seed:>6}{world[0].n_campaigns:>6}{level:>15.1f}{cells}")
        means = "".join(f"{score:>9.4f}" for score in scores.mean(axis=0))
        worst = "".join(f"{score:>9.4f}" for score in scores.min(axis=0))
        print(f"{'':<8}{'mean':>27}{means}\n{'':<8}{'worst':>27}{worst}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
