"""Synthetic advertising worlds, an oracle that knows them, and a runner that scores policies.

A world has K campaigns with saturating expected-conversion curves of one family (negative
exponential, Michaelis-Menten or Hill), a value per conversion each, Poisson clicks thinned into
Poisson conversions, conversion values drawn around the campaign's mean, and optionally a drift of
the curves over time and a weekly seasonality. The oracle allocates each timestep's budget exactly
on the true expected-revenue curves with the shared KKT allocator (engine.allocator). A policy is
played through the public engine API (JSON state in, JSON state out) and scored by

    efficiency = sum_t E[revenue | policy's budgets] / sum_t oracle revenue_t,

with cumulative regret (oracle minus policy, in timesteps of mean oracle revenue) per timestep.

    python -m engine.simulate                       # full table, T = 30 and 90, PNG of regret
    python -m engine.simulate --quick               # a small run to try things out
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine import make_policy, response
from engine.allocator import allocate_budget
from engine.errors import EngineError

FAMILIES: tuple[str, ...] = ("negexp", "michaelis_menten", "hill")
BENCHMARK_POLICIES: tuple[str, ...] = (
    "uniform",
    "epsilon_greedy",
    "ucb",
    "softmax",
    "optimistic",
    "step_thompson",
    "thompson",
    "curve",
)
TIMESTEP_BUDGET = 10_000.0
"""Budget per timestep of every world; only ratios matter, this keeps counts realistic."""
WEEK = 7
MAX_WALK = 5.0
"""Largest drift x sqrt(timesteps): prices are set so that a campaign's best conversion rate
is realistic at its highest amplitude over the run, and a walk much wider than this makes its
ordinary amplitudes worth so little a click that clicks overflow a Poisson draw."""


@dataclass(frozen=True)
class World:
    """True parameters of K campaigns over T timesteps.

    `amplitude[t, k]` is expected conversions at saturation during timestep t (drift and season
    included); `scale[k]` the spend scale of the curve (negexp 1/mu, Michaelis-Menten and Hill
    half-saturation spend); `shape[k]` the Hill exponent.
    """

    family: str
    amplitude: np.ndarray
    scale: np.ndarray
    shape: np.ndarray
    value_per_conversion: np.ndarray
    cost_per_click: np.ndarray
    click_through: np.ndarray
    value_cv: float
    timestep_budget: float

    @property
    def n_campaigns(self) -> int:
        """K."""
        return self.scale.size

    @property
    def timesteps(self) -> int:
        """T."""
        return self.amplitude.shape[0]

    def revenue_curves(self, t: int) -> response.ResponseCurves:
        """Expected revenue per campaign as a function of spend, during timestep t."""
        top = self.amplitude[t] * self.value_per_conversion
        if self.family == "negexp":
            return response.NegExpCurves(alpha=top, mu=1.0 / self.scale)
        if self.family == "michaelis_menten":
            return response.MichaelisMentenCurves(vmax=top, k=self.scale)
        return response.HillCurves(vmax=top, k=self.scale, n=self.shape)

    def expected_conversions(self, spend: np.ndarray, t: int) -> np.ndarray:
        """Mean conversions of each campaign at `spend` during timestep t."""
        ratio = np.maximum(spend, 0.0) / self.scale
        if self.family == "negexp":
            fraction = -np.expm1(-ratio)
        elif self.family == "michaelis_menten":
            fraction = ratio / (1.0 + ratio)
        else:
            powered = ratio**self.shape
            fraction = powered / (1.0 + powered)
        return self.amplitude[t] * fraction

    def expected_revenue(self, spend: np.ndarray, t: int) -> float:
        """Total expected revenue of an allocation during timestep t."""
        return float(np.sum(self.expected_conversions(spend, t) * self.value_per_conversion))

    def observe(self, spend: np.ndarray, t: int, rng: np.random.Generator) -> dict[str, list]:
        """One timestep's reported metrics: Poisson clicks, binomial conversions, Gamma values."""
        spend = np.maximum(np.asarray(spend, dtype=float), 0.0)
        mean_clicks = spend / self.cost_per_click
        clicks = rng.poisson(mean_clicks)
        rate = np.divide(
            self.expected_conversions(spend, t),
            mean_clicks,
            out=np.zeros_like(spend),
            where=mean_clicks > 0,
        )
        conversions = rng.binomial(clicks, np.clip(rate, 0.0, 1.0))
        shape = conversions / self.value_cv**2
        revenue = np.where(
            conversions > 0,
            rng.gamma(np.maximum(shape, 1e-12), self.value_per_conversion * self.value_cv**2),
            0.0,
        )
        impressions = rng.poisson(mean_clicks / self.click_through)
        return {
            "spend": spend.tolist(),
            "impressions": impressions.astype(float).tolist(),
            "clicks": clicks.astype(float).tolist(),
            "conversions": conversions.astype(float).tolist(),
            "revenue": revenue.tolist(),
        }


