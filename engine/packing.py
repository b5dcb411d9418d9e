"""Float arrays in the engine state as base64 text of their little-endian float64 bytes.

A policy's running sums can be thousands of numbers (the curve policy keeps campaigns x grid
points); as text they are exact, a third the size of JSON number lists, and (de)serialized
in microseconds instead of a millisecond per timestep.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from engine.errors import EngineError

_DTYPE = np.dtype("<f8")


def pack(array: np.ndarray) -> str:
    """The array's values as text (shape is the reader's to know)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=_DTYPE).tobytes()).decode("ascii")


def unpack(text: str, shape: tuple[int, ...]) -> np.ndarray:
    """The float64 array of `shape` that `pack` wrote; EngineError if it does not fit."""
    try:
        array = np.frombuffer(binascii.a2b_base64(text, strict_mode=True), dtype=_DTYPE)
        return array.reshape(shape)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"packed array does not hold a {shape} float array") from exc
