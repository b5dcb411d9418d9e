"""Command line of the simulator: `python -m engine.cli.simulate` prints the efficiency table,
writes a PNG of cumulative regret and, with `--report out/`, an HTML report (engine.cli.report).

    python -m engine.cli.simulate                   # full table, T = 30 and 90, PNG of regret
    python -m engine.cli.simulate --quick           # a small run to try things out
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Sequence

import numpy as np

from engine.simulate import BENCHMARK_POLICIES, FAMILIES, MAX_WALK, Cell, benchmark


def format_table(cells: Sequence[Cell]) -> str:
    """Mean efficiency (worst seed) per policy x family x K, one block per horizon.

    The last columns pool a policy's runs: their mean, the worst single run, and the worst
    seed (a seed's mean over every world of the block), two readings of "the worst seed"."""
    lines = []
    horizons = sorted({cell.timesteps for cell in cells})
    for timesteps in horizons:
        block = [cell for cell in cells if cell.timesteps == timesteps]
        columns = sorted(
            {(cell.family, cell.n_campaigns) for cell in block},
            key=lambda key: (FAMILIES.index(key[0]), key[1]),
        )
        policies = list(dict.fromkeys(cell.policy for cell in block))
        header = ["policy"] + [f"{family} K={k}" for family, k in columns]
        header += ["mean", "worst run", "worst seed"]
        # Every column as wide as its name, so no family name is cut.
        widths = [max(14, len(header[0]))]
        widths += [max(14, len(name)) for name in header[1 : 1 + len(columns)]] + [8, 10, 10]
        lines.append(
            f"\nT = {timesteps}: mean efficiency over seeds (worst seed); then over all worlds: "
            "mean, worst run, worst seed's mean"
        )
        lines.append(
            " ".join(name.ljust(width) for name, width in zip(header, widths, strict=True))
        )
        for policy in policies:
            row = [policy.ljust(widths[0])]
            pooled = []
            for column in columns:
                (cell,) = [
                    c for c in block if c.policy == policy and (c.family, c.n_campaigns) == column
                ]
                pooled.append(cell.efficiencies)
                text = f"{cell.efficiencies.mean():.3f} ({cell.efficiencies.min():.3f})"
                row.append(text.ljust(widths[len(row)]))
            runs = np.array(pooled)  # worlds x seeds
            # Four places: the targets (0.97, 0.985) sit where three would round across them.
            row.append(f"{runs.mean():.4f}".ljust(8))
            row.append(f"{runs.min():.3f}".ljust(10))
            row.append(f"{runs.mean(axis=0).min():.3f}".ljust(10))
            lines.append(" ".join(row))
    return "\n".join(lines)


def plot_regret(cells: Sequence[Cell], path: str) -> None:
    """Mean cumulative regret per policy, one panel per (family, K), at the longest horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longest = max(cell.timesteps for cell in cells)
    block = [cell for cell in cells if cell.timesteps == longest]
    families = [family for family in FAMILIES if any(c.family == family for c in block)]
    counts = sorted({cell.n_campaigns for cell in block})
    figure, axes = plt.subplots(
        len(families), len(counts), figsize=(4 * len(counts), 3 * len(families)), squeeze=False
    )
    for (row, family), (column, count) in itertools.product(enumerate(families), enumerate(counts)):
        axis = axes[row][column]
        for cell in block:
            if cell.family == family and cell.n_campaigns == count:
                axis.plot(np.arange(1, longest + 1), cell.regret, label=cell.policy)
        axis.set_title(f"{family}, K = {count}")
        axis.set_xlabel("timestep")
        axis.set_ylabel("cumulative regret (timesteps)")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `low`, so a bad option is a usage error
    naming it rather than a traceback from inside a run."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low} (got {value})")
        return value

    return parse


def _integers(low: int) -> Callable[[str], list[int]]:
    """An argparse type: a comma-separated list of integers of at least `low`."""
    parse = _at_least(low)

    def parse_all(text: str) -> list[int]:
        values = [parse(part) for part in text.split(",") if part]
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        return values

    return parse_all


def _names(known: Callable[[], Sequence[str]]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names, each one of `known()`."""

    def parse(text: str) -> list[str]:
        names = [part for part in text.split(",") if part]
        if not names:
            raise argparse.ArgumentTypeError("give at least one name")
        unknown = [name for name in names if name not in known()]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown)} (known: {', '.join(known())})"
            )
        return names

    return parse


