"""Every operation the app declares, given hostile bodies, paths and queries: never a 500,
and every error it answers is documented."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import USER_PASSWORD, TenantUser
from tests.request_helpers import _campaign, _operations, _raw, _state

# --- every operation, hostile input: never a 500 --------------------------------------------

HOSTILE_BODIES = [b"NaN", b"null", b"[]", b'"text"', b"1e999", b'{"$where": "sleep(1000)"}']
# Valid-but-extreme values (where storage or the engine could break) and invalid ones.
HOSTILE_VALUES: list[object] = [
    1e308,
    5e-324,
    2**63 - 1,
    -(2**63),
    10**40,
    0,
    "\x00",
    "\U0001f419" * 60,
    float("nan"),
    {"$gt": ""},
    None,
]
VALUES_PER_FIELD = 4
HOSTILE_SEGMENTS = ["%00", "%24ne", "x" * 300, "%F0%9F%90%99"]
HOSTILE_QUERY = ["-1", "NaN", "99999999999999999999999", "%00"]


@dataclass
class World:
    """Real objects for the path parameters, so hostile bodies reach the handlers."""

    admin: dict[str, str]
    tenant: TenantUser
    ids: dict[str, str]
    baselines: dict[str, dict]


@pytest.fixture
def world(client, admin_headers, tenant) -> World:
    campaigns = [_campaign(client, tenant.headers, n) for n in ("A", "B", "C")]
    state = _state(client, tenant.headers, campaigns[:2])
    victim = client.post(
        "/api/users",
        json={"username": "victim", "password": USER_PASSWORD, "client_id": tenant.client_id},
        headers=admin_headers,
    )
    assert victim.status_code == 201
    credential = client.post("/api/users/me/credentials", json={}, headers=tenant.headers)
    ids = {
        "client_id": tenant.client_id,
        "campaign_id": campaigns[2],
        "state_id": state,
        "username": "victim",
        "credential": credential.json()["client_id"],
    }
    baselines = {
        "POST /api/users": {"username": "fuzzed", "password": "fuzz-password"},
        "POST /api/clients": {"name": "Fuzz"},
        "POST /api/campaigns": {"name": "Fuzz", "platform": "google"},
        "POST /api/states": {"campaign_ids": campaigns[:2], "budget": 1000},
        "POST /api/states/{state_id}/metrics": {
            "timestep": 0,
            "metrics": [{"campaign_id": campaigns[0], "spend": 10}],
        },
    }
    return World(admin_headers, tenant, ids, baselines)


def _fill(path: str, ids: dict[str, str]) -> str:
    if path.endswith("/me/credentials/{client_id}"):
        return path.replace("{client_id}", ids["credential"])
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


def _baseline(key: str, operation: dict, world: World) -> dict:
    if key in world.baselines:
        return world.baselines[key]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    examples = content.get("schema", {}).get("examples") or content.get("examples")
    if isinstance(examples, list) and examples and isinstance(examples[0], dict):
        return examples[0]
    return {}


def _encode(body: object) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


def _bodies(operation: dict, baseline: dict, client: TestClient) -> Iterator[bytes]:
    """Hostile whole bodies, then the baseline with one field changed at a time.

    Each field gets a few of HOSTILE_VALUES, rotating, so that together the fields of an
    operation try every value while the request count stays small.
    """
    yield from HOSTILE_BODIES
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = client.app.openapi()["components"]["schemas"][name]
    for index, field in enumerate([*schema.get("properties", {}), "unexpected"]):
        for offset in range(VALUES_PER_FIELD):
            value = HOSTILE_VALUES[(index * VALUES_PER_FIELD + offset) % len(HOSTILE_VALUES)]
            yield _encode({**baseline, field: value})


class Caller:
    """Sends as the tenant's user, or as an admin naming the tenant once a route refuses it."""

    def __init__(self, client: TestClient, world: World) -> None:
        self.probe = TestClient(client.app, raise_server_exceptions=False)
        self.world = world
        self.admin_only: set[str] = set()

    def send(self, key: str, method: str, url: str, body: bytes | None = None):
        for admin in (False, True):
            if not admin and key in self.admin_only:
                continue
            headers = self.world.admin if admin else self.world.tenant.headers
            if admin:
                separator = "&" if "?" in url else "?"
                url = f"{url}{separator}client_id={self.world.tenant.client_id}"
            if body is None:
                response = self.probe.request(method, url, headers=headers)
            else:
                response = _raw(self.probe, method, url, body, headers)
            if admin or response.status_code != 403:
                return response
            self.admin_only.add(key)
        raise AssertionError("unreachable")


def _never_500(response, what: object, operation: dict | None = None) -> list[str]:
    """Failures of one answer: a 500, an error without `detail`, or an error status the
    operation's OpenAPI entry does not document (400, a malformed body, is the framework's)."""
    status = response.status_code
    if status >= 500:
        return [f"{what}: {status} {response.text[:200]}"]
    if status >= 400 and "detail" not in response.json():
        return [f"{what}: {status} without detail"]
    if operation is not None and status > 400 and str(status) not in operation["responses"]:
        return [f"{what}: {status} is not documented"]
    return []


