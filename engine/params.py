"""Declared, validated policy parameters: a typo, NaN or out-of-range value fails at creation."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import EngineError


@dataclass(frozen=True)
class Number:
    """A real (or integer) parameter with a default and an allowed interval.

    A default of None makes the parameter optional: left out, the policy decides (for example
    learns the value from the data); given, it must be a number in the interval.
    """

    default: float | int | None
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    integer: bool = False

    def check(self, name: str, value: object) -> float | int | None:
        """The value as a plain float/int, or EngineError saying what is wrong with it."""
        if value is None and self.default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise EngineError(f"parameter {name!r} must be a number (got {value!r})")
        try:
            finite = math.isfinite(float(value))
        except OverflowError:  # an integer beyond any float
            raise EngineError(f"parameter {name!r} must be finite (got a huge integer)") from None
        if not finite:
            raise EngineError(f"parameter {name!r} must be finite (got {value!r})")
        if self.integer:
            if float(value) != int(value):
                raise EngineError(f"parameter {name!r} must be an integer (got {value!r})")
            value = int(value)
        else:
            value = float(value)
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or value > self.high:
            left = "(" if self.low_open else "["
            raise EngineError(
                f"parameter {name!r} must be in {left}{self.low:g}, {self.high:g}] (got {value!r})"
            )
        return value


@dataclass(frozen=True)
class Anything:
    """A parameter validated by the library it is handed to (for example RPS bands)."""

    default: object = None

    def check(self, name: str, value: object) -> object:
        """Passed through unchanged: the consuming function raises EngineError on bad values."""
        return value


def validate_params(
    policy: str, specs: Mapping[str, Number | Anything | Choice], params: Mapping | None
) -> dict:
    """Defaults overlaid with the given params; unknown keys and bad values raise EngineError."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise EngineError(f"params of {policy!r} must be an object (got {type(params).__name__})")
    unknown = sorted(set(params) - set(specs), key=str)
    if unknown:
        allowed = ", ".join(sorted(specs)) or "none"
        raise EngineError(f"unknown parameter(s) {unknown} for {policy!r} (allowed: {allowed})")
    resolved = {}
    for name, spec in specs.items():
        value = params.get(name, spec.default)
        resolved[name] = spec.check(name, value)
    return resolved


@dataclass(frozen=True)
class Choice:
    """A parameter naming one of a few options, with a default."""

    default: str
    options: tuple[str, ...]

    def check(self, name: str, value: object) -> str:
        """The option, or EngineError listing the options."""
        if not isinstance(value, str) or value not in self.options:
            raise EngineError(
                f"parameter {name!r} must be one of {', '.join(map(repr, self.options))} "
                f"(got {value!r})"
            )
        return value
