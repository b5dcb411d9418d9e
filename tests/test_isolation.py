"""Tenant isolation, the first security property: a client's data is invisible to other clients.

A non-admin's tenant comes from its stored user record only, never from a body, a query field
or a token claim. An id that belongs to another tenant answers 404, exactly like an id that does
not exist. Add every new tenant-scoped resource here: `test_every_id_route_hides_other_tenants`
walks the app's own route list, so a new `{..._id}` route is covered once `OWNED` names it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from engine.mmm.synthetic import generate
from tests.conftest import TenantUser
from utils.db import utcnow
from utils.security import create_token

UNKNOWN_ID = uuid4().hex


def _campaign(client: TestClient, headers: dict, name: str, query: str = "") -> str:
    made = client.post(
        f"/api/campaigns{query}", json={"name": name, "platform": "google"}, headers=headers
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _state(client: TestClient, headers: dict, campaign_ids: list[str], **fields) -> str:
    body = {"campaign_ids": campaign_ids, "budget": 1000, **fields}
    made = client.post("/api/states", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _model(client: TestClient, headers: dict) -> str:
    """A stored marketing-mix model (fitted, or still fitting: either is the tenant's)."""
    rows = generate(3, periods=60, channels=2)["rows"]
    made = client.post("/api/models", json={"rows": rows}, headers=headers)
    assert made.status_code in (201, 202), made.text
    return made.json()["id"]


def _fit(client: TestClient, headers: dict) -> str:
    """A stored curve fit: 30 days of two campaigns with saturating revenue."""
    rows = [
        {
            "date": f"2024-01-{day:02d}",
            "campaign": name,
            "spend": spend,
            "revenue": round(scale * (1 - math.exp(-spend / scale)), 2),
        }
        for day in range(1, 31)
        for name, spend, scale in [("search", 40.0 * day, 900.0), ("social", 25.0 * day, 700.0)]
    ]
    made = client.post("/api/optimize/fit", json={"rows": rows}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


@pytest.fixture
def owned(client: TestClient, tenant: TenantUser) -> dict[str, str]:
    """Resources of `tenant`, by the path parameter that names them."""
    campaigns = [_campaign(client, tenant.headers, name) for name in ("Search", "Social")]
    state = _state(client, tenant.headers, campaigns)
    return {
        "campaign_id": campaigns[0],
        "state_id": state,
        "fit_id": _fit(client, tenant.headers),
        "model_id": _model(client, tenant.headers),
        "other_campaign": campaigns[1],
    }


# --- admin-only resources -------------------------------------------------------------------


def test_a_client_user_cannot_list_or_read_users_or_clients(client, tenant, other_tenant):
    for path in [
        "/api/users",
        f"/api/users/{tenant.username}",
        f"/api/users/{other_tenant.username}",
        "/api/clients",
        f"/api/clients/{tenant.client_id}",
        f"/api/clients/{other_tenant.client_id}",
    ]:
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 403, path
        assert other_tenant.client_id not in response.text
        assert other_tenant.username not in response.text


# --- tenant-scoped resources ----------------------------------------------------------------

# Bodies that pass validation, so the answer is decided by who owns the id.
BODIES: dict[str, Callable[[dict], dict]] = {
    "PATCH /api/campaigns/{campaign_id}": lambda owned: {"status": "paused"},
    "POST /api/states/{state_id}/metrics": lambda owned: {
        "timestep": 0,
        "metrics": [{"campaign_id": owned["campaign_id"], "spend": 1}],
    },
    "POST /api/states/{state_id}/next": lambda owned: {},
    "PATCH /api/states/{state_id}": lambda owned: {"budget": 9000},
}
OWNED = ("campaign_id", "state_id", "fit_id", "model_id")
# Path parameters that name no tenant-owned data: clients (admin only) and one's credentials.
NOT_OWNED = {"client_id", "username"}


def _id_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path template, parameter) for every route naming a tenant-owned id."""
    routes = []
    for path, operations in client.app.openapi()["paths"].items():
        for method in operations:
            for parameter in OWNED:
                if "{" + parameter + "}" in path:
                    routes.append((method.upper(), path, parameter))
    return routes


def _call(client: TestClient, headers: dict, method: str, url: str, body: dict | None):
    return client.request(method, url, json=body, headers=headers)


def test_every_path_parameter_is_known_here(client):
    """A new `{something_id}` route must join OWNED (and `owned`) to be checked below."""
    parameters = {
        name for path in client.app.openapi()["paths"] for name in re.findall(r"\{([^}]+)\}", path)
    }
    assert parameters - NOT_OWNED == set(OWNED)


def test_every_id_route_hides_other_tenants(client, tenant, other_tenant, owned):
    routes = _id_routes(client)
    assert {parameter for _, _, parameter in routes} == set(OWNED)
    # Reads and writes first, deletions last: a deleted id would prove nothing afterwards.
    routes.sort(key=lambda route: route[0] == "DELETE")
    for method, path, parameter in routes:
        key = f"{method} {path}"
        body = BODIES[key](owned) if key in BODIES else None
        urls = {}
        for resource_id in (owned[parameter], UNKNOWN_ID):
            url = path.replace("{" + parameter + "}", resource_id)
            for name in OWNED:
                url = url.replace("{" + name + "}", owned[name])
            urls[resource_id] = url
        theirs = _call(client, other_tenant.headers, method, urls[owned[parameter]], body)
        missing = _call(client, other_tenant.headers, method, urls[UNKNOWN_ID], body)
        assert theirs.status_code == 404, (key, theirs.status_code, theirs.text)
        assert theirs.json() == missing.json(), key
        query = f"{urls[owned[parameter]]}?client_id={tenant.client_id}"
        assert _call(client, other_tenant.headers, method, query, body).status_code == 404, key
    # And the owner still sees everything, unchanged.
    for parameter, route in [
        ("campaign_id", "campaigns"),
        ("state_id", "states"),
        ("fit_id", "optimize/fits"),
        ("model_id", "models"),
    ]:
        response = client.get(f"/api/{route}/{owned[parameter]}", headers=tenant.headers)
        assert response.status_code == 200, route
    campaign = client.get(f"/api/campaigns/{owned['campaign_id']}", headers=tenant.headers)
    assert campaign.json()["status"] == "active"
    state = client.get(f"/api/states/{owned['state_id']}", headers=tenant.headers).json()
    assert (state["status"], state["current_time"]) == ("active", 0)


def test_lists_show_only_the_callers_own_data(client, tenant, other_tenant, owned):
    theirs = _campaign(client, other_tenant.headers, "Search")
    for route in ("campaigns", "states"):
        for query in ("", f"?client_id={tenant.client_id}"):
            page = client.get(f"/api/{route}{query}", headers=other_tenant.headers).json()
            assert all(item["client_id"] == other_tenant.client_id for item in page["items"])
            assert owned["campaign_id"] not in str(page)
            assert owned["state_id"] not in str(page)
    listed = client.get("/api/campaigns", headers=other_tenant.headers).json()
    assert [c["id"] for c in listed["items"]] == [theirs]


def test_a_body_cannot_choose_the_tenant(client, tenant, other_tenant):
    response = client.post(
        "/api/campaigns",
        json={"name": "Mine", "platform": "google", "client_id": tenant.client_id},
        headers=other_tenant.headers,
    )
    assert response.status_code == 422
    made = client.post(
        f"/api/campaigns?client_id={tenant.client_id}",
        json={"name": "Mine", "platform": "google"},
        headers=other_tenant.headers,
    )
    assert made.status_code == 201
    assert made.json()["client_id"] == other_tenant.client_id
    assert client.get("/api/campaigns", headers=tenant.headers).json()["total"] == 0


def test_a_state_cannot_use_another_tenants_campaigns(client, other_tenant, owned):
    mine = _campaign(client, other_tenant.headers, "Mine")

    def create(campaign_ids: list[str]):
        body = {"campaign_ids": campaign_ids, "budget": 100}
        return client.post("/api/states", json=body, headers=other_tenant.headers)

    theirs = create([mine, owned["campaign_id"]])
    missing = create([mine, UNKNOWN_ID])
    assert theirs.status_code == missing.status_code == 422
    assert theirs.text.replace(owned["campaign_id"], UNKNOWN_ID) == missing.text
    assert create([owned["campaign_id"], owned["other_campaign"]]).status_code == 422
    assert client.get("/api/states", headers=other_tenant.headers).json()["total"] == 0


def test_metrics_cannot_name_another_tenants_campaign(client, tenant, other_tenant, owned):
    mine = [_campaign(client, other_tenant.headers, n) for n in ("A", "B")]
    state = _state(client, other_tenant.headers, mine)
    response = client.post(
        f"/api/states/{state}/metrics",
        json={"timestep": 0, "metrics": [{"campaign_id": owned["campaign_id"], "spend": 5}]},
        headers=other_tenant.headers,
    )
    assert response.status_code == 422
    own_state = client.get(f"/api/states/{owned['state_id']}/metrics", headers=tenant.headers)
    assert own_state.status_code == 200
    assert all(row is None for row in own_state.json().values())


def test_a_token_claiming_another_client_stays_in_its_users_client(
    client, admin_headers, tenant, other_tenant, owned
):
    user = client.get(f"/api/users/{other_tenant.username}", headers=admin_headers).json()
    forged = create_token(
        client.app.state.secret_key,
        subject=other_tenant.username,
        user_id=user["id"],
        scopes=["read", "write"],
        client_id=tenant.client_id,
        token_version=0,
        minutes=5,
    )
    headers = {"Authorization": f"Bearer {forged}"}
    assert client.get("/api/campaigns", headers=headers).json()["total"] == 0
    assert client.get(f"/api/campaigns/{owned['campaign_id']}", headers=headers).status_code == 404


# --- admins pick a tenant with ?client_id= --------------------------------------------------


def test_admin_scopes_requests_with_client_id(client, admin_headers, tenant, other_tenant, owned):
    theirs = _campaign(client, other_tenant.headers, "Theirs")
    everything = client.get("/api/campaigns", headers=admin_headers).json()
    mine = {owned["campaign_id"], owned["other_campaign"]}
    assert {c["id"] for c in everything["items"]} == {*mine, theirs}
    scoped = client.get(f"/api/campaigns?client_id={tenant.client_id}", headers=admin_headers)
    assert {c["id"] for c in scoped.json()["items"]} == mine
    query = f"?client_id={other_tenant.client_id}"
    hidden = client.get(f"/api/campaigns/{owned['campaign_id']}{query}", headers=admin_headers)
    assert hidden.status_code == 404
    seen = client.get(f"/api/campaigns/{owned['campaign_id']}", headers=admin_headers)
    assert seen.status_code == 200
    unknown = client.get(f"/api/campaigns?client_id={UNKNOWN_ID}", headers=admin_headers)
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Client not found"}


def test_admin_must_name_the_client_to_create(client, admin_headers, tenant):
    response = client.post(
        "/api/campaigns", json={"name": "Orphan", "platform": "google"}, headers=admin_headers
    )
    assert response.status_code == 422
    assert "client_id" in response.json()["detail"]
    made = _campaign(client, admin_headers, "Placed", f"?client_id={tenant.client_id}")
    listed = client.get("/api/campaigns", headers=tenant.headers).json()
    assert [c["id"] for c in listed["items"]] == [made]


# --- the scheduler --------------------------------------------------------------------------


def test_a_cron_user_advances_only_its_own_clients_states(
    client, admin_headers, make_tenant: Callable[..., TenantUser]
):
    first, second = make_tenant(), make_tenant(scopes=("read", "write", "cron"))
    past = (utcnow() - timedelta(hours=3)).isoformat()
    due = {"start_at": past, "timestep_hours": 1}
    first_state = _state(
        client, first.headers, [_campaign(client, first.headers, n) for n in "AB"], **due
    )
    second_state = _state(
        client, second.headers, [_campaign(client, second.headers, n) for n in "AB"], **due
    )
    run = client.post("/api/timesteps/run", headers=second.headers)
    assert run.status_code == 200, run.text
    assert [row["id"] for row in run.json()["advanced"]] == [second_state]
    assert first_state not in run.text
    first_now = client.get(f"/api/states/{first_state}", headers=first.headers).json()
    assert first_now["current_time"] == 0
    second_now = client.get(f"/api/states/{second_state}", headers=second.headers).json()
    assert second_now["current_time"] >= 1
    assert client.post("/api/timesteps/run", headers=first.headers).status_code == 403
    everyone = client.post("/api/timesteps/run", headers=admin_headers)
    assert first_state in [row["id"] for row in everyone.json()["advanced"]]
