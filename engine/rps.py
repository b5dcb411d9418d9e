"""Relative Price Strength (RPS) band allocator for two channels, and its backtest.

``RPS_t = ln(price_a_t / price_b_t)``; its mean over the last ``lookback`` prices is turned into
A's *edge* according to ``price_kind``: for ``"cost"`` prices (CPC, CPA: lower is better, the
default) the edge is ``-RPS``, for ``"value"`` prices (revenue per unit: higher is better) it is
``+RPS``. A positive edge always favours A. Five bands split the edge axis, each carrying the budget
split between A and B. Keeping the bands on the edge axis lets one band table serve both kinds.

Band boundaries belong to the band nearer ``EQUAL``: a heavier band is entered only when the edge
strictly passes its threshold, so swapping A and B swaps the allocation even at a boundary.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from engine.errors import EngineError

BAND_NAMES: tuple[str, ...] = ("B_HEAVY", "B_LIGHT", "EQUAL", "A_LIGHT", "A_HEAVY")
"""The five bands in ascending order of A's edge."""

PRICE_KINDS: tuple[str, ...] = ("cost", "value")

DEFAULT_EQUAL_THRESHOLD = 0.05
"""|edge| up to this (about a 5% price gap) splits the budget equally."""

DEFAULT_HEAVY_THRESHOLD = 0.15
"""|edge| beyond this (about a 16% price gap) moves to a heavy band."""

DEFAULT_ALLOCATIONS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "A_HEAVY": (0.75, 0.25),
        "A_LIGHT": (0.6, 0.4),
        "EQUAL": (0.5, 0.5),
        "B_LIGHT": (0.4, 0.6),
        "B_HEAVY": (0.25, 0.75),
    }
)

DEFAULT_GRID_LOOKBACKS: tuple[int, ...] = (1, 2, 3, 5, 8, 13, 21)
DEFAULT_GRID_EQUAL_THRESHOLDS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1)
DEFAULT_GRID_HEAVY_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
DEFAULT_HOLDOUT_FRACTION = 0.3
DEFAULT_SIMULATION_STEPS = 30
MIN_GRID_STEPS = 3
"""Fewest prices the grid search can use: 2 to score settings on (step 0 is always spent 50/50,
so one step tells no settings apart) and 1 held out to judge the best on."""
# Longer than any price series Oktopus keeps (a state has at most 10,000 timesteps); a longer
# window means the same as null, all prices.
MAX_LOOKBACK = 1_000_000

_BAND_KEYS = frozenset({"name", "lower", "upper", "allocation"})
_SHARE_TOLERANCE = 1e-9
_FLAT_SPLIT = np.array([0.5, 0.5])


def symmetric_bands(
    equal_threshold: float,
    heavy_threshold: float,
    allocations: Mapping[str, Sequence[float]] | None = None,
) -> list[dict]:
    """Build the five bands from two edge thresholds mirrored around zero.

    ``EQUAL`` covers ``[-equal, equal]``, the light bands reach out to ``±heavy`` and the heavy
    bands are unbounded. ``allocations`` maps band names to ``[share_a, share_b]``.
    """
    chosen = DEFAULT_ALLOCATIONS if allocations is None else allocations
    ranges = {
        "A_HEAVY": (heavy_threshold, None),
        "A_LIGHT": (equal_threshold, heavy_threshold),
        "EQUAL": (-equal_threshold, equal_threshold),
        "B_LIGHT": (-heavy_threshold, -equal_threshold),
        "B_HEAVY": (None, -heavy_threshold),
    }
    return [
        {
            "name": name,
            "lower": None if ranges[name][0] is None else float(ranges[name][0]),
            "upper": None if ranges[name][1] is None else float(ranges[name][1]),
            "allocation": [float(share) for share in chosen[name]],
        }
        for name in reversed(BAND_NAMES)
    ]


def default_bands() -> list[dict]:
    """An editable, JSON-able copy of the default bands (seed example lands in A_HEAVY)."""
    return symmetric_bands(DEFAULT_EQUAL_THRESHOLD, DEFAULT_HEAVY_THRESHOLD)


DEFAULT_BANDS: tuple[Mapping, ...] = tuple(
    MappingProxyType({**band, "allocation": tuple(band["allocation"])}) for band in default_bands()
)
"""Read-only default bands; pass them as ``bands`` or call ``default_bands()`` to edit a copy."""


