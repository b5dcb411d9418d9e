"""The five RPS bands: their names and defaults, and the check that a band table is sound.

Bands sit on A's edge axis (a positive edge favours A) and carry the budget split between A
and B. A table is validated once into ascending thresholds and allocation rows, which the
allocator and its backtests look edges up in.
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

_BAND_KEYS = frozenset({"name", "lower", "upper", "allocation"})
_SHARE_TOLERANCE = 1e-9


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


def is_real_number(value: object) -> bool:
    """A real number that is not a bool (True would otherwise pass as 1)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _band_bound(value: object, where: str) -> float | None:
    if value is None:
        return None
    if not is_real_number(value) or not math.isfinite(value):
        raise EngineError(f"{where} must be a finite number or null (got {value!r})")
    return float(value)


def _band_allocation(value: object, where: str) -> tuple[float, float]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise EngineError(f"{where} must be a pair [share_a, share_b] (got {value!r})")
    if len(value) != 2 or not all(is_real_number(share) for share in value):
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


def band_indices(edge: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Band index per edge value; ties go to the band nearer EQUAL (index 2).

    ``edge`` has shape (..., T) and ``thresholds`` (..., 4); leading axes broadcast.
    """
    edge_col = np.asarray(edge)[..., :, None]
    thr = np.asarray(thresholds)[..., None, :]
    below_equal = (edge_col >= thr[..., :2]).sum(axis=-1)
    above_equal = (edge_col > thr[..., 2:]).sum(axis=-1)
    return below_equal + above_equal
