"""The family of response curves `curve` believes in, shared by its posterior and its decisions.

Negative exponentials and their S-shaped blends, y = a * c * (1 - w * (1 - c)) with
c = 1 - exp(-x / s): the curves engine.negexp_allocator.allocate_negexp_blend allocates on
exactly (alpha * unit_curve(x, 1 / mu, w)).
"""

from __future__ import annotations

import numpy as np


def unit_curve(spend: np.ndarray, scale: np.ndarray, blend: np.ndarray) -> np.ndarray:
    """c * (1 - w * (1 - c)) with c = 1 - exp(-spend / scale): negexp at w = 0, S-shaped above 1/3.

    The family engine.negexp_allocator.allocate_negexp_blend allocates on; arguments broadcast.
    """
    concave = -np.expm1(-spend / scale)
    return concave * (1.0 - blend * (1.0 - concave))
