"""Invalid input answers a JSON 4xx and stores nothing: no input reaches a 500.

NaN and infinities are sent as raw JSON literals (b'{"budget": NaN}'), the way a careless
client's JSON encoder writes them; Python's json module reads them as floats.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import USER_PASSWORD, TenantUser

NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"]
JSON = {"Content-Type": "application/json"}


def _raw(client: TestClient, method: str, path: str, body: bytes, headers: dict):
    return client.request(method, path, content=body, headers={**headers, **JSON})


def _total(client: TestClient, path: str, headers: dict) -> int:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["total"]


def _campaign(client: TestClient, headers: dict, name: str) -> str:
    made = client.post("/api/campaigns", json={"name": name, "platform": "google"}, headers=headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _state(client: TestClient, headers: dict, campaign_ids: list[str]) -> str:
    made = client.post(
        "/api/states", json={"campaign_ids": campaign_ids, "budget": 1000}, headers=headers
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


# --- NaN and infinities ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        {"name": "ucb", "params": {"c": 10**400}},
        {"name": "curve", "params": {"grid_size": 10**30}},
        {"name": "rps", "params": {"lookback": 2**64}},
    ],
)
def test_policy_parameters_beyond_any_number_answer_422_and_store_nothing(client, tenant, policy):
    ids = [_campaign(client, tenant.headers, n) for n in ("A", "B")]
    body = {"campaign_ids": ids, "budget": 1000, "policy": policy}
    response = client.post("/api/states", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert _total(client, "/api/states", tenant.headers) == 0


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_campaign_budgets_answer_422_and_store_nothing(client, tenant, literal):
    for field in (b"min_budget", b"max_budget"):
        body = b'{"name": "Search", "platform": "google", "%s": %s}' % (field, literal)
        response = _raw(client, "POST", "/api/campaigns", body, tenant.headers)
        assert response.status_code == 422, (field, response.text)
        assert json.loads(response.text)["detail"]
    assert _total(client, "/api/campaigns", tenant.headers) == 0


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_state_numbers_answer_422_and_store_nothing(client, tenant, literal):
    ids = json.dumps([_campaign(client, tenant.headers, n) for n in ("A", "B")]).encode()
    for field in (b"budget", b"step", b"floor", b"timestep_hours"):
        values = {b"budget": b"1000", field: literal}
        fields = b", ".join(b'"%s": %s' % item for item in values.items())
        body = b'{"campaign_ids": %s, %s}' % (ids, fields)
        response = _raw(client, "POST", "/api/states", body, tenant.headers)
        assert response.status_code == 422, (field, response.text)
    assert _total(client, "/api/states", tenant.headers) == 0


def test_non_finite_metrics_answer_422_and_record_nothing(client, tenant):
    campaigns = [_campaign(client, tenant.headers, n) for n in ("A", "B")]
    state = _state(client, tenant.headers, campaigns)
    before = client.get(f"/api/states/{state}/metrics", headers=tenant.headers).json()
    for literal in NON_FINITE:
        for field in (b"spend", b"revenue", b"clicks"):
            body = b'{"timestep": 0, "metrics": [{"campaign_id": "%s", "spend": 1, "%s": %s}]}' % (
                campaigns[0].encode(),
                field,
                literal,
            )
            response = _raw(client, "POST", f"/api/states/{state}/metrics", body, tenant.headers)
            assert response.status_code == 422, (field, literal, response.text)
    assert client.get(f"/api/states/{state}/metrics", headers=tenant.headers).json() == before


def test_non_finite_prices_answer_422(client, tenant):
    for literal in NON_FINITE:
        body = b'{"prices_a": [1.0, %s], "prices_b": [1.3, 1.2]}' % literal
        response = _raw(client, "POST", "/api/allocate", body, tenant.headers)
        assert response.status_code == 422, literal


def test_the_422_answer_echoing_a_nan_is_valid_json(client, admin_headers):
    response = _raw(client, "POST", "/api/clients", b'{"name": NaN}', admin_headers)
    assert response.status_code == 422
    assert b"NaN" not in response.content
    detail = json.loads(response.content)["detail"]
    assert detail[0]["loc"] == ["body", "name"]


# --- unknown fields, wrong shapes -----------------------------------------------------------


def test_unknown_fields_in_create_bodies_answer_422_and_store_nothing(
    client, admin_headers, tenant
):
    campaigns = [_campaign(client, tenant.headers, n) for n in ("A", "B")]
    creations = [
        ("/api/clients", {"name": "Acme"}, admin_headers, "/api/clients", 1),
        (
            "/api/users",
            {"username": "frank", "password": USER_PASSWORD, "client_id": tenant.client_id},
            admin_headers,
            "/api/users",
            2,
        ),
        (
            "/api/campaigns",
            {"name": "C", "platform": "google"},
            tenant.headers,
            "/api/campaigns",
            2,
        ),
        (
            "/api/states",
            {"campaign_ids": campaigns, "budget": 10},
            tenant.headers,
            "/api/states",
            0,
        ),
    ]
    for path, body, headers, listing, total in creations:
        for extra in ({"color": "red"}, {"client_id": "someone-else"}, {"_id": "chosen"}):
            if set(extra) <= set(body):
                continue
            response = client.post(path, json={**body, **extra}, headers=headers)
            assert response.status_code == 422, (path, extra, response.text)
        assert _total(client, listing, headers) == total, path
    credential = client.post(
        "/api/users/me/credentials", json={"scopes": ["admin"]}, headers=tenant.headers
    )
    assert credential.status_code == 422
    assert client.get("/api/users/me/credentials", headers=tenant.headers).json()["items"] == []


def test_query_operators_in_bodies_are_refused_not_run(client, admin_headers, tenant):
    for path, body, headers in [
        ("/api/clients", {"name": {"$gt": ""}}, admin_headers),
        ("/api/users", {"username": {"$ne": None}, "password": USER_PASSWORD}, admin_headers),
        ("/api/campaigns", {"name": {"$ne": ""}, "platform": "google"}, tenant.headers),
    ]:
        assert client.post(path, json=body, headers=headers).status_code == 422, path
    response = client.post(
        "/api/auth/token", data={"username": '{"$ne": null}', "password": '{"$ne": null}'}
    )
    assert response.status_code == 401


def test_bodies_that_are_not_json_objects_answer_422(client, admin_headers):
    for body in [b"", b"null", b"[]", b'"Acme"', b"42", b"{", b"\xff\xfe", b'{"name": "A"} x']:
        response = _raw(client, "POST", "/api/clients", body, admin_headers)
        assert response.status_code == 422, body
    assert _total(client, "/api/clients", admin_headers) == 0


def test_deeply_nested_json_answers_400_not_500(client, admin_headers):
    body = b"[" * 100_000 + b"]" * 100_000
    response = _raw(client, "POST", "/api/clients", body, admin_headers)
    assert response.status_code in (400, 422)
    assert "detail" in response.json()


def test_unknown_routes_and_methods_answer_json(client, admin_headers):
    missing = client.get("/api/nothing-here", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = client.put("/api/clients", json={}, headers=admin_headers)
    assert wrong.status_code == 405
    assert "detail" in wrong.json()


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


def _operations(client: TestClient) -> Iterator[tuple[str, str, dict]]:
    for path, operations in client.app.openapi()["paths"].items():
        for method, operation in operations.items():
            yield method.upper(), path, operation


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
            continue  # covered in test_auth: a hostile success here would end the session
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


def _body_fields(operation: dict, schemas: dict) -> set[str]:
    """Top-level fields of an operation's JSON body."""
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = schema.get("schema", {})
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return set(schema.get("properties", {}))


