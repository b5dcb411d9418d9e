"""The efficiency table of every policy (engine.simulate), plus what pacing costs `curve`.

Main table: policy x world family x K in {3, 8, 20} at T = 30 and T = 90, seeds 0..4, at the
state default step 0.1 (what a run gets unless told otherwise). Then `curve` alone at steps
0.05, 0.25 and 1.0 (no pacing), so the price of pacing is visible next to the 0.1 figures.

    python -m benchmarks.policy_efficiency [--seeds 5] [--png regret_curves.png]
"""

from __future__ import annotations

import argparse

from engine.cli.simulate import format_table, plot_regret
from engine.simulate import BENCHMARK_POLICIES, FAMILIES, benchmark

PACING_STEPS = (0.05, 0.25, 1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--png", default="regret_curves.png")
    parser.add_argument("--no-pacing", action="store_true", help="skip the pacing table")
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    cells = benchmark(BENCHMARK_POLICIES, FAMILIES, (3, 8, 20), (30, 90), seeds, step=0.1)
    print(f"step 0.1, seeds {seeds[0]}..{seeds[-1]}")
    print(format_table(cells))
    if args.png:
        plot_regret(cells, args.png)
        print(f"\ncumulative regret curves: {args.png}")
    if not args.no_pacing:
        for step in PACING_STEPS:
            paced = benchmark(["curve"], FAMILIES, (3, 8, 20), (30, 90), seeds, step=step)
            print(f"\ncurve at step {step:g}")
            print(format_table(paced))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
