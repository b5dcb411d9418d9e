"""Money in answers: amounts to the cent, a timestep's budgets never adding up to more than
its budget, and budgets at a bound (given to the cent) still at it."""

from __future__ import annotations

import math
from collections.abc import Mapping

# Products like 0.29 * 100 = 28.999999999999996 are read as the cents they mean.
_DIGITS = 6


def _in_cents(amount: float) -> float:
    return round(amount * 100, _DIGITS)


def cents(amount: float) -> float:
    """`amount` rounded to the nearest cent."""
    return round(amount, 2)


def cents_down(amount: float) -> float:
    """`amount` rounded down to the cent."""
    return math.floor(_in_cents(amount)) / 100


def budgets_in_cents(budgets: Mapping[str, float], total: float) -> dict[str, float]:
    """Each budget rounded down or up to the cent, adding up to no more than `total` rounded
    down: every budget is rounded down, then the cents still left of `total` go one each to
    the budgets with the largest fractions of a cent. A budget is only ever moved to a
    neighbouring cent, so a bound it met that is a whole number of cents still holds."""
    exact = {key: _in_cents(value) for key, value in budgets.items()}
    floors = {key: math.floor(value) for key, value in exact.items()}
    left = math.floor(_in_cents(total)) - sum(floors.values())
    fractions = sorted(
        (key for key, value in exact.items() if value > floors[key]),
        key=lambda key: floors[key] - exact[key],
    )
    for key in fractions[: max(left, 0)]:
        floors[key] += 1
    return {key: value / 100 for key, value in floors.items()}
