"""Bodies and answers of the campaign endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from models.common import CreateBody, DisplayName, Money, UpdateBody

CampaignStatus = Literal["active", "paused", "stopped"]
PLATFORM_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,31}$"
PLATFORM_HELP = 'Advertising platform, lower case: "google", "meta", "tiktok", "microsoft", …'


def _check_bounds(low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError("min_budget must not exceed max_budget")


class CampaignCreate(CreateBody):
    name: DisplayName
    platform: str = Field(pattern=PLATFORM_PATTERN, description=PLATFORM_HELP, examples=["google"])
    external_id: str | None = Field(
        default=None, max_length=200, description="The campaign's id on its platform."
    )
    min_budget: Money | None = Field(default=None, description="Least spend per timestep.")
    max_budget: Money | None = Field(default=None, description="Most spend per timestep.")

    @model_validator(mode="after")
    def _bounds(self) -> CampaignCreate:
        _check_bounds(self.min_budget, self.max_budget)
        return self


class CampaignUpdate(UpdateBody):
    name: DisplayName | None = None
    platform: str | None = Field(default=None, pattern=PLATFORM_PATTERN, description=PLATFORM_HELP)
    external_id: str | None = Field(default=None, max_length=200)
    min_budget: Money | None = None
    max_budget: Money | None = None
    status: CampaignStatus | None = Field(
        default=None,
        description="paused or stopped campaigns get no budget; their share goes to the others.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> CampaignUpdate:
        _check_bounds(self.min_budget, self.max_budget)
        return self


class CampaignOut(BaseModel):
    id: str
    client_id: str
    name: str
    platform: str
    external_id: str | None
    min_budget: float | None
    max_budget: float | None
    status: CampaignStatus
    created_at: datetime
    updated_at: datetime