@dataclass(frozen=True)
class BandTable:
    """Validated bands: four ascending edge thresholds and one allocation row per band."""

    thresholds: np.ndarray
    allocations: np.ndarray

    def as_bands(self) -> list[dict]:
        """The table back in request form (``None`` marks an unbounded end)."""
        edges = [None, *self.thresholds.tolist(), None]
        return [
            {
                "name": BAND_NAMES[i],
                "lower": edges[i],
                "upper": edges[i + 1],
                "allocation": self.allocations[i].tolist(),
            }
            for i in reversed(range(len(BAND_NAMES)))
        ]


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _band_bound(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not _is_real(value) or not math.isfinite(value):
        raise EngineError(f"{where} must be a finite number or null (got {value!r})")
    return float(value)


def _band_allocation(value: object, where: str) -> tuple[float, float]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise EngineError(f"{where} must be a pair [share_a, share_b] (got {value!r})")
    if len(value) != 2 or not all(_is_real(share) for share in value):
        raise EngineError(f"{where} must be a pair of two numbers (got {list(value)!r})")
    share_a, share_b = float(value[0]), float(value[1])
    if not all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in (share_a, share_b)):
        raise EngineError(f"{where} shares must lie in [0, 1] (got {[share_a, share_b]})")
    if abs(share_a + share_b - 1.0) > _SHARE_TOLERANCE:
        raise EngineError(f"{where} shares must sum to 1 (got {share_a} + {share_b})")
    return share_a, share_b


def validate_bands(bands: Sequence[Mapping] | None) -> BandTable:
    """Check that the bands are the five named ranges, ordered, touching and covering the line.

    Each band is ``{"name", "lower", "upper", "allocation"}``; ``lower``/``upper`` are edge
    values with ``None`` for the unbounded ends, and ``allocation`` is ``[share_a, share_b]``.
    Ranges must ascend ``B_HEAVY < B_LIGHT < EQUAL < A_LIGHT < A_HEAVY``, each non-empty, each
    starting exactly where the previous one ends.
    """
    if bands is None:
        bands = DEFAULT_BANDS
    if isinstance(bands, str | bytes | Mapping) or not isinstance(bands, Sequence):
        raise EngineError("bands must be a list of five band objects")
    if len(bands) != len(BAND_NAMES):
        raise EngineError(
            f"bands must list exactly the five bands {', '.join(BAND_NAMES)} (got {len(bands)})"
        )
    by_name: dict[str, tuple[float | None, float | None, tuple[float, float]]] = {}
    for position, band in enumerate(bands):
        where = f"bands[{position}]"
        if not isinstance(band, Mapping):
            raise EngineError(f"{where} must be an object with name, lower, upper and allocation")
        missing = sorted(_BAND_KEYS - band.keys())
        unknown = sorted(set(band.keys()) - _BAND_KEYS)
        if missing or unknown:
            problems = [f"missing {missing}"] if missing else []
            problems += [f"unknown {unknown}"] if unknown else []
            raise EngineError(f"{where} keys: {'; '.join(problems)}")
        name = band["name"]
        if name not in BAND_NAMES:
            raise EngineError(f"{where}.name must be one of {', '.join(BAND_NAMES)} (got {name!r})")
        if name in by_name:
            raise EngineError(f"band {name} appears more than once")
        by_name[name] = (
            _band_bound(band["lower"], f"band {name} lower"),
            _band_bound(band["upper"], f"band {name} upper"),
            _band_allocation(band["allocation"], f"band {name} allocation"),
        )

    lowest, highest = BAND_NAMES[0], BAND_NAMES[-1]
    if by_name[lowest][0] is not None:
        raise EngineError(f"band {lowest} must be unbounded below (lower: null) to cover the line")
    if by_name[highest][1] is not None:
        raise EngineError(f"band {highest} must be unbounded above (upper: null) to cover the line")
    thresholds = []
    for below, above in itertools.pairwise(BAND_NAMES):
        end, start = by_name[below][1], by_name[above][0]
        if end is None or start is None:
            raise EngineError(
                f"bands {below} and {above} must meet at a finite edge value "
                f"(got {end} and {start})"
            )
        if end != start:
            raise EngineError(
                f"band {below} ends at {end} but {above} starts at {start}: "
                "bands must meet without gap or overlap"
            )
        thresholds.append(end)
    if any(low >= high for low, high in itertools.pairwise(thresholds)):
        raise EngineError(
            "band ranges must ascend B_HEAVY < B_LIGHT < EQUAL < A_LIGHT < A_HEAVY, each non-empty "
            f"(boundaries {thresholds})"
        )
    threshold_array = np.array(thresholds, dtype=float)
    allocation_array = np.array([by_name[name][2] for name in BAND_NAMES], dtype=float)
    threshold_array.flags.writeable = False
    allocation_array.flags.writeable = False
    return BandTable(threshold_array, allocation_array)