def test_every_operation_documents_its_errors_with_their_shape(client):
    """Secured operations document 401; 404 those naming an object (in the path, or by a body
    field `..._id`) and those an admin points at a client with `?client_id=`; 422 those taking
    input (what else each answers is checked against its entry by the hostile-input tests
    above). Every documented error answers ErrorOut (a detail message, list or object), not
    FastAPI's default HTTPValidationError."""
    schemas = client.app.openapi()["components"]["schemas"]
    missing = []
    for method, path, operation in _operations(client):
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        expected = set()
        if operation.get("security"):
            expected.add("401")
        if "{" in path:
            expected.add("404")
        if any(p["name"] == "client_id" and p["in"] == "query" for p in parameters):
            expected.add("404")
        if any(name.endswith(("_id", "_ids")) for name in _body_fields(operation, schemas)):
            expected.add("404")
        if parameters or operation.get("requestBody"):
            expected.add("422")
        missing += [f"{method} {path}: {code}" for code in sorted(expected - set(responses))]
        for code, response in responses.items():
            if int(code) < 400:
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref", "").rsplit("/", 1)[-1] != "ErrorOut":
                missing.append(f"{method} {path}: {code} does not answer ErrorOut")
    assert missing == []


def _pydantic_keywords(node: object, path: str = "") -> Iterator[str]:
    """Where a schema holds pydantic's own constraint names instead of JSON Schema's."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"ge", "gt", "le", "lt", "allow_inf_nan"} and not isinstance(value, dict):
                yield f"{path}.{key}"
            yield from _pydantic_keywords(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _pydantic_keywords(value, f"{path}[{index}]")


def test_numeric_bounds_are_published_as_json_schema(client):
    """Client generators and the /api docs read minimum/maximum, not pydantic's ge/le: every
    bound is published the JSON Schema way (a validator in front of a constraint hides it)."""
    schema = client.app.openapi()
    assert list(_pydantic_keywords(schema)) == []
    components = schema["components"]["schemas"]
    spend = components["MetricRow"]["properties"]["spend"]
    assert (spend["minimum"], spend["maximum"]) == (0, 1e12)
    seed = components["StateCreate"]["properties"]["seed"]["anyOf"][0]
    assert seed["minimum"] == 0 and seed["exclusiveMaximum"] == 2**63


def test_a_nan_budget_is_refused_as_not_finite(client, tenant):
    body = b'{"name": "N", "platform": "meta", "max_budget": NaN}'
    response = _raw(client, "POST", "/api/campaigns", body, tenant.headers)
    assert response.status_code == 422
    assert [error["type"] for error in response.json()["detail"]] == ["finite_number"]


def test_every_list_is_paginated(client):
    """A list answer is a page (`items`, `total`, `limit`, `offset`) taking `limit` and
    `offset`, never a bare array that grows without bound."""
    schemas = client.app.openapi()["components"]["schemas"]
    bare, unpaged = [], []
    for method, path, operation in _operations(client):
        if method != "GET":
            continue
        answer = operation["responses"].get("200", {}).get("content", {})
        schema = answer.get("application/json", {}).get("schema", {})
        if schema.get("type") == "array":
            bare.append(path)
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        if name.startswith("Page"):
            assert {"items", "total", "limit", "offset"} <= set(schemas[name]["properties"])
            queries = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            if not {"limit", "offset"} <= queries:
                unpaged.append(path)
    assert bare == [] and unpaged == []
