"""Warm starts: a new `curve` run's prior from a stored curve fit or marketing-mix model of
its client.

The fit's ensemble curves (`POST /api/optimize/fit`), or the model's posterior-mean channel
curves at a steady spend (`POST /api/models`), are matched to the run's campaigns by name,
then by `external_id`, scaled from the fit's period (a day for long data, a month for the
wide monthly layout) or the model's (a day, week or month) to the run's timestep, and handed
to engine.warm, which maps them to the policy's own curves. Campaigns the source does not
know keep the default prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import Policy
from engine.ensemble import curves_from_fit
from engine.mmm import MarketingMixModel
from engine.mmm.allocation import posterior_curves
from engine.warm import DEFAULT_STRENGTH, PRIOR_SPENDS, known_values, warm_init
from models.states import StateCreate
from utils.crud import fits
from utils.crud import models as model_docs
from utils.db import Store

# A fit's rows are days (long layout) or months (the wide monthly layout).
_FIT_PERIOD_HOURS = {"long": 24.0, "wide": 24.0 * 365.25 / 12}
# A marketing-mix model's periods, by the frequency of its data's dates.
_MODEL_PERIOD_HOURS = {"daily": 24.0, "weekly": 24.0 * 7, "monthly": 24.0 * 365.25 / 12}


class PriorError(ValueError):
    """The prior cannot start this run: 422."""


class PriorNotFound(LookupError):
    """The prior names a fit or model this client does not have: 404."""


class PriorNotReady(RuntimeError):
    """The prior names a marketing-mix model still fitting, or whose fit failed: 409."""


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
    if body.prior.model_id is not None:
        names, curves, period_hours = _model_curves(store, client_id, body.prior.model_id)
        source = {"model_id": body.prior.model_id}
    else:
        names, curves, period_hours = _fit_curves(store, client_id, body.prior.fit_id)
        source = {"fit_id": body.prior.fit_id}
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
        what = "Model" if body.prior.model_id is not None else "Fit"
        raise PriorError(
            f"{what} {next(iter(source.values()))} knows none of the run's campaigns (matched "
            f"by name, then external_id; it has {', '.join(names)})"
        )
    period = body.timestep_hours / period_hours
    unit = settings["budget"] / settings["timesteps"] / len(campaigns)
    spends = np.array(PRIOR_SPENDS)[:, None] * np.full(len(campaigns), unit)
    values = known_values(curves, match, spends, period)
    strength = DEFAULT_STRENGTH if body.prior_strength is None else body.prior_strength
    engine = warm_init(policy, len(campaigns), settings, active, values, strength)
    return engine, {**source, "strength": strength, "matched": matched}


def _fit_curves(store: Store, client_id: str, fit_id: str) -> tuple[list[str], Any, float]:
    """A stored fit's ensemble curves by campaign name, and the hours of its period."""
    fit = fits.get_owned(store, {"client_id": client_id}, fit_id)
    if fit is None:
        raise PriorNotFound("Fit not found")
    names, curves = curves_from_fit(fit["fit"], "ensemble")
    return names, curves, _FIT_PERIOD_HOURS.get(fit["fit"].get("layout"), 24.0)


def _model_curves(store: Store, client_id: str, model_id: str) -> tuple[list[str], Any, float]:
    """A ready marketing-mix model's posterior-mean steady-state curves by channel name, and
    the hours of its data's period (a day, a week or a month)."""
    doc = model_docs.get_owned(store, {"client_id": client_id}, model_id, {"status": 1, "model": 1})
    if doc is None:
        raise PriorNotFound("Model not found")
    if doc["status"] != "ready":
        raise PriorNotReady(f"the model is {doc['status']}, not ready")
    model = MarketingMixModel.from_dict(doc["model"])
    hours = _MODEL_PERIOD_HOURS[model.data.frequency]
    return list(model.data.channels), posterior_curves(model), hours
