"""Schemathesis over the whole OpenAPI schema: no answer is a 5xx, and every status code an
operation answers is one its schema documents. A few examples per operation and identity
keep it within a minute; the examples are derandomized, so a failure repeats."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

EXAMPLES = 6
# Logging out revokes the identity's every token, which would leave the rest unauthenticated.
SKIPPED = {"POST /api/auth/logout"}


def _started(app):
    """`app` as it runs already: schemathesis's ASGI calls would start it again (a new
    store, another admin) through its lifespan."""

    async def served(scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    return served


@pytest.mark.parametrize("backend", ["mongomock"], indirect=True)
def test_no_operation_answers_a_5xx_or_an_undocumented_status(client, admin_headers, tenant):
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", _started(client.app))
    identities = {"admin": admin_headers, "tenant user": tenant.headers}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in SKIPPED:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            label = case.operation.label
            for who, headers in identities.items():
                case.headers = {**(case.headers or {}), **headers}
                response = case.call()
                try:
                    case.validate_response(
                        response, checks=[not_a_server_error, status_code_conformance]
                    )
                except Exception as error:  # a check's failure group: record and go on
                    failures.append(f"{label} as {who}: {response.status_code}: {error}"[:600])

        fuzz()
    assert operations > 40
    assert not failures, "\n\n".join(failures[:20])
