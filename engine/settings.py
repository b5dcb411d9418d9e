"""Run settings and timestep observations, validated once so policies only ever see clean numbers.

Settings are checked for feasibility at creation (floors above 1, minimum budgets above the
timestep budget, ...) rather than discovered halfway through a run.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Mapping, Sequence

from engine.errors import EngineError

# The one definition of what a campaign reports per timestep, and of the metric each
# objective values (profit is revenue less spend): the engine, the API and insights use these.
OBJECTIVES: tuple[str, ...] = ("revenue", "conversions", "profit")
METRICS: tuple[str, ...] = ("spend", "impressions", "clicks", "conversions", "revenue")
VALUE_METRIC: dict[str, str] = {
    "revenue": "revenue",
    "profit": "revenue",
    "conversions": "conversions",
}
DEFAULT_SETTINGS: dict = {
    "step": 0.1,
    "floor": 0.0,
    "objective": "revenue",
    "seed": 0,
    "min_budget": None,
    "max_budget": None,
}
_SETTING_KEYS = frozenset({"budget", "timesteps", *DEFAULT_SETTINGS})
_FEASIBILITY_TOLERANCE = 1e-9
# The largest amount (budget, bound, observed value) the engine takes: squares and sums over
# a run of such amounts stay finite. Oktopus's API takes at most 1e12.
MAX_AMOUNT = 1e150
# The smallest positive float with full precision: below it values are subnormal, and ratios
# or logarithms of them overflow or lose their meaning.
SMALLEST_NORMAL = sys.float_info.min
# Integers are stored in JSON state documents, whose readers keep 64-bit integers.
_MAX_INTEGER = 2**63 - 1


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise EngineError(f"{name} must be a number (got {value!r})")
    try:
        value = float(value)
    except OverflowError as exc:
        raise EngineError(f"{name} is too large") from exc
    if not math.isfinite(value):
        raise EngineError(f"{name} must be finite (got {value!r})")
    return value


def _amount(name: str, value: object) -> float:
    number = _real(name, value)
    if number < 0:
        raise EngineError(f"{name} must be >= 0 (got {number:g})")
    if number > MAX_AMOUNT:
        raise EngineError(f"{name} must be at most {MAX_AMOUNT:g} (got {number:g})")
    return number


def _integer(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise EngineError(f"{name} must be an integer (got {value!r})")
    if value < low:
        raise EngineError(f"{name} must be at least {low} (got {value})")
    if value > _MAX_INTEGER:
        raise EngineError(f"{name} must be below 2**63")
    return int(value)


def _amounts(name: str, values: object, n_campaigns: int) -> list[float | None]:
    """Per-campaign amounts (None = no bound); a missing list means no bound anywhere."""
    if values is None:
        return [None] * n_campaigns
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise EngineError(f"{name} must be a list of {n_campaigns} numbers or nulls")
    if len(values) != n_campaigns:
        raise EngineError(f"{name} must have {n_campaigns} entries (got {len(values)})")
    return _non_negative_or_none(name, values)


def _non_negative_or_none(name: str, values: Sequence) -> list[float | None]:
    """Each value as a float from 0 to MAX_AMOUNT, or None; EngineError naming `name[index]`
    otherwise."""
    return [None if x is None else _amount(f"{name}[{i}]", x) for i, x in enumerate(values)]


def validate_settings(settings: Mapping, n_campaigns: int) -> dict:
    """Settings with defaults filled in, as plain JSON values; EngineError if infeasible."""
    n_campaigns = _integer("the number of campaigns", n_campaigns, 2)
    if not isinstance(settings, Mapping):
        raise EngineError("settings must be an object")
    unknown = sorted(set(settings) - _SETTING_KEYS, key=str)
    if unknown:
        raise EngineError(f"unknown setting(s) {unknown} (allowed: {sorted(_SETTING_KEYS)})")
    for required in ("budget", "timesteps"):
        if required not in settings:
            raise EngineError(f"setting {required!r} is required")
    merged = {**DEFAULT_SETTINGS, **settings}

    budget = _real("budget", merged["budget"])
    if budget <= 0:
        raise EngineError(f"budget must be greater than 0 (got {budget:g})")
    budget = _amount("budget", budget)
    timesteps = _integer("timesteps", merged["timesteps"], 1)
    if budget / timesteps < SMALLEST_NORMAL:
        raise EngineError(f"budget {budget:g} is too small to split over {timesteps} timesteps")
    step = _real("step", merged["step"])
    if not 0 < step <= 1:
        raise EngineError(f"step must be in (0, 1] share points (got {step:g})")
    floor = _real("floor", merged["floor"])
    if floor < 0:
        raise EngineError(f"floor must be >= 0 (got {floor:g})")
    if floor * n_campaigns > 1 + _FEASIBILITY_TOLERANCE:
        raise EngineError(
            f"floor {floor:g} x {n_campaigns} campaigns = {floor * n_campaigns:g} exceeds 1: "
            "the floors cannot all be met"
        )
    objective = merged["objective"]
    if objective not in OBJECTIVES:
        raise EngineError(f"objective must be one of {list(OBJECTIVES)} (got {objective!r})")
    seed = _integer("seed", merged["seed"], 0)
    min_budget = _amounts("min_budget", merged["min_budget"], n_campaigns)
    max_budget = _amounts("max_budget", merged["max_budget"], n_campaigns)
    _check_bounds(budget / timesteps, floor, min_budget, max_budget, "budget / timesteps")
    return {
        "budget": budget,
        "timesteps": timesteps,
        "step": step,
        "floor": floor,
        "objective": objective,
        "seed": seed,
        "min_budget": min_budget,
        "max_budget": max_budget,
    }


def _check_bounds(
    timestep_budget: float,
    floor: float,
    min_budget: list[float | None],
    max_budget: list[float | None],
    source: str,
    spendable: bool = True,
) -> None:
    """Reject bounds that make a timestep budget (`source` says which) impossible to allocate;
    `spendable` also rejects maximum budgets that could not spend it all."""
    slack = _FEASIBILITY_TOLERANCE * timestep_budget
    lows = [max(floor * timestep_budget, low or 0.0) for low in min_budget]
    for index, (low, high) in enumerate(zip(min_budget, max_budget, strict=True)):
        if low is not None and high is not None and low > high:
            raise EngineError(f"min_budget[{index}] {low:g} exceeds max_budget[{index}] {high:g}")
        if high is not None and lows[index] > high + slack:
            raise EngineError(
                f"floor {floor:g} of the timestep budget {timestep_budget:g} exceeds "
                f"max_budget[{index}] {high:g}"
            )
    if sum(lows) > timestep_budget + slack:
        raise EngineError(
            f"minimum budgets and floors sum to {sum(lows):g}, above the timestep budget "
            f"{timestep_budget:g} ({source})"
        )
    if (
        spendable
        and all(high is not None for high in max_budget)
        and sum(max_budget) < timestep_budget - slack
    ):
        raise EngineError(
            f"max_budget sums to {sum(max_budget):g}, below the timestep budget "
            f"{timestep_budget:g} ({source}): the budget could not be spent"
        )


def validate_progress(
    t: object, spent: object, remaining: object, settings: Mapping
) -> tuple[int, float, float]:
    """A stored state's counters (timestep index, money spent and left), checked, so a state
    edited by hand fails with EngineError rather than deep inside a step."""
    t = _integer("state t", t, 0)
    if t > settings["timesteps"]:
        raise EngineError(f"state t {t} is past the run's {settings['timesteps']} timesteps")
    spent = _real("state spent", spent)
    remaining = _real("state remaining", remaining)
    if spent < 0 or not 0 <= remaining <= settings["budget"]:
        raise EngineError("state spent must be >= 0 and remaining within the budget")
    return t, spent, remaining


def check_current_bounds(settings: Mapping, timestep_budget: float) -> None:
    """Validated settings' per-campaign bounds against a running state's current timestep
    budget (remaining / timesteps left), which over- or under-spend has moved away from
    budget / timesteps. Minimums it cannot meet are rejected; maximums that cannot spend it
    all are not, since what they leave unspent is re-planned over the timesteps left."""
    _check_bounds(
        timestep_budget,
        settings["floor"],
        settings["min_budget"],
        settings["max_budget"],
        "remaining / timesteps left",
        spendable=False,
    )


def validate_active(active: object, n_campaigns: int) -> list[bool]:
    """The active mask as K plain bools; None means every campaign is active."""
    if active is None:
        return [True] * n_campaigns
    if isinstance(active, str | bytes) or not isinstance(active, Sequence):
        raise EngineError(f"active must be a list of {n_campaigns} booleans")
    if len(active) != n_campaigns:
        raise EngineError(f"active must have {n_campaigns} entries (got {len(active)})")
    if not all(isinstance(flag, bool) for flag in active):
        raise EngineError("active must contain only true/false")
    return list(active)


def _observed_row(metric: str, values: Sequence) -> list[float | None]:
    """One metric's K values as floats or None.

    Rows of plain finite non-negative floats and None (what the API and the cron send) pass
    in one Python pass: for K of a few tens that is several times faster than an array
    check, and this runs for every metric of every decision step.
    """
    if all(x is None or (type(x) is float and 0.0 <= x <= MAX_AMOUNT) for x in values):
        return list(values)
    return _non_negative_or_none(f"observations[{metric!r}]", values)


def validate_observations(observations: object, n_campaigns: int) -> dict[str, list]:
    """Every metric as K floats or None (unobserved); `spend` is required, negatives rejected."""
    if not isinstance(observations, Mapping):
        raise EngineError("observations must be an object of metric -> list")
    unknown = sorted(set(observations) - set(METRICS), key=str)
    if unknown:
        raise EngineError(f"unknown metric(s) {unknown} (allowed: {list(METRICS)})")
    if "spend" not in observations:
        raise EngineError("observations must include 'spend'")
    clean: dict[str, list] = {}
    for metric in METRICS:
        values = observations.get(metric)
        if values is None:
            clean[metric] = [None] * n_campaigns
            continue
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise EngineError(f"observations[{metric!r}] must be a list of numbers or nulls")
        if len(values) != n_campaigns:
            raise EngineError(
                f"observations[{metric!r}] must have {n_campaigns} entries (got {len(values)})"
            )
        clean[metric] = _observed_row(metric, values)
    return clean
