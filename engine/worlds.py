"""Synthetic advertising worlds: K campaigns' true response curves, and what they report.

A world holds, per campaign, a curve family (negative exponential, Michaelis-Menten, Hill or
logarithmic), a spend scale, an amplitude per timestep (drift, weekly seasonality and a sudden
shift included), a value per conversion, a cost per click, and how much of its conversions are
reported late. `observe` draws one timestep's report: Poisson clicks thinned into binomial
conversions, and their revenue, gamma around the campaign's mean value or a sum of log-normal
order values. Two generators: `make_world` (one family, saturation spends within about 2x of
an equal share: the simulator's first worlds) and `make_broad_world` (worlds as broad as real
advertisers, every condition optional).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine import response
from engine.errors import EngineError
from engine.log_curves import LogCurves

FAMILIES: tuple[str, ...] = ("negexp", "michaelis_menten", "hill")
"""The families of `make_world`."""
ALL_FAMILIES: tuple[str, ...] = (*FAMILIES, "log")
"""Every family a campaign can have; `log` never saturates."""
TIMESTEP_BUDGET = 10_000.0
"""Budget per timestep of every world; only ratios matter, this keeps counts realistic."""
WEEK = 7
MAX_WALK = 5.0
"""Largest drift x sqrt(timesteps): prices are set so that a campaign's best conversion rate
is realistic at its highest amplitude over the run, and a walk much wider than this makes its
ordinary amplitudes worth so little a click that clicks overflow a Poisson draw."""
MAX_DELAY = 7
"""Late conversions come in 1 to MAX_DELAY timesteps after the timestep that spent for them."""


def saturation(kind: np.ndarray, ratio: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Each campaign's response per unit of amplitude at spend / scale = `ratio`."""
    ratio = np.maximum(ratio, 0.0)
    powered = ratio**shape
    return np.select(
        [kind == 0, kind == 1, kind == 2],
        [-np.expm1(-ratio), ratio / (1.0 + ratio), powered / (1.0 + powered)],
        np.log1p(ratio) / np.log(2.0),
    )


