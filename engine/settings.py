"""Run settings and timestep observations, validated once so policies only ever see clean numbers.

Settings are checked for feasibility at creation (floors above 1, minimum budgets above the
timestep budget, ...) rather than discovered halfway through a run.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

from engine.errors import EngineError

OBJECTIVES: tuple[str, ...] = ("revenue", "conversions", "profit")
METRICS: tuple[str, ...] = ("spend", "impressions", "clicks", "conversions", "revenue")
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


def _integer(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise EngineError(f"{name} must be an integer (got {value!r})")
    if value < low:
        raise EngineError(f"{name} must be at least {low} (got {value})")
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
    """Each value as a float >= 0, or None; EngineError naming `name[index]` otherwise."""
    checked: list[float | None] = []
    for index, value in enumerate(values):
        if value is None:
            checked.append(None)
            continue
        number = _real(f"{name}[{index}]", value)
        if number < 0:
            raise EngineError(f"{name}[{index}] must be >= 0 (got {number:g})")
        checked.append(number)
    return checked


def validate_settings(settings: Mapping, n_campaigns: int) -> dict:
    """Settings with defaults filled in, as plain JSON values; EngineError if infeasible."""
    n_campaigns = _integer("the number of campaigns", n_campaigns, 2)
    if not isinstance(settings, Mapping):
        raise EngineError("settings must be an object")
    unknown = sorted(set(settings) - _SETTING_KEYS)
    if unknown:
        raise EngineError(f"unknown setting(s) {unknown} (allowed: {sorted(_SETTING_KEYS)})")
    for required in ("budget", "timesteps"):
        if required not in settings:
            raise EngineError(f"setting {required!r} is required")
    merged = {**DEFAULT_SETTINGS, **settings}

    budget = _real("budget", merged["budget"])
    if budget <= 0:
        raise EngineError(f"budget must be greater than 0 (got {budget:g})")
    timesteps = _integer("timesteps", merged["timesteps"], 1)
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
    _check_bounds(budget / timesteps, floor, min_budget, max_budget)
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
) -> None:
    """Reject bounds that make the first timestep budget impossible to allocate."""
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
            f"{timestep_budget:g} (budget / timesteps)"
        )
    if all(high is not None for high in max_budget) and sum(max_budget) < timestep_budget - slack:
        raise EngineError(
            f"max_budget sums to {sum(max_budget):g}, below the timestep budget "
            f"{timestep_budget:g} (budget / timesteps): the budget could not be spent"
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
    if all(value is None or (type(value) is float and 0.0 <= value < math.inf) for value in values):
        return list(values)
    return _non_negative_or_none(f"observations[{metric!r}]", values)


def validate_observations(observations: object, n_campaigns: int) -> dict[str, list]:
    """Every metric as K floats or None (unobserved); `spend` is required, negatives rejected."""
    if not isinstance(observations, Mapping):
        raise EngineError("observations must be an object of metric -> list")
    unknown = sorted(set(observations) - set(METRICS))
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
