"""Field types and response shapes shared by every router."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from engine.datasets import MAX_NUMBER

T = TypeVar("T")


def _not_a_boolean(value: Any) -> Any:
    """JSON's true and false are not numbers. Pydantic's lax mode would read them as 1 and 0,
    so `"step": true` would quietly turn pacing off; numeric text stays accepted (form fields
    arrive as text)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


NotBoolean = BeforeValidator(_not_a_boolean)


def bounded(kind: type, **constraints: Any) -> Any:
    """`kind` (int or float) within pydantic `Field` constraints, refusing true and false.

    The constraints come before the boolean check: behind a validator pydantic can no longer
    write them as JSON Schema's minimum and maximum, so OpenAPI would not show them, and NaN
    would be refused as "not >= 0" instead of "not a finite number".
    """
    return Annotated[kind, Field(**constraints), NotBoolean]


Integer = Annotated[int, NotBoolean]
Real = Annotated[float, NotBoolean]
FiniteFloat = bounded(float, allow_inf_nan=False)
# Far above any real budget or count, far below what overflows arithmetic; fit data rows meet
# the same cap in engine.datasets.
MAX_AMOUNT = MAX_NUMBER
Money = bounded(
    float, ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="An amount of money >= 0."
)
PositiveMoney = bounded(float, gt=0, le=MAX_AMOUNT, allow_inf_nan=False)
Share = bounded(float, ge=0, le=1, allow_inf_nan=False)
Name = Annotated[str, Field(min_length=1, max_length=200)]
# A stored object's name, as its owner types it: surrounding spaces dropped, so "Search " and
# "Search" are one name, and a name of spaces only is no name.
DisplayName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
Id = Annotated[str, Field(min_length=1, max_length=64)]


@dataclass(frozen=True, slots=True)
class Checked:
    """A request body validated in a worker thread (utils/bodies.py): the validated model,
    or the ValidationError its validation raised."""

    value: Any = None
    error: ValidationError | None = None


class RequestBody(BaseModel):
    """A request body. FastAPI validates bodies on the event loop; a large one arrives there
    as `Checked`, already validated in a worker thread, and is handed over as it came out: the
    model as it is, its error raised again, so the answer is that of validating it here. (The
    body model's own `after` checks then run once more, on the finished model: cheap checks of
    a few fields, which answer the same.)"""

    @model_validator(mode="wrap")
    @classmethod
    def _checked_in_a_thread(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, Checked):
            if value.error is not None:
                raise value.error
            return value.value
        return handler(value)


class CreateBody(RequestBody):
    """A request body that creates something: unknown fields are mistakes, answered with 422."""

    model_config = ConfigDict(extra="forbid")


class UpdateBody(RequestBody):
    """A partial update: only the fields sent are changed; unknown fields answer 422."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list, with what is needed to ask for the next one."""

    items: list[T]
    total: int = Field(description="How many items match, over all pages.")
    limit: int
    offset: int


class ErrorOut(BaseModel):
    """Every error answer. `detail` is a message; a list of field errors when a request does
    not validate (422); an object with `message` and `current_time` when `next` conflicts."""

    detail: str | list[dict[str, Any]] | dict[str, Any]


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed request",
    401: "Not authenticated: no bearer token, or an expired or invalid one",
    403: "The token lacks the scope this operation needs",
    404: "Not found for this client (another client's ids answer the same)",
    409: "Conflicts with what is stored",
    422: "Invalid request: a list of field errors, or a message saying what cannot be done",
    429: "Too many failed attempts: wait before trying again",
    503: "The database does not answer",
}


def errors(*codes: int, described: Mapping[int, str] | None = None) -> dict[int | str, Any]:
    """OpenAPI `responses` for error codes, each answering ErrorOut; `described` gives an
    operation's own wording for some of them."""
    described = described or {}
    return {
        code: {"model": ErrorOut, "description": described.get(code, ERROR_DESCRIPTIONS[code])}
        for code in codes
    }


TENANT_ERRORS = errors(401, 403, 404, 422, 503)
"""What every tenant-scoped operation can answer besides its success."""


# MongoDB stores skip counts as 64-bit integers; larger offsets would fail in the driver.
MAX_OFFSET = 1_000_000_000


class Pagination(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


def inline_refs(schema: dict) -> dict:
    """A pydantic JSON schema with its $defs inlined, to embed in the OpenAPI document."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)
