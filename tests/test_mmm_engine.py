"""The marketing-mix model engine: recovery, invariants, bad input, storage and the CLI."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cli.mmm import main as cli_main
from engine.errors import EngineError
from engine.mmm import MarketingMixModel, TooFewPeriodsError, load_csv, load_rows
from engine.mmm.answers import curves, decomposition, summary
from engine.mmm.features import option_grid
from engine.mmm.sampler import log_target, option_weights, truncated_effects
from engine.mmm.synthetic import generate

SMALL = {"draws": 120, "chains": 4, "burn": 8}


def fitted(seed: int, channels: int, periods: int = 104, **settings_) -> tuple:
    data_set = generate(seed, periods=periods, channels=channels, noise=0.05)
    data = load_rows(data_set["rows"], controls=["price"])
    model = MarketingMixModel(seed=0, **{**SMALL, **settings_}).fit(data)
    return data_set, model


def test_recovers_true_rois_on_an_easy_history() -> None:
    data_set, model = fitted(1, 3, draws=300, chains=6, burn=20)
    answer = summary(model)
    assert answer["diagnostics"]["r2"] > 0.85
    for row, truth in zip(answer["channels"], data_set["truth"]["channels"], strict=True):
        assert row["roi"]["low"] <= truth["roi"] <= row["roi"]["high"], row["channel"]
    search = answer["channels"][1]
    assert abs(search["roi"]["mean"] - 2.56) / 2.56 < 0.1


@settings(max_examples=4)
@given(seed=st.integers(0, 10_000), channels=st.integers(1, 3))
def test_answers_hold_their_invariants(seed: int, channels: int) -> None:
    _, model = fitted(seed, channels, periods=60)
    parts = decomposition(model)
    total = np.sum([parts[key] for key in ("baseline", "trend", "seasonality", "controls")], 0)
    total = total + np.sum(list(parts["channels"].values()), axis=0)
    assert np.allclose(total, parts["fitted"], rtol=1e-9, atol=1e-6)
    assert np.allclose(parts["fitted"], model.predict_draws().mean(axis=0))
    for c in range(channels):
        assert np.all(model.channel_contributions(c) >= 0)
    answer = summary(model)
    for row in answer["channels"]:
        for key in ("contribution", "roi", "mroi"):
            assert 0 <= row[key]["low"] <= row[key]["mean"] <= row[key]["high"]
        theta = row["adstock"]["theta"]
        assert 0 <= theta["low"] <= theta["mean"] <= theta["high"] < 1
    for curve in curves(model)["channels"]:
        assert curve["mean"][0] == 0
        assert np.all(np.diff(curve["mean"]) >= 0)
        assert np.all(np.array(curve["low"]) <= np.array(curve["high"]))


def test_option_weights_match_the_full_posterior() -> None:
    """The O(p^2) conditional equals differences of the full log posterior."""
    _, model = fitted(4, 3, periods=60)
    tables = model.tables(model.data.y[: model.fit_rows] / model.y_scale)
    rng = np.random.default_rng(0)
    options = rng.integers(tables.fy.shape[1], size=(2, 3))
    scale = np.array([0.5, 1.1])
    fast = option_weights(tables, options, scale, 1)
    for picks in (0, 17, 40):
        moved = options.copy()
        moved[:, 1] = picks
        full = log_target(tables, moved, scale) - log_target(tables, options, scale)
        assert np.allclose(fast[:, picks] - fast[np.arange(2), options[:, 1]], full, atol=1e-6)


def test_truncated_effects_match_rejection_sampling() -> None:
    """The Gibbs draws of a truncated correlated normal agree with exact rejection draws."""
    rng = np.random.default_rng(3)
    centre = np.array([0.3, -0.2])
    covariance = np.array([[1.0, -0.7], [-0.7, 1.0]])
    draws = truncated_effects(
        np.tile(centre, (20_000, 1)), np.tile(covariance, (20_000, 1, 1)), rng
    )
    free = rng.multivariate_normal(centre, covariance, size=400_000)
    exact = free[np.all(free >= 0, axis=1)]
    assert np.all(draws >= 0)
    assert np.allclose(draws.mean(axis=0), exact.mean(axis=0), atol=0.03)
    assert np.allclose(
        np.percentile(draws, 90, axis=0), np.percentile(exact, 90, axis=0), atol=0.05
    )


def test_round_trip_through_plain_data() -> None:
    _, model = fitted(2, 2, periods=60)
    stored = json.loads(json.dumps(model.to_dict()))
    rebuilt = MarketingMixModel.from_dict(stored)
    assert summary(rebuilt) == summary(model)
    assert decomposition(rebuilt) == decomposition(model)
    assert curves(rebuilt) == curves(model)


def test_roi_prior_pulls_the_estimate() -> None:
    data_set = generate(5, periods=60, channels=2, noise=0.2)
    data = load_rows(data_set["rows"], controls=["price"])
    prior = [{"channel": "tv", "roi_mean": 6.0, "roi_sd": 0.2}]
    plain = summary(MarketingMixModel(seed=0, **SMALL).fit(data))["channels"][0]["roi"]
    told = summary(MarketingMixModel(seed=0, priors=prior, **SMALL).fit(data))
    assert abs(told["channels"][0]["roi"]["mean"] - 6.0) < abs(plain["mean"] - 6.0)
    assert told["channels"][0]["roi"]["high"] - told["channels"][0]["roi"]["low"] < 1.0


def weekly_rows(weeks: int, **extra: object) -> list[dict]:
    start = date(2024, 1, 1)
    return [
        {"week": (start + timedelta(weeks=t)).isoformat(), "sales": 100 + t % 7,
         "tv": 10 + (t * 7) % 5, "radio": 3 + t % 3, **extra}
        for t in range(weeks)
    ]  # fmt: skip


def test_bad_input_names_the_column_and_row() -> None:
    rows = weekly_rows(30)
    rows[4]["tv"] = "lots"
    with pytest.raises(EngineError, match=r"row 5: column 'tv' is not a number"):
        load_rows(rows)
    with pytest.raises(EngineError, match=r"column 'gmv' \(the KPI\) is not in the data"):
        load_rows(weekly_rows(30), kpi="gmv")
    rows = weekly_rows(30)
    rows[7]["week"] = rows[6]["week"]
    with pytest.raises(EngineError, match=r"row 8: column 'week': date .* repeats row 7"):
        load_rows(rows)
    with pytest.raises(EngineError, match=r"column 'price': the control does not vary"):
        MarketingMixModel().fit(load_rows(weekly_rows(80, price=3), controls=["price"]))
    with pytest.raises(EngineError, match=r"priors\[0\]: channel 'ooh'"):
        MarketingMixModel(priors=[{"channel": "ooh", "roi_mean": 1, "roi_sd": 1}]).fit(
            load_rows(weekly_rows(80))
        )


def test_too_few_periods_names_the_minimum() -> None:
    with pytest.raises(TooFewPeriodsError, match=r"at least (\d+) periods") as raised:
        MarketingMixModel().fit(load_rows(weekly_rows(12)))
    assert raised.value.minimum > 12
    assert isinstance(raised.value, EngineError)


def test_long_layout_aggregates_by_date() -> None:
    wide = generate(6, periods=40, channels=2)["rows"]
    long = [
        {"date": row["date"], "campaign": name, "spend": row[name],
         "revenue": row["revenue"] / 2, "price": row["price"]}
        for row in wide
        for name in ("tv", "search")
    ]  # fmt: skip
    from_long = load_rows(long, controls=["price"])
    from_wide = load_rows(wide, controls=["price"])
    assert from_long.layout == "long" and from_long.channels == ("tv", "search")
    assert np.allclose(from_long.y, from_wide.y)
    assert np.allclose(from_long.spend, from_wide.spend)
    long[3]["price"] = 99
    with pytest.raises(EngineError, match=r"row 4: column 'price' differs from row 3"):
        load_rows(long, controls=["price"])


def test_negexp_family_reports_allocator_parameters() -> None:
    _, model = fitted(8, 2, periods=60, saturation="negexp")
    saturation = summary(model)["channels"][0]["saturation"]
    assert saturation["family"] == "negexp"
    assert set(saturation["params"]) == {"alpha", "mu"}
    assert option_grid("negexp").dimensions == 2


def test_cli_writes_its_charts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = generate(9, periods=60, channels=2)["rows"]
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert load_csv(path.read_text(), controls=["price"]).periods == 60
    out = tmp_path / "charts"
    flags = ["--controls", "price", "--draws", "100", "--roi-prior", "auto", "--out", str(out)]
    code = cli_main([str(path), *flags])
    assert code == 0
    names = {"mmm_fit.png", "mmm_decomposition.png", "mmm_roi.png", "mmm_curves.png"}
    assert {p.name for p in out.iterdir()} == names
    assert all((out / name).read_bytes()[:4] == b"\x89PNG" for name in names)
    assert "ROI (90%)" in capsys.readouterr().out
    assert cli_main([str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
