"""Efficiency by campaign count: is the broad worlds' loss in the many-campaign worlds?

A broad world of benchmarks.policy_efficiency draws its campaign count K log-uniform from 5 to
200 by seed, and its budget buys about 750 conversions a timestep in all, so with 150
campaigns each reports a handful. This script plays the same worlds and run seeds as that
benchmark (its `play`) and prints each player's mean efficiency (worst world) per range of K,
to show whether `curve` and the player told every curve's shape (benchmarks.known_shapes) lose
most where each campaign reports least.

    python -m benchmarks.known_shapes_by_k [--seeds 24] [--timesteps 30]
        [--distributions negexp mixed] [--players curve "known shapes"] [--edges 5 20 60 200]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.policy_efficiency import DISTRIBUTIONS, PLAYERS, play

Row = tuple[str, int, float, dict[str, tuple[float, float]]]


def _row(label: str, inside: np.ndarray, reports: np.ndarray, scores: dict) -> Row:
    cells = {p: (float(s[inside].mean()), float(s[inside].min())) for p, s in scores.items()}
    return label, int(inside.sum()), float(reports[inside].mean()), cells


def by_count(
    counts: np.ndarray, reports: np.ndarray, scores: dict[str, np.ndarray], edges: list[int]
) -> list[Row]:
    """Per range of K (edges[i-1] + 1 .. edges[i], the first from edges[0]), then over all
    worlds: its label, how many worlds, their mean conversions per campaign a timestep at an
    equal split (`reports`), and each player's mean and worst efficiency (empty ranges
    skipped)."""
    rows = []
    for i in range(1, len(edges)):
        low = edges[0] if i == 1 else edges[i - 1] + 1
        inside = (counts >= low) & (counts <= edges[i])
        if inside.any():
            rows.append(_row(f"{low}-{edges[i]}", inside, reports, scores))
    return [*rows, _row("all", np.ones(counts.size, dtype=bool), reports, scores)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--distributions", nargs="+", default=["negexp", "mixed"])
    parser.add_argument("--players", nargs="+", default=["curve", "known shapes"])
    parser.add_argument("--edges", type=int, nargs="+", default=[5, 20, 60, 200])
    args = parser.parse_args(argv)
    unknown = set(args.players) - set(PLAYERS) | set(args.distributions) - set(DISTRIBUTIONS)
    if unknown or any(name == "first" or name.startswith("spread") for name in args.distributions):
        parser.error(
            f"unknown or not a broad distribution: {sorted(unknown) or args.distributions}"
        )
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"seeds {seeds[0]}..{seeds[-1]}, T = {args.timesteps}, step {args.step:g}; load average "
        f"{load}; mean efficiency over the worlds (worst world) by campaign count K"
    )
    started = time.perf_counter()
    width = max(len(p) for p in args.players) + 2
    header = f"{'':<10}{'K':>9}{'worlds':>8}{'conv/campaign':>15}"
    print(header + "".join(f"{p:>{width + 6}}" for p in args.players))
    for name in args.distributions:
        worlds = [(seed, DISTRIBUTIONS[name](seed, args.timesteps)) for seed in seeds]
        counts = np.array([world.n_campaigns for _, world in worlds])
        reports = np.array(
            [
                world.expected_conversions(np.full(k, world.timestep_budget / k), 0).mean()
                for k, (_, world) in zip(counts, worlds, strict=True)
            ]
        )
        scores = {
            player: np.array([play(player, world, seed, args.step, name) for seed, world in worlds])
            for player in args.players
        }
        for label, n_worlds, per_campaign, cells in by_count(counts, reports, scores, args.edges):
            line = "".join(
                f"{cells[p][0]:>{width - 2}.4f} ({cells[p][1]:.3f})" for p in args.players
            )
            print(f"{name:<10}{label:>9}{n_worlds:>8}{per_campaign:>15.1f}{line}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