def _real(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] ((low, high] when `low_open`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        too_low = value <= low if low_open else value < low
        if not np.isfinite(value) or too_low or value > high:
            left = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be in {left}{low:g}, {high:g}] (got {text})")
        return value

    return parse


def _policy_names() -> tuple[str, ...]:
    from engine import POLICY_NAMES

    return POLICY_NAMES


_FULL = {"campaigns": [3, 8, 20], "timesteps": [30, 90], "seeds": 5}
_QUICK = {"campaigns": [3, 8], "timesteps": [30], "seeds": 2}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the efficiency table and write a PNG of cumulative regret."""
    parser = argparse.ArgumentParser(
        prog="python -m engine.cli.simulate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--policies", type=_names(_policy_names), default=list(BENCHMARK_POLICIES))
    parser.add_argument("--families", type=_names(lambda: FAMILIES), default=list(FAMILIES))
    parser.add_argument("--campaigns", type=_integers(2), help="K values (default 3,8,20)")
    parser.add_argument("--timesteps", type=_integers(1), help="T values (default 30,90)")
    parser.add_argument("--seeds", type=_at_least(1), help="number of seeds (0, 1, ...; default 5)")
    parser.add_argument("--first-seed", type=_at_least(0), default=0)
    parser.add_argument(
        "--step",
        type=_real(0.0, 1.0, low_open=True),
        default=0.1,
        help="pacing step (share points)",
    )
    parser.add_argument(
        "--drift",
        type=_real(0.0, 1.0),
        default=0.0,
        help="sd of the log-amplitude walk a timestep; drift x sqrt(timesteps) at most 5",
    )
    parser.add_argument(
        "--seasonality", type=_real(-1.0, 1.0), default=0.0, help="weekly relative swing"
    )
    parser.add_argument(
        "--launches",
        action="store_true",
        help="some campaigns launch in the first half of the run, others end in the second",
    )
    parser.add_argument("--png", default="regret_curves.png", help="'' to skip the plot")
    parser.add_argument(
        "--report", default="", help="directory for an HTML report of the same charts (Plotly)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="K = 3, 8; T = 30; 2 seeds, unless given"
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    defaults = _QUICK if args.quick else _FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    from engine import make_policy

    for name in args.policies:
        most = make_policy(name).max_campaigns
        if most is not None and max(args.campaigns) > most:
            parser.error(
                f"argument --policies: {name} handles at most {most} campaigns "
                f"(--campaigns is {','.join(map(str, args.campaigns))})"
            )
    walk = args.drift * np.sqrt(max(args.timesteps))
    if walk > MAX_WALK:
        parser.error(
            f"argument --drift: drift x sqrt(timesteps) must be at most {MAX_WALK:g} "
            f"(got {args.drift:g} with --timesteps up to {max(args.timesteps)})"
        )
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    cells = benchmark(
        args.policies,
        args.families,
        args.campaigns,
        args.timesteps,
        seeds,
        step=args.step,
        drift=args.drift,
        seasonality=args.seasonality,
        progress=not args.no_progress,
        launches=args.launches,
    )
    launched = ", campaigns launched and ended" if args.launches else ""
    summary = (
        f"seeds {seeds[0]}..{seeds[-1]}, step {args.step:g}, drift {args.drift:g}, "
        f"seasonality {args.seasonality:g}{launched}"
    )
    print(summary)
    print(format_table(cells))
    if args.png:
        plot_regret(cells, args.png)
        print(f"\ncumulative regret curves: {args.png}")
    if args.report:
        from engine.cli.report import write_report

        print(f"HTML report: {write_report(cells, args.report, summary)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