def _validated_price_series(values: Sequence[float], name: str) -> np.ndarray:
    try:
        prices = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"{name} must be a list of numbers") from exc
    if prices.ndim != 1:
        raise EngineError(f"{name} must be a flat list of numbers")
    if prices.size == 0:
        raise EngineError(f"{name} is empty: send at least one price")
    not_finite = np.flatnonzero(~np.isfinite(prices))
    if not_finite.size:
        index = int(not_finite[0])
        raise EngineError(f"{name}[{index}] is {prices[index]}: prices must be finite numbers")
    not_positive = np.flatnonzero(prices <= 0)
    if not_positive.size:
        index = int(not_positive[0])
        raise EngineError(f"{name}[{index}] is {prices[index]:g}: prices must be greater than 0")
    return prices


def validate_prices(
    prices_a: Sequence[float], prices_b: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Two non-empty, equally long series of finite positive prices as float arrays."""
    a = _validated_price_series(prices_a, "prices_a")
    b = _validated_price_series(prices_b, "prices_b")
    if a.size != b.size:
        raise EngineError(
            f"prices_a and prices_b must have the same length (got {a.size} and {b.size})"
        )
    return a, b


def validate_lookback(lookback: int | None) -> int | None:
    """``None`` (all prices) or an integer from 1 to MAX_LOOKBACK."""
    if lookback is None:
        return None
    if not isinstance(lookback, numbers.Integral) or isinstance(lookback, bool):
        raise EngineError(f"lookback must be an integer >= 1 or null (got {lookback!r})")
    if lookback < 1:
        raise EngineError(f"lookback must be at least 1 (got {lookback})")
    if lookback > MAX_LOOKBACK:
        raise EngineError(f"lookback must be at most {MAX_LOOKBACK:,} (null uses all prices)")
    return int(lookback)


def validate_price_kind(price_kind: str) -> str:
    """``"cost"`` (lower price is better) or ``"value"`` (higher price is better)."""
    if price_kind not in PRICE_KINDS:
        raise EngineError(f"price_kind must be 'cost' or 'value' (got {price_kind!r})")
    return price_kind


def edge_sign(price_kind: str) -> float:
    """-1 for costs (the cheaper channel is the stronger), 1 for values."""
    return -1.0 if price_kind == "cost" else 1.0


def _band_index(edge: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Band index per edge value; ties go to the band nearer EQUAL (index 2).

    ``edge`` has shape (..., T) and ``thresholds`` (..., 4); leading axes broadcast.
    """
    edge_col = np.asarray(edge)[..., :, None]
    thr = np.asarray(thresholds)[..., None, :]
    below_equal = (edge_col >= thr[..., :2]).sum(axis=-1)
    above_equal = (edge_col > thr[..., 2:]).sum(axis=-1)
    return below_equal + above_equal


def relative_price_strength(prices_a: Sequence[float], prices_b: Sequence[float]) -> np.ndarray:
    """Per-step ``ln(price_a / price_b)``."""
    a, b = validate_prices(prices_a, prices_b)
    return np.log(a) - np.log(b)


def rolling_rps(
    prices_a: Sequence[float], prices_b: Sequence[float], lookback: int | None = None
) -> np.ndarray:
    """Mean RPS of the window ending at each step, using only prices up to that step.

    Early steps average over what is available; ``lookback=None`` averages all prices so far.
    """
    log_ratio = relative_price_strength(prices_a, prices_b)
    return _rolling_mean(log_ratio, validate_lookback(lookback))


def _rolling_mean(values: np.ndarray, lookback: int | None) -> np.ndarray:
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    ends = np.arange(1, values.size + 1)
    starts = ends - (values.size if lookback is None else lookback)
    starts = np.maximum(starts, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def rps_allocation(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    lookback: int | None = None,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
) -> dict:
    """Budget split between A and B from the mean RPS of the last ``lookback`` prices.

    Returns ``{"allocation": [a, b], "rps": mean ln(price_a / price_b), "band": name}``; raises
    ``EngineError`` on bad input. A lookback longer than the series uses all prices.
    """
    a, b = validate_prices(prices_a, prices_b)
    window = validate_lookback(lookback)
    kind = validate_price_kind(price_kind)
    table = validate_bands(bands)
    log_ratio = np.log(a) - np.log(b)
    mean_rps = float(np.mean(log_ratio if window is None else log_ratio[-window:]))
    band = int(_band_index(np.array([edge_sign(kind) * mean_rps]), table.thresholds)[0])
    return {
        "allocation": table.allocations[band].tolist(),
        "rps": mean_rps,
        "band": BAND_NAMES[band],
    }


def simulate_price_streams(
    steps: int = DEFAULT_SIMULATION_STEPS,
    *,
    start_a: float = 1.0,
    start_b: float = 1.0,
    drift_a: float = -0.01,
    drift_b: float = 0.01,
    volatility_a: float = 0.05,
    volatility_b: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two drifting geometric random walks starting at ``start_a``/``start_b``.

    Each step multiplies a price by ``exp(drift + volatility * N(0, 1))``; by default A's price
    drifts down and B's up, so for cost prices A becomes the better buy over time.
    """
    if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 1:
        raise EngineError(f"steps must be an integer >= 1 (got {steps!r})")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise EngineError(f"seed must be a non-negative integer (got {seed!r})")
    for name, value in (("start_a", start_a), ("start_b", start_b)):
        if not _is_real(value) or not math.isfinite(value) or value <= 0:
            raise EngineError(f"{name} must be a finite number greater than 0 (got {value!r})")
    for name, value in (("drift_a", drift_a), ("drift_b", drift_b)):
        if not _is_real(value) or not math.isfinite(value):
            raise EngineError(f"{name} must be a finite number (got {value!r})")
    for name, value in (("volatility_a", volatility_a), ("volatility_b", volatility_b)):
        if not _is_real(value) or not math.isfinite(value) or value < 0:
            raise EngineError(f"{name} must be a finite number >= 0 (got {value!r})")
    rng = np.random.default_rng(int(seed))
    shocks = rng.standard_normal((2, int(steps) - 1))
    drift = np.array([[drift_a], [drift_b]], dtype=float)
    volatility = np.array([[volatility_a], [volatility_b]], dtype=float)
    log_paths = np.cumsum(drift + volatility * shocks, axis=1)
    log_start = np.log(np.array([[start_a], [start_b]], dtype=float))
    with np.errstate(over="ignore", under="ignore"):
        prices = np.exp(log_start + np.concatenate((np.zeros((2, 1)), log_paths), axis=1))
    if not (np.isfinite(prices).all() and (prices > 0).all()):
        raise EngineError(
            "simulated prices left the floating-point range: use fewer steps or a smaller "
            "drift or volatility"
        )
    return prices[0], prices[1]


def _validate_budget(budget: float) -> float:
    if not _is_real(budget) or not math.isfinite(budget) or budget <= 0:
        raise EngineError(f"budget must be a finite number greater than 0 (got {budget!r})")
    return float(budget)


def _yields(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """What one unit of spend returns per channel and step, shape (2, T).

    Cost prices buy ``1 / price`` units (clicks, conversions); value prices return ``price``.
    """
    prices = np.stack((a, b))
    with np.errstate(over="ignore"):
        return 1.0 / prices if kind == "cost" else prices


def _flat_results(yields: np.ndarray, budget: float) -> np.ndarray:
    """Per-step results of the 50/50 split, refusing totals floating point cannot hold.

    No split returns more than twice the flat split in a step, so a finite doubled flat total
    keeps every strategy total finite too.
    """
    with np.errstate(over="ignore"):
        flat = budget * (_FLAT_SPLIT @ yields)
        total = float(flat.sum())
    if not (math.isfinite(2.0 * total) and total > 0):
        raise EngineError("budget and prices give results beyond floating-point range: rescale")
    return flat


def _applied_allocations(decided: np.ndarray) -> np.ndarray:
    """Shift decisions one step forward: the split decided at t is spent at t+1; t=0 is 50/50."""
    return np.concatenate((_FLAT_SPLIT[None, :], decided[:-1]), axis=0)


def _strategy_results(
    yields: np.ndarray, budget: float, allocations: np.ndarray, band_index: np.ndarray
) -> np.ndarray:
    """Per-step results when the band decided at t sets the split at t+1 (t=0 is 50/50).

    ``band_index`` has shape (..., T); one result table per band avoids materialising a split
    for every setting and step.
    """
    per_band = budget * (allocations @ yields)
    flat_first = budget * (_FLAT_SPLIT @ yields[:, 0])
    later = per_band[band_index[..., :-1], np.arange(1, yields.shape[1])]
    first = np.full((*band_index.shape[:-1], 1), flat_first)
    return np.concatenate((first, later), axis=-1)


def _comparison(flat_total: float, rps_total: float) -> dict:
    return {
        "flat": flat_total,
        "rps": rps_total,
        "difference": rps_total - flat_total,
        "relative_difference": (rps_total - flat_total) / flat_total,
    }


def _validated_backtest_inputs(
    prices_a: Sequence[float], prices_b: Sequence[float], budget: float
) -> tuple[np.ndarray, np.ndarray, float]:
    a, b = validate_prices(prices_a, prices_b)
    if a.size < 2:
        raise EngineError(f"a backtest needs at least 2 prices per channel (got {a.size})")
    return a, b, _validate_budget(budget)


def backtest(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    budget: float = 100.0,
    lookback: int | None = None,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
) -> dict:
    """Compare a flat 50/50 split with the RPS strategy over the given price history.

    ``bands[t]`` and ``rps[t]`` come from prices up to t and set ``allocations[t + 1]`` (no
    look-ahead; step 0 is spent 50/50). ``budget`` is spent every step; each step's result is
    ``spend / price`` summed over channels for cost prices and ``spend * price`` for values.
    """
    a, b, budget = _validated_backtest_inputs(prices_a, prices_b, budget)
    window = validate_lookback(lookback)
    kind = validate_price_kind(price_kind)
    table = validate_bands(bands)
    mean_rps = _rolling_mean(np.log(a) - np.log(b), window)
    band_index = _band_index(edge_sign(kind) * mean_rps, table.thresholds)
    yields = _yields(a, b, kind)
    flat = _flat_results(yields, budget)
    strategy = _strategy_results(yields, budget, table.allocations, band_index)
    return {
        "steps": int(a.size),
        "rps": mean_rps.tolist(),
        "bands": [BAND_NAMES[i] for i in band_index],
        "allocations": _applied_allocations(table.allocations[band_index]).tolist(),
        "next_allocation": table.allocations[band_index[-1]].tolist(),
        "flat_results": flat.tolist(),
        "rps_results": strategy.tolist(),
        "totals": _comparison(float(flat.sum()), float(strategy.sum())),
    }


def _validated_grid(
    lookbacks: Sequence[int],
    equal_thresholds: Sequence[float],
    heavy_thresholds: Sequence[float],
    train_steps: int,
) -> tuple[list[int], np.ndarray]:
    if not lookbacks:
        raise EngineError("grid lookbacks must not be empty")
    checked = [validate_lookback(lookback) for lookback in lookbacks]
    usable = sorted({lookback for lookback in checked if lookback <= train_steps})
    if not usable:
        raise EngineError(
            f"every grid lookback exceeds the {train_steps} training steps before the held-out tail"
        )
    for name, values in (("equal", equal_thresholds), ("heavy", heavy_thresholds)):
        if not values:
            raise EngineError(f"grid {name} thresholds must not be empty")
        if not all(_is_real(v) and math.isfinite(v) and v > 0 for v in values):
            raise EngineError(f"grid {name} thresholds must be finite numbers > 0 (got {values})")
    pairs = [(e, h) for e in sorted(set(equal_thresholds)) for h in sorted(set(heavy_thresholds))]
    pairs = [(e, h) for e, h in pairs if e < h]
    if not pairs:
        raise EngineError("the grid needs at least one equal threshold below a heavy threshold")
    return usable, np.array(pairs, dtype=float)


def grid_search(
    prices_a: Sequence[float],
    prices_b: Sequence[float],
    budget: float = 100.0,
    price_kind: str = "cost",
    bands: Sequence[Mapping] | None = None,
    lookback: int | None = None,
    lookbacks: Sequence[int] = DEFAULT_GRID_LOOKBACKS,
    equal_thresholds: Sequence[float] = DEFAULT_GRID_EQUAL_THRESHOLDS,
    heavy_thresholds: Sequence[float] = DEFAULT_GRID_HEAVY_THRESHOLDS,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
) -> dict:
    """Tune lookback and symmetric band thresholds on the history, judge them on a held-out tail.

    The last ``holdout_fraction`` of the steps is kept out of the search; every setting is scored
    by its gain over 50/50 on the earlier steps, and the best (first on ties) is then run on the
    tail. Tail decisions may use earlier prices, never later ones. The allocations of ``bands``
    are kept; ``lookback`` and ``bands`` also give the untuned baseline on the same tail.
    """
    a, b, budget = _validated_backtest_inputs(prices_a, prices_b, budget)
    if a.size < MIN_GRID_STEPS:
        raise EngineError(
            f"the grid search needs at least {MIN_GRID_STEPS} prices per channel, 2 to score "
            f"settings on and 1 to judge them on (got {a.size})"
        )
    kind = validate_price_kind(price_kind)
    table = validate_bands(bands)
    window = validate_lookback(lookback)
    if not _is_real(holdout_fraction) or not 0 < holdout_fraction < 1:
        raise EngineError(
            f"holdout_fraction must lie strictly between 0 and 1 (got {holdout_fraction!r})"
        )
    tail_steps = max(1, round(a.size * holdout_fraction))
    train_steps = a.size - tail_steps
    if train_steps < 2:
        raise EngineError(
            f"{a.size} steps leave {train_steps} for the search before a {tail_steps}-step tail; "
            "send a longer history or a smaller holdout_fraction"
        )
    usable_lookbacks, pairs = _validated_grid(
        lookbacks, equal_thresholds, heavy_thresholds, train_steps
    )
    grid_thresholds = np.column_stack((-pairs[:, 1], -pairs[:, 0], pairs[:, 0], pairs[:, 1]))
    log_ratio = np.log(a) - np.log(b)
    sign = edge_sign(kind)
    yields = _yields(a, b, kind)
    flat = _flat_results(yields, budget)

    train_totals = np.empty((len(usable_lookbacks), len(pairs)))
    tail_totals = np.empty_like(train_totals)
    for row, grid_lookback in enumerate(usable_lookbacks):
        edge = sign * _rolling_mean(log_ratio, grid_lookback)
        band_index = _band_index(edge[None, :], grid_thresholds)
        results = _strategy_results(yields, budget, table.allocations, band_index)
        train_totals[row] = results[:, :train_steps].sum(axis=-1)
        tail_totals[row] = results[:, train_steps:].sum(axis=-1)
    best_lookback_at, best_pair_at = np.unravel_index(np.argmax(train_totals), train_totals.shape)
    equal_threshold, heavy_threshold = pairs[best_pair_at].tolist()
    best_tail = float(tail_totals[best_lookback_at, best_pair_at])

    baseline_index = _band_index(sign * _rolling_mean(log_ratio, window), table.thresholds)
    baseline = _strategy_results(yields, budget, table.allocations, baseline_index)
    flat_train, flat_tail = float(flat[:train_steps].sum()), float(flat[train_steps:].sum())
    return {
        "train_steps": int(train_steps),
        "holdout_steps": int(tail_steps),
        "settings_evaluated": int(train_totals.size),
        "best": {
            "lookback": int(usable_lookbacks[best_lookback_at]),
            "equal_threshold": equal_threshold,
            "heavy_threshold": heavy_threshold,
            "bands": symmetric_bands(
                equal_threshold,
                heavy_threshold,
                dict(zip(BAND_NAMES, table.allocations.tolist(), strict=True)),
            ),
        },
        "in_sample": _comparison(flat_train, float(train_totals[best_lookback_at, best_pair_at])),
        "out_of_sample": _comparison(flat_tail, best_tail),
        "baseline_out_of_sample": _comparison(flat_tail, float(baseline[train_steps:].sum())),
    }