@dataclass(frozen=True)
class World:
    """True parameters of K campaigns over T timesteps.

    `amplitude[t, k]` is expected conversions at spend = scale during timestep t, over the
    curve's value there (saturation for negexp, twice the half-saturation response for
    Michaelis-Menten and Hill; drift, season and shift included); `scale[k]` the spend scale
    (negexp 1/mu, half-saturation spend, log's knee); `shape[k]` the Hill exponent; `kind[k]`
    an index into ALL_FAMILIES. `delay_share[k]` of conversions are reported 1 to MAX_DELAY
    timesteps late (engine.simulate posts them as late corrections); `value_sigma` > 0 draws
    log-normal order values, else gamma with coefficient of variation `value_cv`.
    Campaign k runs from timestep `start[k]` to `end[k]` (exclusive); without them, all run
    throughout.
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
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    value_sigma: float = 0.0
    delay_share: np.ndarray | None = None
    shift: tuple[int, int, float] | None = None
    start: np.ndarray | None = None
    end: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind.size != self.scale.size:
            object.__setattr__(
                self, "kind", np.full(self.scale.size, ALL_FAMILIES.index(self.family))
            )

    @property
    def n_campaigns(self) -> int:
        """K."""
        return self.scale.size

    @property
    def timesteps(self) -> int:
        """T."""
        return self.amplitude.shape[0]

    def live(self, t: int) -> np.ndarray:
        """Which campaigns run during timestep t (K,)."""
        live = np.ones(self.n_campaigns, dtype=bool)
        if self.start is not None:
            live &= self.start <= t
        if self.end is not None:
            live &= t < self.end
        return live

    def revenue_curves(self, t: int) -> response.ResponseCurves:
        """Expected revenue per campaign as a function of spend, during timestep t."""
        top = self.amplitude[t] * self.value_per_conversion
        parts = []
        for code in np.unique(self.kind):
            index = np.flatnonzero(self.kind == code)
            a, s = top[index], self.scale[index]
            if code == 0:
                curves = response.NegExpCurves(alpha=a, mu=1.0 / s)
            elif code == 1:
                curves = response.MichaelisMentenCurves(vmax=2 * a, k=s)
            elif code == 2:
                curves = response.HillCurves(vmax=2 * a, k=s, n=self.shape[index])
            else:
                curves = LogCurves(vmax=a, k=s)
            parts.append((curves, index))
        return parts[0][0] if len(parts) == 1 else response.CombinedCurves(parts)

    def expected_conversions(self, spend: np.ndarray, t: int) -> np.ndarray:
        """Mean conversions of each campaign at `spend` during timestep t."""
        # Michaelis-Menten and Hill reach half their maximum at the scale: amplitude is 2x that.
        top = np.where(self.kind == 1, 2.0, np.where(self.kind == 2, 2.0, 1.0))
        fraction = saturation(self.kind, np.asarray(spend) / self.scale, self.shape)
        return self.amplitude[t] * top * fraction

    def expected_revenue(self, spend: np.ndarray, t: int) -> float:
        """Total expected revenue of an allocation during timestep t."""
        return float(np.sum(self.expected_conversions(spend, t) * self.value_per_conversion))

    def _revenue(self, conversions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The value of each campaign's conversions: gamma, or a sum of log-normal orders."""
        if self.value_sigma > 0:
            counts = conversions.astype(np.int64)
            mean_log = np.log(self.value_per_conversion) - 0.5 * self.value_sigma**2
            orders = rng.lognormal(np.repeat(mean_log, counts), self.value_sigma)
            owner = np.repeat(np.arange(counts.size), counts)
            return np.bincount(owner, weights=orders, minlength=counts.size)
        shape = conversions / self.value_cv**2
        return np.where(
            conversions > 0,
            rng.gamma(np.maximum(shape, 1e-12), self.value_per_conversion * self.value_cv**2),
            0.0,
        )

    def observe(self, spend: np.ndarray, t: int, rng: np.random.Generator) -> dict[str, list]:
        """One timestep's true metrics (late conversions included: see engine.simulate)."""
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
        revenue = self._revenue(conversions, rng)
        impressions = rng.poisson(mean_clicks / self.click_through)
        return {
            "spend": spend.tolist(),
            "impressions": impressions.astype(float).tolist(),
            "clicks": clicks.astype(float).tolist(),
            "conversions": conversions.astype(float).tolist(),
            "revenue": revenue.tolist(),
        }


