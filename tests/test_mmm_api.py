"""The marketing-mix model endpoints: /api/models (every backend)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.mmm import MarketingMixModel
from engine.mmm.model import DEFAULT_ROI_PRIOR, resolve_roi_prior
from engine.mmm.synthetic import generate
from utils import marketing_mix

SHAPE = {"id", "status", "progress", "kpi", "periods", "channels", "diagnostics", "warnings"}
CHANNEL = {"channel", "spend", "contribution", "roi", "mroi", "adstock", "saturation"}


@pytest.fixture
def rows() -> list[dict]:
    return generate(3, periods=60, channels=2, noise=0.05)["rows"]


@pytest.fixture(autouse=True)
def wait_for_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fits answer 201 within the request unless a test says otherwise; small samplers keep
    the tests fast (the engine's own tests cover the posterior)."""
    monkeypatch.setattr(marketing_mix, "SYNC_SECONDS", 120.0)
    monkeypatch.setattr(marketing_mix, "SAMPLER", {"draws": 200, "chains": 4, "burn": 10})


def poll(client, headers, model_id: str) -> dict:
    for _ in range(600):
        answer = client.get(f"/api/models/{model_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        if answer.json()["status"] != "fitting":
            return answer.json()
        time.sleep(0.1)
    raise AssertionError("the fit did not end")


def test_fit_rows_and_read_every_answer(client, tenant, rows):
    made = client.post(
        "/api/models",
        json={"rows": rows, "controls": ["price"], "kpi": "revenue"},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    model = made.json()
    assert set(model) >= SHAPE and model["status"] == "ready" and model["progress"] == 1.0
    assert model["kpi"] == "revenue" and model["periods"] == 60
    assert [c["channel"] for c in model["channels"]] == ["tv", "search"]
    for channel in model["channels"]:
        assert set(channel) == CHANNEL
        for key in ("contribution", "roi", "mroi"):
            assert channel[key]["low"] <= channel[key]["mean"] <= channel[key]["high"]
        assert set(channel["adstock"]["theta"]) == {"mean", "low", "high"}
        assert set(channel["saturation"]["params"]) == {"vmax", "k", "n"}
    assert set(model["diagnostics"]) == {"r2", "nrmse", "mape_holdout", "decomp_rssd"}

    assert client.get(f"/api/models/{model['id']}", headers=tenant.headers).json() == model
    listed = client.get("/api/models?limit=1", headers=tenant.headers).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == model["id"]

    parts = client.get(f"/api/models/{model['id']}/decomposition", headers=tenant.headers)
    assert parts.status_code == 200
    parts = parts.json()
    total = np.sum([parts[k] for k in ("baseline", "trend", "seasonality", "controls")], axis=0)
    total += np.sum(list(parts["channels"].values()), axis=0)
    assert np.allclose(total, parts["fitted"]) and len(parts["dates"]) == 60

    curves = client.get(f"/api/models/{model['id']}/curves", headers=tenant.headers).json()
    assert [c["channel"] for c in curves["channels"]] == ["tv", "search"]
    for curve in curves["channels"]:
        assert np.all(np.array(curve["low"]) <= np.array(curve["high"]))

    assert client.delete(f"/api/models/{model['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"/api/models/{model['id']}", headers=tenant.headers).status_code == 404


def test_csv_upload_with_form_fields(client, tenant, rows):
    header = list(rows[0])
    text = "\n".join([",".join(header)] + [",".join(str(r[k]) for k in header) for r in rows])
    made = client.post(
        "/api/models",
        files={"file": ("history.csv", text, "text/csv")},
        data={"controls": "price", "saturation": "negexp", "holdout": "0.15"},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    model = made.json()
    assert model["channels"][0]["saturation"]["family"] == "negexp"
    assert model["diagnostics"]["mape_holdout"] is not None
    wrong = client.post(
        "/api/models",
        files={"file": ("history.csv", text, "text/csv")},
        data={"colour": "blue"},
        headers=tenant.headers,
    )
    assert wrong.status_code == 422 and "colour" in wrong.json()["detail"]


def test_bad_data_names_column_and_row_and_stores_nothing(client, tenant, rows):
    broken = [dict(row) for row in rows]
    broken[2]["tv"] = "lots"
    answer = client.post("/api/models", json={"rows": broken}, headers=tenant.headers)
    assert answer.status_code == 422
    assert "row 3" in answer.json()["detail"] and "'tv'" in answer.json()["detail"]
    short = client.post("/api/models", json={"rows": rows[:10]}, headers=tenant.headers)
    assert short.status_code == 422 and "at least" in short.json()["detail"]
    prior = {"channel": "radio", "roi_mean": 2.0, "roi_sd": 0.5}
    unknown = client.post(
        "/api/models", json={"rows": rows, "priors": [prior]}, headers=tenant.headers
    )
    assert unknown.status_code == 422 and "radio" in unknown.json()["detail"]
    extra = client.post("/api/models", json={"rows": rows, "colour": 1}, headers=tenant.headers)
    assert extra.status_code == 422
    assert client.get("/api/models", headers=tenant.headers).json()["total"] == 0


def test_models_are_private_to_their_tenant(client, tenant, other_tenant, make_tenant, rows):
    made = client.post("/api/models", json={"rows": rows}, headers=tenant.headers).json()
    for path in ("", "/decomposition", "/curves"):
        answer = client.get(f"/api/models/{made['id']}{path}", headers=other_tenant.headers)
        assert answer.status_code == 404
    gone = client.delete(f"/api/models/{made['id']}", headers=other_tenant.headers)
    assert gone.status_code == 404
    assert client.get("/api/models", headers=other_tenant.headers).json()["total"] == 0
    reader = make_tenant(scopes=("read",))
    refused = client.post("/api/models", json={"rows": rows}, headers=reader.headers)
    assert refused.status_code == 403


def test_a_long_fit_answers_202_and_is_polled(client, tenant, rows, monkeypatch):
    monkeypatch.setattr(marketing_mix, "SYNC_SECONDS", 0.0)
    made = client.post("/api/models", json={"rows": rows}, headers=tenant.headers)
    assert made.status_code == 202, made.text
    job = made.json()
    assert job["status"] == "fitting" and job["channels"] == [] and job["diagnostics"] is None
    done = poll(client, tenant.headers, job["id"])
    assert done["status"] == "ready" and done["progress"] == 1.0 and done["channels"]
    parts = client.get(f"/api/models/{job['id']}/decomposition", headers=tenant.headers)
    assert parts.status_code == 200


def test_a_failing_fit_is_reported(client, tenant, rows, monkeypatch):
    def broken(self, data, progress=None):
        raise FloatingPointError("the sampler diverged")

    monkeypatch.setattr(MarketingMixModel, "fit", broken)
    quick = client.post("/api/models", json={"rows": rows}, headers=tenant.headers)
    assert quick.status_code == 422 and "diverged" in quick.json()["detail"]
    assert client.get("/api/models", headers=tenant.headers).json()["total"] == 0
    monkeypatch.setattr(marketing_mix, "SYNC_SECONDS", 0.0)
    job = client.post("/api/models", json={"rows": rows}, headers=tenant.headers).json()
    failed = poll(client, tenant.headers, job["id"])
    assert failed["status"] == "failed" and "diverged" in failed["error"]
    refused = client.get(f"/api/models/{job['id']}/curves", headers=tenant.headers)
    assert refused.status_code == 409


def test_the_roi_prior_is_a_setting_the_answer_shows(client, tenant, rows):
    """`roi_prior` in JSON and form fields: the answer's settings show the prior used
    (`auto` resolved by the KPI); a bad value answers 422 naming it and stores nothing."""
    made = client.post(
        "/api/models", json={"rows": rows, "roi_prior": "lognormal"}, headers=tenant.headers
    )
    assert made.status_code == 201, made.text
    settings = made.json()["settings"]
    assert settings == {
        "saturation": "hill",
        "max_lag": None,
        "holdout": 0.1,
        "roi_prior": "lognormal",
    }
    stored = client.get(f"/api/models/{made.json()['id']}", headers=tenant.headers).json()
    assert stored["settings"] == settings
    plain = client.post("/api/models", json={"rows": rows}, headers=tenant.headers).json()
    assert plain["settings"]["roi_prior"] == resolve_roi_prior(DEFAULT_ROI_PRIOR, "revenue")
    converted = [
        {("conversions" if key == "revenue" else key): value for key, value in row.items()}
        for row in rows
    ]
    counted = client.post(
        "/api/models", json={"rows": converted, "roi_prior": "auto"}, headers=tenant.headers
    )
    assert counted.json()["settings"]["roi_prior"] == "zero"
    header = list(rows[0])
    text = "\n".join([",".join(header)] + [",".join(str(r[k]) for k in header) for r in rows])
    upload = client.post(
        "/api/models",
        files={"file": ("history.csv", text, "text/csv")},
        data={"roi_prior": "auto"},
        headers=tenant.headers,
    )
    assert upload.status_code == 201 and upload.json()["settings"]["roi_prior"] == "lognormal"
    total = client.get("/api/models", headers=tenant.headers).json()["total"]
    bad = client.post(
        "/api/models", json={"rows": rows, "roi_prior": "flat"}, headers=tenant.headers
    )
    assert bad.status_code == 422 and "roi_prior" in bad.text
    bad_form = client.post(
        "/api/models",
        files={"file": ("history.csv", text, "text/csv")},
        data={"roi_prior": "ratio"},
        headers=tenant.headers,
    )
    assert bad_form.status_code == 422 and "roi_prior" in bad_form.text
    assert client.get("/api/models", headers=tenant.headers).json()["total"] == total
