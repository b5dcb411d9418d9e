"""Synthetic advertising worlds, an oracle that knows them, and a runner that scores policies.

A world has K campaigns with saturating expected-conversion curves of one family (negative
exponential, Michaelis-Menten or Hill), a value per conversion each, Poisson clicks thinned into
Poisson conversions, conversion values drawn around the campaign's mean, and optionally a drift of
the curves over time and a weekly seasonality. The oracle allocates each timestep's budget exactly
on the true expected-revenue curves with the shared KKT allocator (engine.allocator). A policy is
played through the public engine API (JSON state in, JSON state out) and scored by

    efficiency = sum_t E[revenue | policy's budgets] / sum_t oracle revenue_t,

with cumulative regret (oracle minus policy, in timesteps of mean oracle revenue) per timestep.
Its command line, table and plots are engine.cli.simulate.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
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
