"""The OpenAPI document: each operation's errors and their shape, numeric bounds the JSON
Schema way, and every list a page."""

from __future__ import annotations

from collections.abc import Iterator

from tests.request_helpers import _operations


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
    input (what else each answers is checked against its entry by the hostile-input tests in
    test_hostile_input.py). Every documented error answers ErrorOut (a detail message, list or
    object), not FastAPI's default HTTPValidationError."""
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
