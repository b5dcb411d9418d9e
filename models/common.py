"""Field types and response shapes shared by every router."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
MAX_AMOUNT = 1e12  # far above any real budget or count, far below what overflows arithmetic
Money = Annotated[
    float,
    Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="An amount of money >= 0."),
]
PositiveMoney = Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class CreateBody(BaseModel):
    """A request body that creates something: unknown fields are mistakes, answered with 422."""

    model_config = ConfigDict(extra="forbid")


class UpdateBody(BaseModel):
    """A partial update: only the fields sent are changed; unknown fields answer 422."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list, with what is needed to ask for the next one."""

    items: list[T]
    total: int = Field(description="How many items match, over all pages.")
    limit: int
    offset: int


class ErrorOut(BaseModel):
    detail: str | list | dict


# MongoDB stores skip counts as 64-bit integers; larger offsets would fail in the driver.
MAX_OFFSET = 1_000_000_000


class Pagination(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
