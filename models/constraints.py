"""Spend constraints beyond one campaign's bounds: groups of campaigns, and periods of a plan."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from models.common import CreateBody, Money, Name, Share

MAX_GROUP_CAMPAIGNS = 5_000


def check_order(low: float, high: float, where: str = "") -> None:
    """A lower bound above its upper bound, refused in the request."""
    if low > high:
        raise ValueError(f"{where}min {low:g} exceeds max {high:g}")


class GroupIn(CreateBody):
    """A group of campaigns whose total spend stays within bounds, absolute or as shares of
    the total spend (e.g. all social at most 40%: `{"name": "social", "campaigns": [...],
    "max_share": 0.4}`). Groups must not share campaigns."""

    name: Name
    campaigns: list[Name] = Field(min_length=1, max_length=MAX_GROUP_CAMPAIGNS)
    min: Money | None = None
    max: Money | None = None
    min_share: Share | None = None
    max_share: Share | None = None

    @model_validator(mode="after")
    def consistent(self) -> GroupIn:
        if self.min is not None and self.max is not None:
            check_order(self.min, self.max, f"group {self.name!r}: ")
        if self.min_share is not None and self.max_share is not None:
            check_order(self.min_share, self.max_share, f"group {self.name!r}: share ")
        return self


class GroupOut(BaseModel):
    name: str
    spend: float
    share: float
    min: float = Field(description="The group's least total at this spend (all bounds).")
    max: float | None = Field(description="The group's largest total at this spend.")
    binding: Literal["min", "max"] | None
    mroi: float | None = Field(description="Marginal value shared by its free campaigns.")


class PeriodBounds(CreateBody):
    """The least and most a period of a flighting plan may spend, over all campaigns."""

    min: Money | None = None
    max: Money | None = None

    @model_validator(mode="after")
    def min_within_max(self) -> PeriodBounds:
        if self.min is not None and self.max is not None:
            check_order(self.min, self.max)
        return self
