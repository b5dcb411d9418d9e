"""Parametric curve fitting, adstock recovery, local slopes and error metrics."""

import numpy as np
import pytest

from engine.errors import EngineError
from engine.fitting import (
    adstock_series,
    error_metrics,
    fit_family,
    fit_theta,
    holdout_split,
    make_curves,
)
from engine.local_slope import fit_local_slope

TRUE = {
    "negexp": {"alpha": 1000.0, "mu": 0.002},
    "mm": {"vmax": 1500.0, "k": 800.0},
    "hill": {"vmax": 1000.0, "k": 600.0, "n": 2.5},
}


def synthetic(family, theta=0.0, points=80, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    spend = rng.uniform(0, 2500, points)
    stock = adstock_series(spend, theta)
    clean = make_curves(family, TRUE[family]).true_response(stock[:, None])[:, 0]
    return spend, stock, clean * (1 + noise * rng.standard_normal(points))


@pytest.mark.parametrize("family", sorted(TRUE))
def test_parameters_are_recovered_from_synthetic_data(family):
    _, stock, response = synthetic(family)
    fitted = fit_family(family, stock, response)
    for name, value in TRUE[family].items():
        assert fitted.params[name] == pytest.approx(value, rel=0.1), name


def test_adstock_theta_is_recovered():
    spend, _, response = synthetic("negexp", theta=0.5)
    assert fit_theta(spend, response) == pytest.approx(0.5, abs=0.05)
    spend, _, response = synthetic("negexp", theta=0.0, seed=1)
    assert fit_theta(spend, response) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("family", sorted(TRUE))
@pytest.mark.parametrize(
    "response",
    [
        np.zeros(5),
        np.full(5, 7.0),
        np.array([1.0, 1e9, 0.0, 3.0, 1e-9]),
        np.array([5.0, 4, 3, 2, 1]),
    ],
    ids=["zeros", "flat", "wild", "falling"],
)
def test_flat_tiny_or_odd_data_never_crash(family, response):
    fitted = fit_family(family, np.array([10.0, 20.0, 30.0, 40.0, 50.0]), response)
    assert all(np.isfinite(value) for value in fitted.params.values())
    curves = make_curves(family, fitted.params)
    assert np.all(np.isfinite(curves.response(np.array([25.0]))))


def test_all_zero_spend_cannot_be_fitted():
    with pytest.raises(EngineError, match="all spends are zero"):
        fit_family("negexp", np.zeros(4), np.ones(4))


def test_unknown_family_and_missing_parameters():
    with pytest.raises(EngineError, match="unknown curve family"):
        fit_family("cubic", np.ones(3), np.ones(3))
    with pytest.raises(EngineError, match="need parameters n"):
        make_curves("hill", {"vmax": 1.0, "k": 1.0})


def test_error_metrics():
    metrics = error_metrics(np.array([1.0, 2.0, 0.0, 4.0]), np.array([1.0, 3.0, 1.0, 2.0]))
    assert metrics["rmse"] == pytest.approx(np.sqrt((0 + 1 + 1 + 4) / 4))
    assert metrics["mape"] == pytest.approx((0 + 0.5 + 0.5) / 3)
    assert error_metrics(np.zeros(2), np.ones(2))["mape"] is None
    assert error_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]))["r2"] == 1.0


def test_holdout_split_keeps_enough_training_points():
    assert holdout_split(20, 0.25, 3) == 15
    assert holdout_split(5, 0.25, 3) == 4
    assert holdout_split(4, 0.25, 3) == 4
    assert holdout_split(10, 0.0, 2) == 10
    with pytest.raises(EngineError):
        holdout_split(10, 1.0, 2)


def test_local_slope_is_increasing_concave_and_anchored():
    _, stock, response = synthetic("negexp", points=200)
    knots, levels = fit_local_slope(stock, response)
    assert knots[0] == 0.0 and levels[0] == 0.0
    slopes = np.diff(levels) / np.diff(knots)
    assert np.all(slopes >= 0) and np.all(np.diff(slopes) <= 1e-12)
    truth = make_curves("negexp", TRUE["negexp"]).response(knots[1:, None])[:, 0]
    np.testing.assert_allclose(levels[1:], truth, rtol=0.15)


def test_local_slope_flattens_increasing_returns():
    spend = np.linspace(1, 100, 60)
    knots, levels = fit_local_slope(spend, spend**2)
    slopes = np.diff(levels) / np.diff(knots)
    assert np.all(np.diff(slopes) <= 1e-9)
