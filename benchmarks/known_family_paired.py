"""Two players of benchmarks.policy_efficiency paired on the same worlds and run seeds.

For each column: both players' mean efficiency (worst world) and the mean difference of the
second minus the first, in thousandths of efficiency, with its standard error over the
worlds. Written to compare "known family (ids)" against "known family (thompson)", the
baseline measured in the same run:

    python -m benchmarks.known_family_paired --seeds 24 --timesteps 30 \\
        --distributions negexp spread400 spread100
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.policy_efficiency import DISTRIBUTIONS, PLAYERS, play


def paired(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """Mean of second - first in thousandths, and its standard error over the worlds."""
    difference = 1000.0 * (second - first)
    error = difference.std(ddof=1) / np.sqrt(difference.size) if difference.size > 1 else np.nan
    return float(difference.mean()), float(error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--spread-step", type=float, default=0.25)
    parser.add_argument("--distributions", nargs="+", default=["negexp", "spread400", "spread100"])
    parser.add_argument(
        "--players",
        nargs=2,
        default=["known family (thompson)", "known family (ids)"],
        choices=PLAYERS,
    )
    args = parser.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    base, other = args.players
    start = time.perf_counter()
    print(f"seeds {seeds[0]}..{seeds[-1]}, T = {args.timesteps}; {other} - {base}")
    print(f"{'column':<12}{base:>28}{other:>28}{'difference (s.e.)':>22}")
    for name in args.distributions:
        step = args.spread_step if name.startswith("spread") else args.step
        scores = np.zeros((2, len(seeds)))
        for n, seed in enumerate(seeds):
            world = DISTRIBUTIONS[name](seed, args.timesteps)
            for p, player in enumerate(args.players):
                scores[p, n] = play(player, world, seed, step, name)
        mean, error = paired(scores[0], scores[1])
        cells = [f"{s.mean():.4f} ({s.min():.3f})" for s in scores]
        print(f"{name:<12}{cells[0]:>28}{cells[1]:>28}{f'{mean:+.1f} ({error:.1f})':>22}")
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