def _is_integer(value: object, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= low


def check_world(
    family: str,
    n_campaigns: int,
    timesteps: int,
    seed: int,
    drift: float,
    seasonality: float,
    value_cv: float,
    families: tuple[str, ...] = FAMILIES,
) -> None:
    """EngineError naming the first argument no world can be made of (the command line's own
    checks say the same for its options)."""
    if family not in families:
        raise EngineError(f"unknown world family {family!r} (known: {families})")
    for name, value, low in (("n_campaigns", n_campaigns, 2), ("timesteps", timesteps, 1)):
        if not _is_integer(value, low):
            raise EngineError(f"{name} must be an integer of at least {low} (got {value!r})")
    if not _is_integer(seed, 0):
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


def priced_world(
    rng: np.random.Generator, value_cv: float, scale: np.ndarray, **curves: Any
) -> World:
    """A world of saturation spends `scale` and `curves` (family, amplitude, shape,
    value_per_conversion and any other World field), with click-through rates drawn from 0.5%
    to 3% and costs per click setting each campaign's best conversion rate per click between
    2% and 10% at its highest amplitude over the run."""
    world = World(
        scale=scale,
        cost_per_click=np.ones(len(scale)),
        click_through=rng.uniform(0.005, 0.03, len(scale)),
        value_cv=value_cv,
        timestep_budget=TIMESTEP_BUDGET,
        **curves,
    )
    grid = np.geomspace(1e-3, 10.0, 400)[:, None] * world.scale[None, :]
    per_spend = (world.expected_conversions(grid, 0) / world.amplitude[0] / grid).max(axis=0)
    peak_rate = per_spend * world.amplitude.max(axis=0)
    cost_per_click = rng.uniform(0.02, 0.1, world.n_campaigns) / peak_rate
    return replace(world, cost_per_click=cost_per_click)


def _moving(
    base: np.ndarray, timesteps: int, drift: float, seasonality: float, rng: np.random.Generator
) -> np.ndarray:
    """(T, K) amplitudes: `base` under a log random walk of sd `drift` and a weekly cycle."""
    n_campaigns = base.size
    walk = np.cumsum(rng.normal(0.0, drift, (timesteps, n_campaigns)), axis=0) if drift else 0.0
    season = 1.0 + seasonality * np.sin(2 * np.pi * np.arange(timesteps) / WEEK)
    return base[None, :] * np.exp(walk) * season[:, None]


def make_world(
    family: str,
    n_campaigns: int,
    timesteps: int,
    seed: int,
    drift: float = 0.0,
    seasonality: float = 0.0,
    value_cv: float = 0.5,
    launches: bool = False,
) -> World:
    """A random world of one family; equal seeds give equal worlds.

    Saturation spends are log-normal (sd 0.5) around an equal share of the budget, returns on
    the first unit of spend log-normal around 4 (so uniform splits leave money on the table),
    values per conversion log-normal around 40. `drift` is the per-timestep sd of a random walk
    on every campaign's log amplitude, `seasonality` the relative swing of a weekly cycle.
    `launches`: some campaigns launch late and others end early, as in `make_broad_world`.
    """
    check_world(family, n_campaigns, timesteps, seed, drift, seasonality, value_cv)
    rng = np.random.default_rng([seed, n_campaigns, FAMILIES.index(family)])
    equal_share = TIMESTEP_BUDGET / n_campaigns
    scale = equal_share * rng.lognormal(0.0, 0.5, n_campaigns)
    first_return = rng.lognormal(np.log(4.0), 0.5, n_campaigns)
    value = rng.lognormal(np.log(40.0), 0.4, n_campaigns)
    shape = rng.uniform(1.2, 2.0, n_campaigns) if family == "hill" else np.ones(n_campaigns)
    conversions_at_saturation = first_return * scale / value
    # Michaelis-Menten and Hill amplitudes are half their maximum (their value at the scale).
    half = 0.5 if family in ("michaelis_menten", "hill") else 1.0
    amplitude = _moving(half * conversions_at_saturation, timesteps, drift, seasonality, rng)
    world = priced_world(
        rng,
        value_cv,
        family=family,
        amplitude=amplitude,
        scale=scale,
        shape=shape,
        value_per_conversion=value,
    )
    return _launched(world, seed) if launches else world


MIXED = "mixed"
VOLUMES = (0.01, 1000.0)
"""The range of `make_broad_world`'s volume (a factor on every campaign's conversions)."""
_MIXED_ODDS = (0.3, 0.3, 0.25, 0.15)


def make_broad_world(
    family: str,
    n_campaigns: int,
    timesteps: int,
    seed: int,
    drift: float = 0.0,
    seasonality: float = 0.0,
    shift: bool = False,
    delays: bool = False,
    value_sigma: float = 0.0,
    launches: bool = False,
    volume: float = 1.0,
) -> World:
    """A world as broad as real advertisers; equal seeds give equal worlds.

    Saturation spends log-uniform from 0.1 to 10 equal shares; amplitudes (conversions at the
    scale) log-normal with sd 0.8 in log, independent of the scale; values per conversion
    log-normal with sd 0.5 (a 7-fold range covers 95%); Hill exponents 1.2 to 2.5. `family`
    is one of ALL_FAMILIES, or "mixed": each campaign draws its own (negexp 30%,
    Michaelis-Menten 30%, Hill 25%, log 15%). Conditions: `drift` and `seasonality` as in
    `make_world`; `shift`: halfway through the run one campaign (drawn in proportion to its
    revenue at the scale) halves or doubles its response for good; `delays`: each campaign
    reports a share of its conversions (uniform 0 to 0.6) 1 to 7 timesteps late;
    `value_sigma` > 0: log-normal order values with that sd in log (gamma, cv 0.5, otherwise);
    `launches`: about a fifth of the campaigns launch during the first half of the run and
    another fifth end during the second half (at least two run throughout; drawn apart from
    everything else, so the world is otherwise the one without launches). `volume`
    multiplies every campaign's amplitude, so its expected conversions at any spend, and
    nothing else: the curves' shapes, values, conditions and the oracle's split are those of
    volume 1 (costs per click follow, so conversion rates per click stay as realistic).
    """
    known = (*ALL_FAMILIES, MIXED)
    check_world(family, n_campaigns, timesteps, seed, drift, seasonality, 0.5, known)
    if not 0.0 <= value_sigma <= 3.0:
        raise EngineError(f"value_sigma must be in [0, 3] (got {value_sigma!r})")
    number = isinstance(volume, (int, float, np.integer, np.floating))
    if isinstance(volume, bool) or not (number and VOLUMES[0] <= volume <= VOLUMES[1]):
        raise EngineError(f"volume must be in [{VOLUMES[0]:g}, {VOLUMES[1]:g}] (got {volume!r})")
    rng = np.random.default_rng([seed, n_campaigns, 7919, known.index(family)])
    equal_share = TIMESTEP_BUDGET / n_campaigns
    if family == MIXED:
        kind = rng.choice(len(ALL_FAMILIES), n_campaigns, p=_MIXED_ODDS)
    else:
        kind = np.full(n_campaigns, ALL_FAMILIES.index(family))
    scale = equal_share * np.exp(rng.uniform(np.log(0.1), np.log(10.0), n_campaigns))
    value = rng.lognormal(np.log(40.0), 0.5, n_campaigns)
    revenue_at_scale = 3.0 * equal_share * rng.lognormal(-0.32, 0.8, n_campaigns)
    shape = np.where(kind == 2, rng.uniform(1.2, 2.5, n_campaigns), 1.0)
    amplitude = volume * _moving(revenue_at_scale / value, timesteps, drift, seasonality, rng)
    moved = None
    if shift:
        weights = revenue_at_scale / revenue_at_scale.sum()
        campaign = int(rng.choice(n_campaigns, p=weights))
        factor = float(rng.choice([0.5, 2.0]))
        moved = (timesteps // 2, campaign, factor)
        amplitude[moved[0] :, campaign] *= factor
    delay_share = rng.uniform(0.0, 0.6, n_campaigns) if delays else None
    world = priced_world(
        rng,
        0.5,
        family=family,
        amplitude=amplitude,
        scale=scale,
        shape=shape,
        value_per_conversion=value,
        kind=kind,
        value_sigma=value_sigma,
        delay_share=delay_share,
        shift=moved,
    )
    return _launched(world, seed) if launches else world


def _launched(world: World, seed: int) -> World:
    """The world with some campaigns launched late and some ended early (see make_broad_world)."""
    n_campaigns, timesteps = world.n_campaigns, world.timesteps
    if timesteps < 3:
        return world
    rng = np.random.default_rng([seed, n_campaigns, 6151])
    order = rng.permutation(n_campaigns)
    moving = min(rng.binomial(n_campaigns, 0.4), n_campaigns - 2)
    launching, ending = order[: moving // 2], order[moving // 2 : moving]
    start = np.zeros(n_campaigns, dtype=int)
    end = np.full(n_campaigns, timesteps)
    start[launching] = rng.integers(1, timesteps // 2 + 1, launching.size)
    end[ending] = rng.integers(timesteps // 2 + 1, timesteps, ending.size)
    return replace(world, start=start, end=end)
