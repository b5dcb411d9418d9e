"""Bodies and answers of the client (tenant) endpoints."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, field_validator

from models.common import CreateBody, DisplayName, UpdateBody

Currency = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR.")


@lru_cache(maxsize=1)
def _iana_zones() -> frozenset[str]:
    """IANA zone names (system data, else the tzdata package); `localtime` is the server's own."""
    return frozenset(available_timezones() - {"localtime"})


def _check_timezone(value: str | None) -> str | None:
    if value is not None and value not in _iana_zones():
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Paris")
    return value


class ClientCreate(CreateBody):
    name: DisplayName
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris.")

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))


class ClientUpdate(UpdateBody):
    name: DisplayName | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    timezone: str | None = None

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))


class ClientOut(BaseModel):
    id: str
    name: str
    currency: str
    timezone: str
    created_at: datetime
    updated_at: datetime