def test_no_hostile_body_reaches_a_500(client, world):
    """Every JSON operation the app declares, with real ids in its path."""
    caller = Caller(client, world)
    failures: list[str] = []
    for method, path, operation in _operations(client):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        key = f"{method} {path}"
        if key == "PATCH /api/auth/account":
            continue  # test_auth_revocation covers it: a hostile success would end the session
        url = _fill(path, world.ids)
        for body in _bodies(operation, _baseline(key, operation, world), client):
            answer = caller.send(key, method, url, body)
            failures += _never_500(answer, (key, body[:80]), operation)
    assert failures == []


def _numeric_fields(schema: dict, components: dict, prefix: str = "") -> Iterator[str]:
    """Paths of the number fields of a body schema: `a`, `a.b`, `a[].b` (lists of objects),
    `a[]` (lists of numbers); fields that also take text or booleans by design (policy
    parameters) are left out."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    for option in schema.get("anyOf", []):  # an optional body
        yield from _numeric_fields(option, components, prefix)
    for name, field in schema.get("properties", {}).items():
        options = [field, *field.get("anyOf", [])]
        options = [components[o["$ref"].rsplit("/", 1)[-1]] if "$ref" in o else o for o in options]
        types = {o.get("type") for o in options} - {None, "null"}
        if types and types <= {"number", "integer"}:
            yield prefix + name
        for option in options:
            if option.get("properties"):
                yield from _numeric_fields(option, components, f"{prefix}{name}.")
            items = option.get("items", {})
            if option.get("type") == "array" and ("properties" in items or "$ref" in items):
                yield from _numeric_fields(items, components, f"{prefix}{name}[].")
            elif option.get("type") == "array" and items.get("type") in ("number", "integer"):
                yield f"{prefix}{name}[]"


def _with_value(body: dict, path: str, value: object) -> dict | None:
    """`body` with the field at `path` set to `value`; None when the body has no such list."""
    head, _, rest = path.partition(".")
    if not rest:
        name = head.removesuffix("[]")
        return {**body, name: [value] if head.endswith("[]") else value}
    name = head.removesuffix("[]")
    if head.endswith("[]"):
        rows = body.get(name)
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
            return None
        changed = _with_value(rows[0], rest, value)
        return None if changed is None else {**body, name: [changed, *rows[1:]]}
    inner = _with_value(body.get(name) or {}, rest, value)
    return None if inner is None else {**body, name: inner}


def test_booleans_are_not_numbers_in_any_body(client, world):
    """`"step": true` must not turn pacing off by reading as 1.0: every number field of every
    JSON body answers 422 naming the field when sent true or false."""
    caller = Caller(client, world)
    components = client.app.openapi()["components"]["schemas"]
    checked, accepted = [], []
    for method, path, operation in _operations(client):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        key = f"{method} {path}"
        baseline = _baseline(key, operation, world)
        for field in _numeric_fields(content["application/json"]["schema"], components):
            for value in (True, False):
                body = _with_value(baseline, field, value)
                if body is None:
                    continue
                answer = caller.send(key, method, _fill(path, world.ids), _encode(body))
                tail = [part.removesuffix("[]") for part in field.split(".")][-1]
                named = answer.status_code == 422 and any(
                    isinstance(error, dict) and tail in error.get("loc", [])
                    for error in answer.json()["detail"]
                    if isinstance(answer.json()["detail"], list)
                )
                checked.append((key, field))
                if not named:
                    accepted.append((key, field, value, answer.status_code))
    assert accepted == []
    fields = {field for _, field in checked}
    assert {"budget", "step", "timesteps", "timestep", "metrics[].spend", "expected_time"} <= fields


def test_no_hostile_path_or_query_reaches_a_500(client, world):
    caller = Caller(client, world)
    failures: list[str] = []
    for method, path, operation in _operations(client):
        if path == "/api/auth/account":
            continue
        key = f"{method} {path}"
        parameters = operation.get("parameters", [])
        urls = [
            path.replace("{" + p["name"] + "}", segment)
            for p in parameters
            if p["in"] == "path"
            for segment in HOSTILE_SEGMENTS
        ]
        if method != "DELETE":  # real ids here: keep the world intact for the other requests
            urls += [
                f"{_fill(path, world.ids)}?{p['name']}={value}"
                for p in parameters
                if p["in"] == "query" and p["name"] != "client_id"
                for value in HOSTILE_QUERY
            ]
        for url in urls:
            failures += _never_500(caller.send(key, method, url), (method, url[:120]), operation)
        if method == "GET" and any(p["name"] == "client_id" for p in parameters):
            for value in HOSTILE_QUERY:  # an admin naming a hostile tenant
                url = f"{_fill(path, world.ids)}?client_id={value}"
                response = caller.probe.get(url, headers=world.admin)
                failures += _never_500(response, ("admin", url[:120]))
    assert failures == []
