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
from engine.amend import resize
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


def _columns(row: dict[str, list], members: np.ndarray, were: np.ndarray) -> dict[str, list]:
    """A world-wide row as the run's campaigns `members` report it: nothing (None) from those
    that were not running then (`were`, a mask over the world's campaigns)."""
    return {
        metric: [values[k] if were[k] else None for k in members] for metric, values in row.items()
    }


def run_settings(world: World, seed: int, step: float = 0.1, floor: float = 0.0) -> dict:
    """The settings of a run over the world's T timesteps: its whole budget, revenue as the
    objective, the pace `step` and the `floor` share."""
    return {
        "budget": world.timestep_budget * world.timesteps,
        "timesteps": world.timesteps,
        "step": step,
        "floor": floor,
        "objective": "revenue",
        "seed": seed,
    }


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
    finished timesteps, corrected, go to `Policy.refold` before the next `advance`. Campaigns
    launched or ended mid-run (a world with `start` and `end`) are added to or removed from the
    running state by `engine.amend.resize` once the timestep before their first or after their
    last is decided, as the API does when a running state's campaigns change; what removed
    campaigns spent goes to `refold` as `retired_spent`. The oracle splits each timestep's
    budget among the campaigns running then.
    """
    engine_policy = make_policy(policy, params) if isinstance(policy, str) else policy
    n_campaigns, timesteps = world.n_campaigns, world.timesteps
    settings = run_settings(world, seed, step, floor)
    members = np.flatnonzero(world.live(0))  # the world's campaigns the state holds, in order
    state = engine_policy.init(members.size, settings)
    rng = np.random.default_rng([seed, 7919])
    late = LateReports(world, np.random.default_rng([seed, 104729]))
    always = world.start is None and world.end is None
    stationary = always and np.allclose(world.amplitude, world.amplitude[0])
    everyone = np.ones(n_campaigns, dtype=bool)
    best = oracle_spend(world, 0, *_bounds(world, floor, everyone)) if stationary else None
    revenue, oracle = np.zeros(timesteps), np.zeros(timesteps)
    shares = np.zeros((timesteps, n_campaigns))
    rows: list[dict[str, list]] = []  # world-wide
    planned: list[list[float]] = []
    were: list[np.ndarray] = []  # which campaigns each row's state held
    for t in range(timesteps):
        spend = np.zeros(n_campaigns)
        spend[members] = state["budgets"]
        shares[t, members] = state["shares"]
        revenue[t] = world.expected_revenue(spend, t)
        live = world.live(t)
        target = best if stationary else oracle_spend(world, t, *_bounds(world, floor, live))
        oracle[t] = world.expected_revenue(target, t)
        if t == timesteps - 1:
            break  # the last report would only close the run
        report = late.hold_back(t, world.observe(spend, t, rng))
        if late.arrive(t, rows):
            state = _corrected(engine_policy, state, rows, planned, were, members)
        rows.append(report)
        planned.append(spend.tolist())
        were.append(np.isin(np.arange(n_campaigns), members))
        state, _ = engine_policy.advance(state, _columns(report, members, were[-1]))
        running = np.flatnonzero(world.live(t + 1))
        if not np.array_equal(running, members):
            position = {int(k): i for i, k in enumerate(members)}
            keep = [position.get(int(k)) for k in running]
            state = resize(engine_policy, state, keep)
            members = running
    name = policy if isinstance(policy, str) else engine_policy.name
    return RunResult(policy=name, revenue=revenue, oracle=oracle, shares=shares)


def _bounds(world: World, floor: float, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The oracle's spend bounds: the floor for running campaigns, nothing for the others."""
    lower = np.where(live, floor * world.timestep_budget, 0.0)
    return lower, np.where(live, np.inf, 0.0)


def _corrected(
    policy: Policy,
    state: dict,
    rows: list[dict[str, list]],
    planned: list[list[float]],
    were: list[np.ndarray],
    members: np.ndarray,
) -> dict:
    """The state refolded from the corrected world-wide rows, as its campaigns report them."""
    held = np.isin(np.arange(were[0].size), members)
    observations = [_columns(row, members, mask) for row, mask in zip(rows, were, strict=True)]
    budgets = [[plan[k] for k in members] for plan in planned]
    retired = sum(
        float(np.sum(np.asarray(row["spend"])[mask & ~held]))
        for row, mask in zip(rows, were, strict=True)
    )
    if retired > 0:
        return policy.refold(state, observations, budgets, retired)
    return policy.refold(state, observations, budgets)


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
    launches: bool = False,
) -> list[Cell]:
    """Every policy in every configuration over every seed (worlds shared across policies)."""
    from tqdm import tqdm

    configurations = list(itertools.product(horizons, families, campaign_counts, policies))
    cells = []
    with tqdm(total=len(configurations) * len(seeds), disable=not progress, file=sys.stderr) as bar:
        for timesteps, family, n_campaigns, policy in configurations:
            results = []
            for seed in seeds:
                world = make_world(
                    family, n_campaigns, timesteps, seed, drift, seasonality, launches=launches
                )
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
