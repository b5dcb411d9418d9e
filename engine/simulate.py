"""An oracle that knows a world (engine.worlds), and a runner that scores policies on it.

The oracle allocates each timestep's budget exactly on the true expected-revenue curves with
the shared KKT allocator (engine.allocator). A policy is played through the public engine API
(JSON state in, JSON state out): each timestep's report goes to `advance`, and conversions a
world reports late are posted as late corrections through `Policy.refold`, as the API does.
It is scored by

    efficiency = sum_t E[revenue | policy's budgets] / sum_t oracle revenue_t,

with cumulative regret (oracle minus policy, in timesteps of mean oracle revenue) per timestep.
Its command line, table and plots are engine.cli.simulate.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine import make_policy
from engine.allocator import allocate_budget
from engine.framework import Policy
from engine.worlds import (
    FAMILIES,
    MAX_DELAY,
    MAX_WALK,
    TIMESTEP_BUDGET,
    WEEK,
    World,
    make_broad_world,
    make_world,
)

__all__ = [
    "BENCHMARK_POLICIES",
    "FAMILIES",
    "MAX_WALK",
    "TIMESTEP_BUDGET",
    "WEEK",
    "Cell",
    "LateReports",
    "RunResult",
    "World",
    "benchmark",
    "make_broad_world",
    "make_world",
    "oracle_spend",
    "run",
]

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


class LateReports:
    """Conversions (and their revenue) a world reports late, held until they come in."""

    def __init__(self, world: World, rng: np.random.Generator) -> None:
        self.share = world.delay_share
        self.rng = rng
        self.pending: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}

    def hold_back(self, t: int, report: dict[str, list]) -> dict[str, list]:
        """Timestep t's report without its late part, which is queued for timesteps t+1..t+7."""
        if self.share is None:
            return report
        conversions = np.array(report["conversions"])
        revenue = np.array(report["revenue"])
        late = self.rng.binomial(conversions.astype(np.int64), self.share)
        by_lag = self.rng.multinomial(late, np.full(MAX_DELAY, 1.0 / MAX_DELAY))  # (K, lags)
        per_conversion = np.divide(
            revenue, conversions, out=np.zeros_like(revenue), where=conversions > 0
        )
        for lag in range(1, MAX_DELAY + 1):
            counts = by_lag[:, lag - 1].astype(float)
            if counts.any():
                item = (t, counts, counts * per_conversion)
                self.pending.setdefault(t + lag, []).append(item)
        held = late * per_conversion
        return report | {
            "conversions": (conversions - late).tolist(),
            "revenue": np.maximum(revenue - held, 0.0).tolist(),
        }

    def arrive(self, t: int, rows: list[dict[str, list]]) -> bool:
        """Add what comes in at timestep t to the rows it belongs to; whether anything did."""
        arrived = self.pending.pop(t, [])
        for row, counts, value in arrived:
            rows[row]["conversions"] = (np.array(rows[row]["conversions"]) + counts).tolist()
            rows[row]["revenue"] = (np.array(rows[row]["revenue"]) + value).tolist()
        return bool(arrived)


def run(
    policy: str | Policy,
    world: World,
    seed: int,
    step: float = 0.1,
    floor: float = 0.0,
    params: dict | None = None,
) -> RunResult:
    """Play `policy` (a name, or a Policy) for the world's T timesteps through the engine API.

    Late conversions (a world with `delay_share`) come in as late corrections: the rows of the
    finished timesteps, corrected, go to `Policy.refold` before the next `advance`.
    """
    engine_policy = make_policy(policy, params) if isinstance(policy, str) else policy
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
    late = LateReports(world, np.random.default_rng([seed, 104729]))
    lower = np.full(n_campaigns, floor * world.timestep_budget)
    upper = np.full(n_campaigns, np.inf)
    stationary = np.allclose(world.amplitude, world.amplitude[0])
    best = oracle_spend(world, 0, lower, upper) if stationary else None
    revenue, oracle = np.zeros(timesteps), np.zeros(timesteps)
    shares = np.zeros((timesteps, n_campaigns))
    rows: list[dict[str, list]] = []
    planned: list[list[float]] = []
    for t in range(timesteps):
        spend = np.array(state["budgets"])
        shares[t] = state["shares"]
        revenue[t] = world.expected_revenue(spend, t)
        target = best if stationary else oracle_spend(world, t, lower, upper)
        oracle[t] = world.expected_revenue(target, t)
        if t == timesteps - 1:
            break  # the last report would only close the run
        report = late.hold_back(t, world.observe(spend, t, rng))
        if late.arrive(t, rows):
            state = engine_policy.refold(state, rows, planned)
        rows.append(report)
        planned.append(spend.tolist())
        state, _ = engine_policy.advance(state, report)
    name = policy if isinstance(policy, str) else engine_policy.name
    return RunResult(policy=name, revenue=revenue, oracle=oracle, shares=shares)


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
