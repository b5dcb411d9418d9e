"""HTTP tests of POST /api/allocate and POST /api/allocate/backtest, on every backend."""

import json
import math

import pytest
from fastapi.testclient import TestClient

from engine.rps_backtest import backtest, grid_search
from engine.rps_bands import default_bands
from engine.rps_prices import simulate_price_streams
from tests.conftest import TenantUser
from tests.test_rps import _bands_with

SEED = {"prices_a": [1.00, 1.20, 1.10], "prices_b": [1.30, 1.35, 1.25]}


def _post_raw(client: TestClient, path: str, text: str, headers: dict[str, str]):
    """Send a body as a Python client would that writes NaN/Infinity literals."""
    return client.post(path, content=text, headers={**headers, "Content-Type": "application/json"})


def test_seed_curl_example_answers_three_quarters_to_a(
    client: TestClient, tenant: TenantUser
) -> None:
    response = client.post("/api/allocate", json=SEED, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["allocation"] == [0.75, 0.25]
    assert body["band"] == "A_HEAVY"
    expected = sum(math.log(a / b) for a, b in zip(SEED["prices_a"], SEED["prices_b"], strict=True))
    assert body["rps"] == pytest.approx(expected / 3)


def test_allocate_needs_a_logged_in_user_with_read_scope(
    client: TestClient, make_tenant, admin_headers: dict[str, str]
) -> None:
    assert client.post("/api/allocate", json=SEED).status_code == 401
    bad_token = {"Authorization": "Bearer not-a-token"}
    assert client.post("/api/allocate", json=SEED, headers=bad_token).status_code == 401
    writer = make_tenant(scopes=("write",))
    assert client.post("/api/allocate", json=SEED, headers=writer.headers).status_code == 403
    reader = make_tenant(scopes=("read",))
    assert client.post("/api/allocate", json=SEED, headers=reader.headers).status_code == 200
    assert client.post("/api/allocate", json=SEED, headers=admin_headers).status_code == 200
    simulated = {"simulate": {"steps": 10}}
    assert client.post("/api/allocate/backtest", json=simulated).status_code == 401
    answer = client.post("/api/allocate/backtest", json=simulated, headers=writer.headers)
    assert answer.status_code == 403


def test_price_kind_lookback_and_bands_are_applied(client: TestClient, tenant: TenantUser) -> None:
    def allocate(**changes: object) -> dict:
        response = client.post("/api/allocate", json={**SEED, **changes}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert allocate(price_kind="value")["allocation"] == [0.25, 0.75]
    swapped = {"prices_a": SEED["prices_b"], "prices_b": SEED["prices_a"]}
    assert allocate(**swapped)["allocation"] == [0.25, 0.75]
    # The last price pair alone: ln(1.10 / 1.25) = -0.128, inside the default A_LIGHT band.
    assert allocate(lookback=1) == {
        "allocation": [0.6, 0.4],
        "rps": pytest.approx(math.log(1.10 / 1.25)),
        "band": "A_LIGHT",
    }
    wide_equal = default_bands()
    for band in wide_equal:
        if band["name"] == "EQUAL":
            band.update(lower=-0.5, upper=0.5)
        elif band["name"] == "A_LIGHT":
            band.update(lower=0.5, upper=1.0)
        elif band["name"] == "B_LIGHT":
            band.update(lower=-1.0, upper=-0.5)
        elif band["name"] == "A_HEAVY":
            band.update(lower=1.0)
        else:
            band.update(upper=-1.0)
    assert allocate(bands=wide_equal)["band"] == "EQUAL"


ALLOCATE_BAD_BODIES = [
    ({"prices_a": [1.0, 2.0], "prices_b": [1.0]}, "must have the same length (got 2 and 1)"),
    ({"prices_a": [], "prices_b": []}, "at least 1 item"),
    ({"prices_a": [1.0, 0.0], "prices_b": [1.0, 1.0]}, "greater than 0"),
    ({"prices_a": [1.0, 1.0], "prices_b": [-1.5, 1.0]}, "greater than 0"),
    ({"prices_a": [1.0, "1.2"], "prices_b": [1.0, 1.0]}, "valid number"),
    ({"prices_a": [1.0] * 10_001, "prices_b": [1.0] * 10_001}, "at most 10000 items"),
    ({**SEED, "lookback": 0}, "greater than or equal to 1"),
    ({**SEED, "lookback": 1.5}, "valid integer"),
    ({**SEED, "price_kind": "price"}, "'cost' or 'value'"),
    ({**SEED, "bands": default_bands()[:4]}, "at least 5 items"),
    ({**SEED, "bands": _bands_with("EQUAL", lower=-0.04)}, "bands must meet without gap"),
    ({**SEED, "bands": _bands_with("EQUAL", allocation=[0.5, 0.6])}, "must sum to 1"),
    ({**SEED, "bands": _bands_with("EQUAL", allocation=[1.5, -0.5])}, "less than or equal to 1"),
    ({**SEED, "bands": _bands_with("EQUAL", name="FLAT")}, "'A_HEAVY', 'A_LIGHT', 'EQUAL'"),
    ({**SEED, "bands": _bands_with("B_HEAVY", lower=-1.0)}, "B_HEAVY must be unbounded below"),
    ({**SEED, "bands": [*default_bands()[:4], default_bands()[0]]}, "appears more than once"),
    ({**SEED, "currency": "EUR"}, "Extra inputs are not permitted"),
]


def test_allocate_bad_bodies_answer_422_saying_what_is_wrong(
    client: TestClient, tenant: TenantUser
) -> None:
    for body, message in ALLOCATE_BAD_BODIES:
        response = client.post("/api/allocate", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (message, response.text)


def test_nan_and_infinity_literals_from_python_clients_answer_422(
    client: TestClient, tenant: TenantUser
) -> None:
    for literal, value in (("NaN", math.nan), ("Infinity", math.inf), ("-Infinity", -math.inf)):
        prices = json.dumps({"prices_a": [1.0, value], "prices_b": [1.0, 1.0]})
        assert literal in prices
        response = _post_raw(client, "/api/allocate", prices, tenant.headers)
        assert response.status_code == 422, response.text
        assert "finite number" in response.text
        assert response.json()["detail"][0]["loc"] == ["body", "prices_a", 1]
    band_nan = json.dumps({**SEED, "bands": _bands_with("EQUAL", upper=math.nan)})
    response = _post_raw(client, "/api/allocate", band_nan, tenant.headers)
    assert response.status_code == 422, response.text
    assert "finite number" in response.text
    history = json.dumps({"prices_a": [1.0, math.nan, 1.0], "prices_b": [1.0, 1.0, 1.0]})
    response = _post_raw(client, "/api/allocate/backtest", history, tenant.headers)
    assert response.status_code == 422, response.text
    assert "finite number" in response.text
    budget = json.dumps({"budget": math.inf})
    response = _post_raw(client, "/api/allocate/backtest", budget, tenant.headers)
    assert response.status_code == 422, response.text
    assert "finite number" in response.text


def test_backtest_of_a_supplied_history_matches_the_engine(
    client: TestClient, tenant: TenantUser
) -> None:
    a, b = simulate_price_streams(40, seed=9, drift_a=0.0, drift_b=0.0, volatility_a=0.08)
    body = {
        "prices_a": a.tolist(),
        "prices_b": b.tolist(),
        "budget": 50,
        "lookback": 3,
        "grid": {"lookbacks": [1, 2, 5], "holdout_fraction": 0.25},
    }
    response = client.post("/api/allocate/backtest", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    report = backtest(a, b, 50.0, 3)
    search = grid_search(a, b, 50.0, lookback=3, lookbacks=(1, 2, 5), holdout_fraction=0.25)
    for key in ("bands", "allocations", "next_allocation", "steps"):
        assert answer[key] == report[key]
    for key in ("rps", "flat_results", "rps_results"):
        assert answer[key] == pytest.approx(report[key])
    assert answer["totals"] == pytest.approx(report["totals"])
    assert answer["grid_search"]["best"] == search["best"]
    assert answer["grid_search"]["out_of_sample"] == pytest.approx(search["out_of_sample"])
    assert answer["grid_search"]["holdout_steps"] == 10
    assert answer["prices_a"] == pytest.approx(a.tolist())
    assert answer["allocations"][0] == [0.5, 0.5]


def test_backtest_simulates_thirty_steps_by_default(client: TestClient, tenant: TenantUser) -> None:
    response = client.post("/api/allocate/backtest", json={}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    a, b = simulate_price_streams()
    assert answer["steps"] == 30
    assert answer["prices_a"] == pytest.approx(a.tolist())
    assert answer["totals"] == pytest.approx(backtest(a, b)["totals"])
    totals = answer["totals"]
    assert totals["difference"] == pytest.approx(totals["rps"] - totals["flat"])
    best_bands = answer["grid_search"]["best"]["bands"]
    follow_up = {**SEED, "bands": best_bands, "lookback": answer["grid_search"]["best"]["lookback"]}
    assert client.post("/api/allocate", json=follow_up, headers=tenant.headers).status_code == 200

    seeded = {"simulate": {"steps": 12, "seed": 3, "drift_a": 0.02}, "price_kind": "value"}
    response = client.post("/api/allocate/backtest", json=seeded, headers=tenant.headers)
    assert response.status_code == 200, response.text
    a, b = simulate_price_streams(12, seed=3, drift_a=0.02)
    assert response.json()["totals"] == pytest.approx(backtest(a, b, price_kind="value")["totals"])


BACKTEST_BAD_BODIES = [
    ({"prices_a": [1.0, 1.1, 1.2]}, "send both prices_a and prices_b"),
    ({**SEED, "simulate": {"steps": 10}}, "not both"),
    ({"prices_a": [1.0, 1.1, 1.2], "prices_b": [1.0] * 4}, "same length (got 3 and 4)"),
    ({"prices_a": [1.0, 1.1], "prices_b": [1.0, 0.9]}, "at least 3 items"),
    ({"simulate": {"steps": 2}}, "greater than or equal to 3"),
    ({"prices_a": [1.0] * 10_001, "prices_b": [1.0] * 10_001}, "at most 10000 items"),
    ({"simulate": {"steps": 10_001}}, "less than or equal to 10000"),
    ({"simulate": {"steps": 20, "volatility_a": -0.1}}, "greater than or equal to 0"),
    ({"budget": 0}, "greater than 0"),
    ({**SEED, "lookback": 0}, "greater than or equal to 1"),
    ({**SEED, "grid": {"holdout_fraction": 0.5}}, "send a longer history"),
    ({"grid": {"lookbacks": list(range(1, 14))}}, "at most 12 items"),
    ({"grid": {"equal_thresholds": [0.5], "heavy_thresholds": [0.1]}}, "at least one equal"),
    ({"bands": _bands_with("A_HEAVY", upper=2.0)}, "A_HEAVY must be unbounded above"),
]


def test_backtest_bad_bodies_answer_422_saying_what_is_wrong(
    client: TestClient, tenant: TenantUser
) -> None:
    for body, message in BACKTEST_BAD_BODIES:
        response = client.post("/api/allocate/backtest", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (message, response.text)


def test_openapi_documents_price_kind_bands_and_the_seed_example(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/allocate"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert examples["seed"]["value"] == SEED
    request = schema["components"]["schemas"]["AllocateRequest"]
    assert request["examples"] == [SEED]
    properties = request["properties"]
    assert "`cost` (default)" in properties["price_kind"]["description"]
    assert "`value`" in properties["price_kind"]["description"]
    assert "A_HEAVY" in properties["bands"]["description"]
    assert "boundary" in properties["bands"]["description"]
    band = schema["components"]["schemas"]["Band"]["properties"]
    assert set(band) == {"name", "lower", "upper", "allocation"}
    assert "/api/allocate/backtest" in schema["paths"]


def test_the_shortest_backtest_the_schema_accepts_runs(
    client: TestClient, tenant: TenantUser
) -> None:
    """The schema's minimum is what the grid search can do: 3 prices (2 to score on, 1 to
    judge on), sent or simulated; OpenAPI shows it."""
    sent = {"prices_a": [1.0, 1.1, 1.2], "prices_b": [1.2, 1.0, 1.1]}
    for body in (sent, {"simulate": {"steps": 3}}):
        response = client.post("/api/allocate/backtest", json=body, headers=tenant.headers)
        assert response.status_code == 200, (body, response.text)
        assert response.json()["grid_search"]["train_steps"] == 2
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    prices = schemas["BacktestRequest"]["properties"]["prices_a"]["anyOf"][0]
    assert prices["minItems"] == 3
    assert schemas["SimulationSettings"]["properties"]["steps"]["minimum"] == 3
