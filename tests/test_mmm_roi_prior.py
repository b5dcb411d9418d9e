"""The marketing-mix model's fixed log-normal ROI prior, in KPI per unit of spend."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import lognorm, truncnorm

from engine.errors import EngineError
from engine.mmm import MarketingMixModel, load_rows
from engine.mmm.answers import summary
from engine.mmm.hierarchy import ROI_LEVELS, ROI_SPREAD, lognormal_ladder, rung_targets
from engine.mmm.model import resolve_roi_prior
from engine.mmm.sampler import log_target
from engine.mmm.synthetic import generate

SMALL = {"draws": 120, "chains": 4, "burn": 8}


def ladder_draws(mu: float, sigma: float, size: int = 200_000) -> np.ndarray:
    """ROIs drawn from the ladder's mixture of truncated normals."""
    levels, weights, spread = lognormal_ladder(mu, sigma)
    rng = np.random.default_rng(0)
    label = rng.choice(levels.size, p=np.exp(weights[0]) / np.exp(weights[0]).sum(), size=size)
    centre = levels[label]
    return truncnorm.rvs(-1 / spread, np.inf, loc=centre, scale=spread * centre, random_state=1)


@pytest.mark.parametrize(("mu", "sigma"), [(0.2, 0.9), (1.0, 1.5), (-1.0, 0.5)])
def test_the_ladder_is_the_log_normal(mu: float, sigma: float) -> None:
    """The mixture's log ROI has the asked mean and sd, and its 5th, 50th and 95th
    percentiles are the log-normal's within 5 %."""
    roi = ladder_draws(mu, sigma)
    assert np.log(roi).mean() == pytest.approx(mu, abs=0.02)
    assert np.log(roi).std() == pytest.approx(sigma, abs=0.02)
    expected = lognorm.ppf([0.05, 0.5, 0.95], sigma, scale=np.exp(mu))
    assert np.allclose(np.percentile(roi, [5, 50, 95]), expected, rtol=0.05)


def test_a_ladder_narrower_than_one_rung_or_off_the_ladder_is_refused() -> None:
    with pytest.raises(EngineError, match="roi_mu, roi_sigma"):
        MarketingMixModel(roi_prior="lognormal", roi_sigma=0.3)
    with pytest.raises(EngineError, match="roi_mu, roi_sigma"):
        MarketingMixModel(roi_prior="lognormal", roi_mu=float("nan"))
    with pytest.raises(EngineError, match="inside ROIs of 1/128 to 128"):
        MarketingMixModel(roi_prior="lognormal", roi_mu=4.0, roi_sigma=1.0)


def test_rung_targets_equal_the_full_posterior_on_every_rung() -> None:
    """The rank-one update the sampler draws rungs with gives `log_target` of each rung."""
    data_set = generate(4, periods=60, channels=3, noise=0.05)
    data = load_rows(data_set["rows"], controls=["price"])
    model = MarketingMixModel(roi_prior="lognormal", **SMALL).prepare(data)
    tables = model.tables(data.y[: model.fit_rows] / model.y_scale)
    rng = np.random.default_rng(1)
    options = rng.integers(tables.fy.shape[1], size=(4, 3))
    centre = ROI_LEVELS[rng.integers(ROI_LEVELS.size, size=(4, 3))]
    for channel in range(3):
        fast = rung_targets(tables, options, centre, channel, ROI_LEVELS, ROI_SPREAD)
        for k, level in enumerate(ROI_LEVELS):
            moved = centre.copy()
            moved[:, channel] = level
            full = log_target(tables, options, ROI_SPREAD * moved, moved)
            assert np.allclose(fast[:, k], full, rtol=0, atol=1e-6)
    assert np.ptp(fast, axis=1).min() > 1.0  # the rungs are told apart