def _check_world(
    family: str,
    n_campaigns: int,
    timesteps: int,
    seed: int,
    drift: float,
    seasonality: float,
    value_cv: float,
) -> None:
    """EngineError naming the first argument no world can be made of (the command line's own
    checks say the same for its options)."""
    if family not in FAMILIES:
        raise EngineError(f"unknown world family {family!r} (known: {FAMILIES})")
    for name, value, low in (("n_campaigns", n_campaigns, 2), ("timesteps", timesteps, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise EngineError(f"{name} must be an integer of at least {low} (got {value!r})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise EngineError(f"seed must be a non-negative integer (got {seed!r})")
    # Values per conversion are gamma-distributed, so their cv must be positive. Drift is the
    # sd of a log-amplitude walk a timestep; see MAX_WALK for how far the whole walk may go.
    for name, value, low, high, low_open in (
        ("drift", drift, 0.0, 1.0, False),
        ("seasonality", seasonality, -1.0, 1.0, False),
        ("value_cv", value_cv, 0.0, 10.0, True),
    ):
        number = isinstance(value, (int, float, np.integer, np.floating))
        above = number and (low < value if low_open else low <= value)
        if isinstance(value, bool) or not (above and value <= high):
            left = "(" if low_open else "["
            raise EngineError(f"{name} must be in {left}{low:g}, {high:g}] (got {value!r})")
    if drift * np.sqrt(timesteps) > MAX_WALK:
        raise EngineError(
            f"drift x sqrt(timesteps) must be at most {MAX_WALK:g} (got {drift:g} x "
            f"sqrt({timesteps})): a wilder walk outgrows the simulated clicks"
        )


def make_world(
    family: str,
    n_campaigns: int,
    timesteps: int,
    seed: int,
    drift: float = 0.0,
    seasonality: float = 0.0,
    value_cv: float = 0.5,
) -> World:
    """A random world; equal seeds give equal worlds.

    Saturation spends are log-normal around an equal share of the budget, returns on the first
    unit of spend log-normal around 4 (so uniform splits leave money on the table), values per
    conversion log-normal around 40. `drift` is the per-timestep sd of a random walk on every
    campaign's log amplitude, `seasonality` the relative swing of a weekly cycle shared by all.
    """
    _check_world(family, n_campaigns, timesteps, seed, drift, seasonality, value_cv)
    rng = np.random.default_rng([seed, n_campaigns, FAMILIES.index(family)])
    equal_share = TIMESTEP_BUDGET / n_campaigns
    scale = equal_share * rng.lognormal(0.0, 0.5, n_campaigns)
    first_return = rng.lognormal(np.log(4.0), 0.5, n_campaigns)
    value = rng.lognormal(np.log(40.0), 0.4, n_campaigns)
    shape = rng.uniform(1.2, 2.0, n_campaigns) if family == "hill" else np.ones(n_campaigns)
    conversions_at_saturation = first_return * scale / value
    walk = np.cumsum(rng.normal(0.0, drift, (timesteps, n_campaigns)), axis=0) if drift else 0.0
    season = 1.0 + seasonality * np.sin(2 * np.pi * np.arange(timesteps) / WEEK)
    amplitude = conversions_at_saturation[None, :] * np.exp(walk) * season[:, None]

    world = World(
        family=family,
        amplitude=amplitude,
        scale=scale,
        shape=shape,
        value_per_conversion=value,
        cost_per_click=np.ones(n_campaigns),
        click_through=rng.uniform(0.005, 0.03, n_campaigns),
        value_cv=value_cv,
        timestep_budget=TIMESTEP_BUDGET,
    )
    # Cost per click sets the best conversion rate per click between 2% and 10%.
    grid = np.geomspace(1e-3, 10.0, 400)[:, None] * scale[None, :]
    per_spend = (world.expected_conversions(grid, 0) / amplitude[0] / grid).max(axis=0)
    peak_rate = per_spend * amplitude.max(axis=0)
    cost_per_click = rng.uniform(0.02, 0.1, n_campaigns) / peak_rate
    return replace(world, cost_per_click=cost_per_click)


def oracle_spend(world: World, t: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The best allocation of timestep t's budget on the true curves (shared KKT allocator)."""
    return allocate_budget(world.revenue_curves(t), world.timestep_budget, lower, upper)


@dataclass(frozen=True)
class RunResult:
    """Per-timestep expected revenue of the policy and of the oracle, and the policy's shares."""

    policy: str
    revenue: np.ndarray
    oracle: np.ndarray
    shares: np.ndarray

    @property
    def efficiency(self) -> float:
        """Expected revenue of the policy's allocations over the oracle's, whole run."""
        return float(self.revenue.sum() / self.oracle.sum())

    @property
    def cumulative_regret(self) -> np.ndarray:
        """Cumulative oracle-minus-policy revenue, in timesteps of mean oracle revenue."""
        return np.cumsum(self.oracle - self.revenue) / self.oracle.mean()


def run(
    policy: str,
    world: World,
    seed: int,
    step: float = 0.1,
    floor: float = 0.0,
    params: dict | None = None,
) -> RunResult:
    """Play `policy` for the world's T timesteps through the public engine API."""
    engine_policy = make_policy(policy, params)
    n_campaigns, timesteps = world.n_campaigns, world.timesteps
    settings = {
        "budget": world.timestep_budget * timesteps,
        "timesteps": timesteps,
        "step": step,
        "floor": floor,
        "objective": "revenue",
        "seed": seed,
    }
    state = engine_policy.init(n_campaigns, settings)
    rng = np.random.default_rng([seed, 7919])
    lower = np.full(n_campaigns, floor * world.timestep_budget)
    upper = np.full(n_campaigns, np.inf)
    stationary = np.allclose(world.amplitude, world.amplitude[0])
    best = oracle_spend(world, 0, lower, upper) if stationary else None
    revenue, oracle, shares = (
        np.zeros(timesteps),
        np.zeros(timesteps),
        np.zeros_like(world.amplitude),
    )
    for t in range(timesteps):
        spend = np.array(state["budgets"])
        shares[t] = state["shares"]
        revenue[t] = world.expected_revenue(spend, t)
        target = best if stationary else oracle_spend(world, t, lower, upper)
        oracle[t] = world.expected_revenue(target, t)
        state, _ = engine_policy.advance(state, world.observe(spend, t, rng))
    return RunResult(policy=policy, revenue=revenue, oracle=oracle, shares=shares)


@dataclass(frozen=True)
class Cell:
    """Efficiencies of one policy in one (family, K, T) configuration, one per seed."""

    policy: str
    family: str
    n_campaigns: int
    timesteps: int
    efficiencies: np.ndarray
    regret: np.ndarray


def benchmark(
    policies: Sequence[str],
    families: Sequence[str],
    campaign_counts: Sequence[int],
    horizons: Sequence[int],
    seeds: Sequence[int],
    step: float = 0.1,
    drift: float = 0.0,
    seasonality: float = 0.0,
    progress: bool = True,
) -> list[Cell]:
    """Every policy in every configuration over every seed (worlds shared across policies)."""
    from tqdm import tqdm

    configurations = list(itertools.product(horizons, families, campaign_counts, policies))
    cells = []
    with tqdm(total=len(configurations) * len(seeds), disable=not progress, file=sys.stderr) as bar:
        for timesteps, family, n_campaigns, policy in configurations:
            results = []
            for seed in seeds:
                world = make_world(family, n_campaigns, timesteps, seed, drift, seasonality)
                results.append(run(policy, world, seed, step=step))
                bar.update()
            cells.append(
                Cell(
                    policy=policy,
                    family=family,
                    n_campaigns=n_campaigns,
                    timesteps=timesteps,
                    efficiencies=np.array([result.efficiency for result in results]),
                    regret=np.mean([result.cumulative_regret for result in results], axis=0),
                )
            )
    return cells


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
        header = ["policy"] + [f"{family[:6]} K={k}" for family, k in columns]
        header += ["mean", "worst run", "worst seed"]
        widths = [14] + [14] * len(columns) + [8, 10, 10]
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
                row.append(text.ljust(14))
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
        prog="python -m engine.simulate", description=__doc__.split("\n")[0]
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
    )
    summary = (
        f"seeds {seeds[0]}..{seeds[-1]}, step {args.step:g}, drift {args.drift:g}, "
        f"seasonality {args.seasonality:g}"
    )
    print(summary)
    print(format_table(cells))
    if args.png:
        plot_regret(cells, args.png)
        print(f"\ncumulative regret curves: {args.png}")
    if args.report:
        from engine.report import write_report

        print(f"HTML report: {write_report(cells, args.report, summary)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
