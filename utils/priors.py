"""Warm starts: a new `curve` run's prior from a stored curve fit of its client.

The fit's ensemble curves (`POST /api/optimize/fit`) are matched to the run's campaigns by
name, then by `external_id`, scaled from the fit's period (a day for long data, a month for
the wide monthly layout) to the run's timestep, and handed to engine.warm, which maps them to
the policy's own curves. Campaigns the fit does not know keep the default prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import Policy
from engine.ensemble import curves_from_fit
from engine.warm import DEFAULT_STRENGTH, PRIOR_SPENDS, known_values, warm_init
from models.states import StateCreate
from utils.crud import fits
from utils.db import Store

# A fit's rows are days (long layout) or months (the wide monthly layout).
_FIT_PERIOD_HOURS = {"long": 24.0, "wide": 24.0 * 365.25 / 12}


class PriorError(ValueError):
    """The prior cannot start this run: 422."""


class PriorNotFound(LookupError):
    """The prior names a fit this client does not have: 404."""


def initial_engine(
    store: Store,
    client_id: str,
    body: StateCreate,
    campaigns: list[dict[str, Any]],
    policy: Policy,
    settings: dict[str, Any],
    active: list[bool],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A new state's engine, started from `body.prior` when given, and what the prior was."""
    if body.prior is None:
        if body.prior_strength is not None:
            raise PriorError("prior_strength needs a prior")
        return policy.init(len(campaigns), settings, active), None
    if policy.name != "curve":
        raise PriorError(f"A prior is for the curve policy only, not {policy.name!r}")
    fit = fits.get_owned(store, {"client_id": client_id}, body.prior.fit_id)
    if fit is None:
        raise PriorNotFound("Fit not found")
    names, curves = curves_from_fit(fit["fit"], "ensemble")
    match: list[int | None] = []
    matched: dict[str, str] = {}
    for campaign in campaigns:
        index = next(
            (
                names.index(key)
                for key in (campaign.get("name"), campaign.get("external_id"))
                if key is not None and key in names
            ),
            None,
        )
        match.append(index)
        if index is not None:
            matched[campaign["_id"]] = names[index]
    if not matched:
        raise PriorError(
            f"Fit {body.prior.fit_id} knows none of the run's campaigns (matched by name, then "
            f"external_id; it has {', '.join(names)})"
        )
    period = body.timestep_hours / _FIT_PERIOD_HOURS.get(fit["fit"].get("layout"), 24.0)
    unit = settings["budget"] / settings["timesteps"] / len(campaigns)
    spends = np.array(PRIOR_SPENDS)[:, None] * np.full(len(campaigns), unit)
    values = known_values(curves, match, spends, period)
    strength = DEFAULT_STRENGTH if body.prior_strength is None else body.prior_strength
    engine = warm_init(policy, len(campaigns), settings, active, values, strength)
    return engine, {"fit_id": body.prior.fit_id, "strength": strength, "matched": matched}
