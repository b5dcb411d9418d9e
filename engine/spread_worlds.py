"""Worlds of few campaigns whose curves spread widely around an equal share.

The kind of advertiser on which `curve` was measured through the REST API, from a generator
kept outside the project: 5 or 12 campaigns of one family (negative exponential,
Michaelis-Menten or Hill), saturation spends log-uniform over a 25-fold range centred on an
equal share (0.2 to 5 equal shares), maximum conversions log-normal with sd 0.8 in log
(independent of the saturation spend), values per conversion log-uniform over a 4-fold range.
Unlike `engine.worlds.make_broad_world`, the number of conversions is set, not drawn: an equal
split of a timestep's budget buys `conversions` in all (the counts decide how noisy every
report is, so the benchmark tries several levels).
"""

from __future__ import annotations

import numpy as np

from engine.errors import EngineError
from engine.worlds import FAMILIES, TIMESTEP_BUDGET, World, check_world, priced_world, saturation

SPREAD = 25.0
"""Ratio of the largest saturation spend a world may draw to the smallest."""
VALUE_RANGE = 4.0
"""Ratio of the largest value per conversion a world may draw to the smallest."""
CONVERSIONS = 400.0
"""Default conversions an equal split buys per timestep, all campaigns together: at this level
`curve` and a policy that knows the curves score about what the outside measurement reported
(0.96 and 0.995 at T = 30); the equal split scores a little lower (0.82 to 0.86 against 0.88)."""


def make_spread_world(
    family: str,
    n_campaigns: int,
    timesteps: int,
    seed: int,
    conversions: float = CONVERSIONS,
) -> World:
    """A stationary world of one family in FAMILIES; equal arguments give equal worlds.

    Hill exponents are uniform from 1.2 to 2.5. Amplitudes are scaled so that an equal split
    buys `conversions` a timestep in expectation.
    """
    check_world(family, n_campaigns, timesteps, seed, 0.0, 0.0, 0.5)
    if not 1.0 <= conversions <= 1e6:
        raise EngineError(f"conversions must be in [1, 1e6] (got {conversions!r})")
    rng = np.random.default_rng([seed, n_campaigns, 4057, FAMILIES.index(family)])
    kind = np.full(n_campaigns, FAMILIES.index(family))
    equal_share = TIMESTEP_BUDGET / n_campaigns
    half_spread = 0.5 * np.log(SPREAD)
    scale = equal_share * np.exp(rng.uniform(-half_spread, half_spread, n_campaigns))
    half_range = 0.5 * np.log(VALUE_RANGE)
    value = 40.0 * np.exp(rng.uniform(-half_range, half_range, n_campaigns))
    most = rng.lognormal(0.0, 0.8, n_campaigns)  # maximum conversions, up to a factor
    shape = rng.uniform(1.2, 2.5, n_campaigns) if family == "hill" else np.ones(n_campaigns)
    # Michaelis-Menten and Hill amplitudes are half their maximum (their value at the scale).
    amplitude = most * (1.0 if family == "negexp" else 0.5)
    at_equal = most * saturation(kind, equal_share / scale, shape)
    amplitude *= conversions / at_equal.sum()
    return priced_world(
        rng,
        0.5,
        family=family,
        amplitude=np.tile(amplitude, (timesteps, 1)),
        scale=scale,
        shape=shape,
        value_per_conversion=value,
        kind=kind,
    )
