"""Allocations and plans on a marketing-mix model: /api/optimize with `model_id` (every backend)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.mmm import MarketingMixModel, load_rows
from engine.mmm.allocation import curve_draws, mean_theta
from engine.mmm.answers import response_draws
from engine.mmm.synthetic import generate
from tests.conftest import make_campaigns, make_state
from utils import marketing_mix

SAMPLER = {"draws": 200, "chains": 4, "burn": 10}


@pytest.fixture
def rows() -> list[dict]:
    return generate(3, periods=60, channels=3, noise=0.05)["rows"]


@pytest.fixture(autouse=True)
def small_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(marketing_mix, "SYNC_SECONDS", 120.0)
    monkeypatch.setattr(marketing_mix, "SAMPLER", SAMPLER)


def fitted(client, tenant, rows) -> dict:
    made = client.post(
        "/api/models", json={"rows": rows, "controls": ["price"]}, headers=tenant.headers
    )
    assert made.status_code == 201, made.text
    return made.json()


def allocate(client, headers, **body):
    return client.post("/api/optimize/allocate", json=body, headers=headers)


def test_allocation_maximizes_the_posterior_mean_with_its_interval(client, tenant, rows):
    model = fitted(client, tenant, rows)
    names = [channel["channel"] for channel in model["channels"]]
    budget = sum(channel["spend"] for channel in model["channels"]) / model["periods"]
    answer = allocate(client, tenant.headers, model_id=model["id"], budget=budget)
    assert answer.status_code == 200, answer.text
    best = answer.json()
    assert best["model_id"] == model["id"] and best["fit_id"] is None
    assert [row["campaign"] for row in best["allocation"]] == names
    assert best["total_spend"] == pytest.approx(budget, rel=1e-9)
    kpi = best["expected_kpi"]
    assert kpi["low"] < kpi["mean"] < kpi["high"]
    assert kpi["mean"] == pytest.approx(best["total_value"], rel=1e-9)
    # Any other split of the same budget (pinned by bounds) expects less.
    spends = np.array([row["spend"] for row in best["allocation"]])
    for shift in (0.3, -0.3):
        other = spends.copy()
        other[0] = max(other[0] * (1 + shift), 0.0)
        other[1:] += (spends[0] - other[0]) / (len(names) - 1)
        pinned = {name: {"min": s, "max": s} for name, s in zip(names, other, strict=True)}
        moved = allocate(
            client, tenant.headers, model_id=model["id"], budget=budget, campaigns=pinned
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["expected_kpi"]["mean"] < kpi["mean"]


def test_bounds_groups_and_scenarios_on_a_model(client, tenant, rows):
    model = fitted(client, tenant, rows)
    names = [channel["channel"] for channel in model["channels"]]
    budget = sum(channel["spend"] for channel in model["channels"]) / model["periods"]
    group = {"name": "first two", "campaigns": names[:2], "max_share": 0.4}
    answer = allocate(
        client,
        tenant.headers,
        model_id=model["id"],
        budget=budget,
        campaigns={names[2]: {"max": 0.7 * budget}},
        groups=[group],
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    spend = {row["campaign"]: row["spend"] for row in report["allocation"]}
    assert spend[names[2]] <= 0.7 * budget * (1 + 1e-9)
    assert spend[names[0]] + spend[names[1]] <= 0.4 * budget * (1 + 1e-9)
    assert report["total_spend"] == pytest.approx(budget, rel=1e-9)
    assert report["groups"][0]["name"] == "first two"
    flexible = allocate(
        client,
        tenant.headers,
        model_id=model["id"],
        budget=3 * budget,
        scenario="flexible_budget",
        target_mroi=1.0,
    )
    assert flexible.status_code == 200, flexible.text
    assert flexible.json()["expected_kpi"]["mean"] == pytest.approx(
        flexible.json()["total_value"], rel=1e-9
    )
    for refused, field in (
        ({"scenario": "target_kpi", "target": 100.0}, "target_kpi"),
        ({"capacity": 100.0}, "capacity"),
        ({"model": "hill"}, "model"),
        ({"campaigns": {"radio": {"max": 5.0}}}, "radio"),
        ({"fit_id": "abc"}, "exactly one"),
    ):
        answer = allocate(client, tenant.headers, model_id=model["id"], budget=budget, **refused)
        assert answer.status_code == 422 and field in answer.text, (refused, answer.text)


def test_another_tenants_or_an_unready_model(client, tenant, other_tenant, rows, monkeypatch):
    model = fitted(client, tenant, rows)
    body = {"model_id": model["id"], "budget": 1000.0}
    assert allocate(client, other_tenant.headers, **body).status_code == 404
    assert allocate(client, tenant.headers, model_id="nothing", budget=1.0).status_code == 404
    plan = {"model_id": model["id"], "budgets": [1000.0, 1000.0]}
    answer = client.post("/api/optimize/plan", json=plan, headers=other_tenant.headers)
    assert answer.status_code == 404

    release = threading.Event()
    real_fit = MarketingMixModel.fit

    def slow(self, data, progress=None):
        release.wait(30)
        return real_fit(self, data, progress)

    monkeypatch.setattr(MarketingMixModel, "fit", slow)
    monkeypatch.setattr(marketing_mix, "SYNC_SECONDS", 0.0)
    job = client.post("/api/models", json={"rows": rows}, headers=tenant.headers).json()
    ids = make_campaigns(client, tenant.headers, n=2)
    try:
        answer = allocate(client, tenant.headers, model_id=job["id"], budget=1000.0)
        assert answer.status_code == 409 and "fitting" in answer.text
        started = make_state(client, tenant.headers, ids, prior={"model_id": job["id"]})
        assert started.status_code == 409 and "fitting" in started.text
    finally:
        release.set()
    theirs = make_campaigns(client, other_tenant.headers, n=2)
    borrowed = make_state(client, other_tenant.headers, theirs, prior={"model_id": model["id"]})
    assert borrowed.status_code == 404 and "Model not found" in borrowed.text


def test_a_run_starts_from_a_model(client, tenant, rows):
    model = fitted(client, tenant, rows)
    names = [channel["channel"] for channel in model["channels"]]

    def campaign(name: str, **fields) -> str:
        body = {"name": name, "platform": "google", **fields}
        made = client.post("/api/campaigns", json=body, headers=tenant.headers)
        assert made.status_code == 201, made.text
        return made.json()["id"]

    by_name = campaign(names[0])
    by_external_id = campaign("Paid " + names[1], external_id=names[1])
    unknown = campaign("Radio")
    ids = [by_name, by_external_id, unknown]
    prior = {"model_id": model["id"]}
    started = make_state(client, tenant.headers, ids, prior=prior, budget=30000, step=0.2)
    assert started.status_code == 201, started.text
    state = started.json()
    assert state["prior"]["model_id"] == model["id"] and state["prior"]["fit_id"] is None
    assert state["prior"]["matched"] == {by_name: names[0], by_external_id: names[1]}
    assert len(set(state["budgets"].values())) > 1  # not an equal split
    cold = make_state(client, tenant.headers, ids, budget=30000, step=0.2).json()
    assert len(set(cold["budgets"].values())) == 1
    strangers = [campaign("Radio 2"), campaign("Print")]
    refused = make_state(client, tenant.headers, strangers, prior=prior)
    assert refused.status_code == 422 and "knows none of the run's campaigns" in refused.text


def test_plans_carry_adstock_and_give_the_kpi_interval(client, tenant, rows):
    model = fitted(client, tenant, rows)
    names = [channel["channel"] for channel in model["channels"]]
    budget = sum(channel["spend"] for channel in model["channels"]) / model["periods"]
    body = {"model_id": model["id"], "budgets": [budget] * 3, "initial_stock": {names[0]: budget}}
    answer = client.post("/api/optimize/plan", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["model_id"] == model["id"]
    for key in ("sequential", "static"):
        kpi = plan["expected_kpi"][key]
        assert kpi["low"] < kpi["mean"] < kpi["high"]
        # Decided on a thinned posterior, scored on every draw: the totals are the KPI's mean.
        assert plan["total_response"][key] == pytest.approx(kpi["mean"], rel=1e-9)
        periods = plan[key]["periods"]
        assert sum(period["response"] for period in periods) == pytest.approx(kpi["mean"])
    assert plan["expected_kpi"]["flighting"] is None
    # The first period of the sequential plan is that period's best allocation, so no
    # other plan with the same budget and carried-in stock does better in it (this model
    # has an S-shaped channel whose flat mean marginal the allocator once missed).
    cold = {**body, "initial_stock": {}}
    colder = client.post("/api/optimize/plan", json=cold, headers=tenant.headers).json()
    for answered in (plan, colder):
        first = {key: answered[key]["periods"][0]["response"] for key in ("sequential", "static")}
        assert first["sequential"] >= first["static"] * (1 - 1e-9)
    # Stock carried in adds KPI on top of the same budgets.
    assert colder["total_response"]["sequential"] < plan["total_response"]["sequential"]
    flighting = {"model_id": model["id"], "total_budget": 3 * budget, "periods": 3}
    answer = client.post("/api/optimize/plan", json=flighting, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    kpi = answer.json()["expected_kpi"]["flighting"]
    assert answer.json()["total_response"]["flighting"] == pytest.approx(kpi["mean"], rel=1e-9)
    stray = {**body, "initial_stock": {"radio": 5.0}}
    refused = client.post("/api/optimize/plan", json=stray, headers=tenant.headers)
    assert refused.status_code == 422 and "radio" in refused.text


def test_plans_on_a_model_with_max_lag_carry_over_that_many_periods(client, tenant, rows):
    made = client.post(
        "/api/models",
        json={"rows": rows, "controls": ["price"], "max_lag": 1},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    model = made.json()
    budget = sum(channel["spend"] for channel in model["channels"]) / model["periods"]
    body = {"model_id": model["id"], "budgets": [budget, 0.0, 0.0]}
    answer = client.post("/api/optimize/plan", json=body, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    for key in ("sequential", "static"):
        periods = answer.json()[key]["periods"]
        assert periods[1]["response"] > 0  # one period of carry-over
        assert periods[2]["response"] == 0  # and no more


def test_the_curve_draws_are_the_models_own_curves(rows):
    """The allocator's curves are the model's: steady state, and at the plan's un-normalized
    adstock stock x / (1 - theta) of a steady spend x."""
    data = load_rows(rows, controls=["price"])
    model = MarketingMixModel(**SAMPLER).fit(data)
    from engine.response import family_curves

    family, params = curve_draws(model)
    theta = mean_theta(model)
    _, stocked = curve_draws(model, theta)
    cut = MarketingMixModel(**SAMPLER, max_lag=2).fit(data)
    _, cut_stocked = curve_draws(cut, mean_theta(cut))
    cut_scale = 1 + mean_theta(cut) + mean_theta(cut) ** 2
    spend = np.linspace(0.0, 3 * model.spend_scale.max(), 7)
    for c in range(len(data.channels)):
        expected = response_draws(model, c, spend)  # (D, S)
        one = {name: values[:, c] for name, values in params.items()}
        per_stock = {name: values[:, c] for name, values in stocked.items()}
        for s, x in enumerate(spend):
            at = np.full(model.draws, x)
            got = family_curves(family, one).true_response(at)
            assert np.allclose(got, expected[:, s], rtol=1e-9, atol=1e-9)
            carried = family_curves(family, per_stock).true_response(at / (1 - theta[c]))
            assert np.allclose(carried, expected[:, s], rtol=1e-9, atol=1e-9)
            # A model with max_lag: a steady spend x builds the stock x * sum(theta^l, l <= 2).
            one_cut = {name: values[:, c] for name, values in cut_stocked.items()}
            steady = family_curves(family, one_cut).true_response(at * cut_scale[c])
            assert np.allclose(steady, response_draws(cut, c, spend)[:, s], rtol=1e-9, atol=1e-9)


def test_a_fit_interrupted_by_a_restart_is_marked_failed(settings, rows, monkeypatch):
    """The fitting model a previous process left behind fails at the next start-up, and
    the old job's late write cannot bring it back."""
    from fastapi.testclient import TestClient

    from fast import create_app
    from tests.conftest import client_user

    release = threading.Event()
    real_fit = MarketingMixModel.fit

    def stuck(self, data, progress=None):
        release.wait(20)
        return real_fit(self, data, progress)

    monkeypatch.setattr(MarketingMixModel, "fit", stuck)
    monkeypatch.setattr(marketing_mix, "SYNC_SECONDS", 0.0)
    try:
        with TestClient(create_app(settings)) as first:
            headers = client_user(first, "restarted")
            job = first.post("/api/models", json={"rows": rows}, headers=headers).json()
            assert job["status"] == "fitting"
        with TestClient(create_app(settings)) as second:
            answer = second.get(f"/api/models/{job['id']}", headers=headers)
            assert answer.status_code == 200, answer.text
            model = answer.json()
            assert model["status"] == "failed" and "restart" in model["error"]
    finally:
        release.set()
