"""Per-campaign model fits, confidence, ensemble weights and grids, and stored-fit curves."""

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.allocator import allocate_budget
from engine.datasets import CampaignSeries, Dataset
from engine.ensemble import curves_from_fit, fit_campaign, fit_dataset
from engine.errors import EngineError
from engine.fitting import adstock_series, make_curves

TRUE = {
    "negexp": {"alpha": 1000.0, "mu": 0.002},
    "mm": {"vmax": 1500.0, "k": 800.0},
    "hill": {"vmax": 1000.0, "k": 600.0, "n": 2.5},
}


def series(family, name="c", theta=0.0, points=120, seed=0):
    rng = np.random.default_rng(seed)
    spend = rng.uniform(0, 4000, points)
    clean = make_curves(family, TRUE[family]).true_response(adstock_series(spend, theta)[:, None])
    response = clean[:, 0] * (1 + 0.03 * rng.standard_normal(points))
    dates = tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(points))
    return CampaignSeries(name, dates, spend, response)


@pytest.mark.parametrize("family", sorted(TRUE))
def test_ensemble_weights_favour_the_true_family(family):
    fit = fit_campaign(series(family))
    weights = {model: result["weight"] for model, result in fit["models"].items()}
    assert max(weights, key=weights.get) == family
    assert sum(weights.values()) == pytest.approx(1.0)
    confidence = fit["models"][family]["confidence"]
    assert all(0 <= value <= 1 for value in confidence.values())
    assert fit["models"][family]["holdout"]["points"] == 30


def test_ensemble_grids_are_concave_and_net_profit_follows_value():
    fit = fit_campaign(series("negexp", theta=0.3), value_per_response=2.0)
    grid = fit["ensemble"]
    spend, response = np.array(grid["spend"]), np.array(grid["response"])
    slopes = np.diff(response) / np.diff(spend)
    assert np.all(np.diff(slopes) <= 1e-9) and np.all(slopes >= 0)
    np.testing.assert_allclose(grid["net_profit"], 2.0 * response - spend)
    np.testing.assert_allclose(grid["marginal_net_profit"], 2.0 * np.array(grid["marginal"]) - 1)
    assert fit["theta"] == pytest.approx(0.3, abs=0.1)
    assert spend[-1] == pytest.approx(2 * fit["max_spend"])


def test_stored_fit_gives_curves_for_the_allocator():
    data = Dataset((series("negexp", "a"), series("mm", "b", seed=1)), "revenue", "long")
    fit = fit_dataset(data, downstream={"a": {"conversion_rate": 0.5, "value_per_transaction": 4}})
    assert fit["campaigns"][0]["value_per_response"] == 2.0
    for model in ("ensemble", "negexp", "mm", "hill", "local_slope"):
        names, curves = curves_from_fit(fit, model)
        assert names == ["a", "b"]
        spend = allocate_budget(curves, 1500.0)
        assert spend.sum() == pytest.approx(1500.0)
    _, negexp = curves_from_fit(fit, "negexp")
    expected = make_curves("negexp", fit["campaigns"][0]["models"]["negexp"]["params"])
    assert negexp.response(np.array([500.0, 0.0]))[0] == pytest.approx(
        expected.response(np.array([500.0]))[0]
    )
    with pytest.raises(EngineError, match="unknown model"):
        curves_from_fit(fit, "spline")


@pytest.mark.parametrize(
    ("spend", "response", "problem"),
    [
        ([10.0, 20.0], [1.0, 2.0], "'x': 2 observations, fewer than"),
        ([0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0], "'x': all spends are zero"),
        ([5.0, 5.0, 5.0, 5.0], [1.0, 2.0, 3.0, 4.0], "'x': spend never varies"),
        ([1e-12, 5.0, 6.0, 7.0], [1.0, 2.0, 3.0, 4.0], "'x': .*inconsistent units"),
    ],
)
def test_unfittable_campaigns_are_named(spend, response, problem):
    dates = tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(len(spend)))
    with pytest.raises(EngineError, match=problem):
        fit_campaign(CampaignSeries("x", dates, np.array(spend), np.array(response)))


def test_unknown_campaign_in_settings_and_bad_downstream_figures():
    data = Dataset((series("negexp", "a"),), "revenue", "long")
    with pytest.raises(EngineError, match="'zz' is not in the data"):
        fit_dataset(data, spend_ranges={"zz": 10.0})
    with pytest.raises(EngineError, match="campaign 'a': downstream"):
        fit_dataset(data, downstream={"a": {"conversion_rate": 0.5}})
    with pytest.raises(EngineError, match="unknown models"):
        fit_dataset(data, models=["negexp", "spline"])


def test_allocating_on_the_ensemble_equalizes_marginal_roi():
    data = Dataset(
        (series("negexp", "a"), series("mm", "b", seed=1), series("hill", "c", seed=2)),
        "revenue",
        "long",
    )
    _, curves = curves_from_fit(fit_dataset(data), "ensemble")
    spend = allocate_budget(curves, 4000.0)
    marginal = curves.marginal(spend)
    np.testing.assert_allclose(marginal, marginal.mean(), rtol=1e-6)


def finite_json(value) -> bool:
    if isinstance(value, dict):
        return all(finite_json(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(finite_json(item) for item in value)
    return not isinstance(value, float) or np.isfinite(value)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1e12), st.floats(0, 1e12)), min_size=1, max_size=25),
    st.booleans(),
)
def test_fitting_never_fails_with_anything_but_an_engine_error(points, adstock):
    spend = np.array([p[0] for p in points])
    response = np.array([p[1] for p in points])
    dates = tuple(date(2024, 1, 1) + timedelta(days=i) for i in range(len(points)))
    try:
        fit = fit_campaign(CampaignSeries("x", dates, spend, response), adstock=adstock)
    except EngineError as error:
        assert "'x'" in str(error)
        return
    assert finite_json(fit)
    _, curves = curves_from_fit({"campaigns": [fit]}, "ensemble")
    assert np.isfinite(allocate_budget(curves, float(spend.max())).sum())


def test_a_model_named_twice_is_refused():
    with pytest.raises(EngineError, match="negexp more than once"):
        fit_campaign(series("negexp", points=30), ["negexp", "mm", "negexp"])
