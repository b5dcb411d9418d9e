"""The marketing-mix model's learnt ROI priors: the sampler's algebra, shrinkage, storage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.mmm import MarketingMixModel, load_rows
from engine.mmm.answers import summary
from engine.mmm.hierarchy import LEVELS, LOG_CENTRES, LOG_SPREADS, label_weights
from engine.mmm.sampler import log_target, option_weights
from engine.mmm.synthetic import generate

SMALL = {"draws": 120, "chains": 4, "burn": 8}


def history(seed: int, channels: int, periods: int = 60, noise: float = 0.05):
    data_set = generate(seed, periods=periods, channels=channels, noise=noise)
    return data_set, load_rows(data_set["rows"], controls=["price"])


@pytest.fixture(scope="module")
def tables():
    _, data = history(4, 3)
    model = MarketingMixModel(seed=0, **SMALL).prepare(data)
    return model.tables(data.y[: model.fit_rows] / model.y_scale)


@pytest.mark.parametrize("per_channel", [False, True])
def test_option_weights_match_the_full_posterior_with_a_centred_prior(tables, per_channel):
    """The O(p^2) conditional of a channel's options equals differences of the full log
    posterior when the shared prior has a centre, one per state or one per channel."""
    rng = np.random.default_rng(1)
    options = rng.integers(tables.fy.shape[1], size=(2, 3))
    if per_channel:
        centre = np.array([[0.1, 0.5, 2.0], [0.03, 0.25, 1.0]])
        scale = 0.5 * centre
    else:
        centre, scale = np.array([0.22, 0.75]), np.array([0.33, 0.15])
    fast = option_weights(tables, options, scale, 2, centre)
    for pick in (3, 50, 101):
        moved = options.copy()
        moved[:, 2] = pick
        full = log_target(tables, moved, scale, centre) - log_target(tables, options, scale, centre)
        assert np.allclose(fast[:, pick] - fast[np.arange(2), options[:, 2]], full, atol=1e-6)


def test_a_centre_changes_the_posterior(tables):
    """The centre is not ignored: the same states weigh differently at another centre."""
    options = np.zeros((1, 3), dtype=int) + 40
    scale = np.array([0.2])
    at_zero = log_target(tables, options, scale, np.array([0.0]))
    assert not np.isclose(at_zero, log_target(tables, options, scale, np.array([1.0])))[0]
    assert np.isclose(at_zero, log_target(tables, options, scale))[0]


@settings(max_examples=30, deadline=None)
@given(centre=st.integers(0, LOG_CENTRES.size - 1), spread=st.integers(0, LOG_SPREADS.size - 1))
def test_label_weights_are_a_discretized_log_normal(centre: int, spread: int) -> None:
    """Each (centre, spread) pair gives the ladder's labels probabilities summing to one,
    largest at the level nearest the centre on the log scale, falling away from it."""
    row = label_weights()[centre * LOG_SPREADS.size + spread]
    probability = np.exp(row)
    assert np.isclose(probability.sum(), 1.0)
    distance = np.abs(np.log(LEVELS) - LOG_CENTRES[centre])
    assert probability[np.argmin(distance)] == pytest.approx(probability.max())
    order = np.argsort(distance, kind="stable")
    assert np.all(np.diff(probability[order]) <= 1e-12)


@pytest.mark.parametrize("prior", ["zero", "level", "ratio"])
def test_the_learnt_level_follows_the_channels(prior: str) -> None:
    """The shared prior's centre is learnt from the data: near the channels' ROIs under
    the learnt-level priors (within a factor of three of their median), zero under the
    prior at zero."""
    data_set, data = history(12, 4, periods=80)
    model = MarketingMixModel(seed=0, roi_prior=prior, **SMALL).fit(data)
    unit = model.y_scale * model.fit_rows / data.spend[: model.fit_rows].sum()
    level = np.median(model.prior_centre) * unit
    truth = np.median([channel["roi"] for channel in data_set["truth"]["channels"]])
    if prior == "zero":
        assert level == 0
    else:
        assert 1 / 3 < level / truth < 3


@pytest.mark.parametrize("prior", ["level", "ratio"])
def test_user_roi_priors_take_precedence(prior: str) -> None:
    _, data = history(5, 2, noise=0.2)
    told = [{"channel": "tv", "roi_mean": 6.0, "roi_sd": 0.2}]
    model = MarketingMixModel(seed=0, roi_prior=prior, priors=told, **SMALL).fit(data)
    roi = summary(model)["channels"][0]["roi"]
    assert abs(roi["mean"] - 6.0) < 0.5
    assert roi["high"] - roi["low"] < 1.0


def test_learnt_priors_round_trip_and_old_models_still_load() -> None:
    _, data = history(2, 2)
    model = MarketingMixModel(seed=0, roi_prior="ratio", **SMALL).fit(data)
    stored = json.loads(json.dumps(model.to_dict()))
    assert summary(MarketingMixModel.from_dict(stored)) == summary(model)
    plain = MarketingMixModel(seed=0, **SMALL).fit(data).to_dict()
    del plain["settings"]["roi_prior"], plain["posterior"]["prior_centre"]
    del plain["settings"]["saturation_spread"]
    rebuilt = MarketingMixModel.from_dict(json.loads(json.dumps(plain)))
    assert rebuilt.roi_prior == "zero" and np.all(rebuilt.prior_centre == 0)
    assert rebuilt.saturation_spread is None
    with pytest.raises(EngineError, match="roi_prior must be one of zero, level, ratio"):
        MarketingMixModel(roi_prior="flat")


def test_option_weights_match_the_full_posterior_with_a_saturation_prior() -> None:
    _, data = history(4, 3)
    model = MarketingMixModel(seed=0, saturation_spread=0.6, **SMALL).prepare(data)
    tables = model.tables(data.y[: model.fit_rows] / model.y_scale)
    assert np.ptp(tables.option_prior) > 1.0
    rng = np.random.default_rng(2)
    options = rng.integers(tables.fy.shape[1], size=(2, 3))
    scale = np.array([0.5, 1.1])
    fast = option_weights(tables, options, scale, 0)
    for pick in (0, 60, 130):
        moved = options.copy()
        moved[:, 0] = pick
        full = log_target(tables, moved, scale) - log_target(tables, options, scale)
        assert np.allclose(fast[:, pick] - fast[np.arange(2), options[:, 0]], full, atol=1e-6)


def test_a_saturation_prior_moves_mass_off_the_extreme_saturation_points() -> None:
    _, data = history(19, 3, periods=80, noise=0.15)
    share = {}
    for spread in (None, 0.4):
        model = MarketingMixModel(seed=0, saturation_spread=spread, **SMALL).fit(data)
        k = model.grid.k[model.options]
        share[spread] = np.mean((k == k.min()) | (k == model.grid.k.max()))
    assert share[0.4] < share[None]
    with pytest.raises(EngineError, match="saturation_spread must be > 0"):
        MarketingMixModel(saturation_spread=0.0)