def constant_channel_data(seed: int) -> tuple[dict, object]:
    """Two channels of a synthetic history and a third, radio, whose spend barely moves:
    nothing in the data tells its effect from the baseline's."""
    data_set = generate(seed, periods=60, channels=2, noise=0.1)
    rng = np.random.default_rng(0)
    rows = [
        {**row, "radio": round(5000 * (1 + 0.01 * rng.standard_normal()), 2)}
        for row in data_set["rows"]
    ]
    return data_set, load_rows(rows, controls=["price"])


def _channels(model: MarketingMixModel) -> list[dict]:
    return summary(model)["channels"]


def radio_roi(model: MarketingMixModel) -> np.ndarray:
    return model.channel_contributions(2).sum(axis=1) / model.data.spend[:, 2].sum()


def test_an_unidentified_channel_follows_the_prior_in_roi_units() -> None:
    """The channel the data say nothing about keeps the prior: its ROI's median near the
    prior's (1.22 by default, 4 with mu = log 4) and its 90 % interval the prior's width,
    while the channels the data identify move far less."""
    _, data = constant_channel_data(7)
    default = MarketingMixModel(seed=0, roi_prior="lognormal", **SMALL).fit(data)
    higher = MarketingMixModel(seed=0, roi_prior="lognormal", roi_mu=np.log(4), **SMALL).fit(data)
    for model, median in ((default, np.exp(0.2)), (higher, 4.0)):
        low, middle, high = np.percentile(radio_roi(model), [5, 50, 95])
        assert 1 / 1.5 < middle / median < 1.5
        assert low > 0.1 * median and high < 6 * median and high / low > 5
    pairs = zip(_channels(default), _channels(higher), strict=True)
    ratio = [b["roi"]["mean"] / a["roi"]["mean"] for a, b in pairs]
    assert ratio[2] > 2.5 and max(ratio[:2]) < 0.7 * ratio[2]


def test_a_fit_is_reproducible_by_seed_and_round_trips() -> None:
    _, data = constant_channel_data(8)
    first = MarketingMixModel(seed=3, roi_prior="lognormal", **SMALL).fit(data)
    again = MarketingMixModel(seed=3, roi_prior="lognormal", **SMALL).fit(data)
    other = MarketingMixModel(seed=4, roi_prior="lognormal", **SMALL).fit(data)
    assert np.array_equal(first.coefficients, again.coefficients)
    assert not np.array_equal(first.coefficients, other.coefficients)
    stored = json.loads(json.dumps(first.to_dict()))
    assert stored["settings"]["roi_mu"] == 0.2 and stored["settings"]["roi_sigma"] == 0.9
    assert summary(MarketingMixModel.from_dict(stored)) == summary(first)


def test_user_roi_priors_take_precedence() -> None:
    data_set = generate(5, periods=60, channels=2, noise=0.2)
    data = load_rows(data_set["rows"], controls=["price"])
    told = [{"channel": "tv", "roi_mean": 6.0, "roi_sd": 0.2}]
    model = MarketingMixModel(seed=0, roi_prior="lognormal", priors=told, **SMALL).fit(data)
    roi = summary(model)["channels"][0]["roi"]
    assert abs(roi["mean"] - 6.0) < 0.5 and roi["high"] - roi["low"] < 1.0


@pytest.mark.parametrize(
    ("kpi", "used"),
    [("revenue", "lognormal"), ("gmv", "lognormal"), ("net_sales", "lognormal"),
     ("conversions", "zero"), ("signups", "zero")],
)  # fmt: skip
def test_auto_uses_the_roi_prior_only_for_money(kpi: str, used: str) -> None:
    """`auto`: the log-normal prior in money per unit of spend for a revenue-like KPI, the
    prior at zero for a KPI counted in other units; an explicit choice stays as given."""
    rows = [
        {"date": row["date"], kpi: row["revenue"], "tv": row["tv"], "search": row["search"]}
        for row in generate(2, periods=60, channels=2)["rows"]
    ]
    model = MarketingMixModel(roi_prior="auto", **SMALL).prepare(load_rows(rows, kpi=kpi))
    assert model.roi_prior_used == used
    assert resolve_roi_prior("zero", kpi) == "zero"
    assert resolve_roi_prior("lognormal", kpi) == "lognormal"
