"""Bodies and answers of the auth and user endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from models.common import CreateBody, Id, UpdateBody, bounded
from utils.security import MIN_PASSWORD_LENGTH, SCOPES

Scope = Literal["admin", "read", "write", "me", "api", "cron"]
Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)]
Username = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]


def _unique_scopes(scopes: list[str]) -> list[str]:
    return sorted(set(scopes), key=list(SCOPES).index)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    scopes: list[Scope]
    first_login: bool = Field(
        description="True until the user changes a generated password; such a token is "
        "accepted only by PATCH /api/auth/account."
    )
    expires_in: int = Field(
        description="Seconds until the token expires: ACCESS_TOKEN_MINUTES, or less for an "
        "API credential that expires sooner (its tokens never outlive it)."
    )


class PasswordChange(CreateBody):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: Password


class UserCreate(CreateBody):
    username: Username
    password: Password
    client_id: Id | None = Field(
        default=None, description="The client (tenant) the user belongs to; required unless admin."
    )
    scopes: list[Scope] = Field(default_factory=lambda: ["read", "write", "me"], min_length=1)

    _scopes = field_validator("scopes")(classmethod(lambda cls, v: _unique_scopes(v)))


class UserUpdate(UpdateBody):
    password: Password | None = None
    client_id: Id | None = Field(
        default=None,
        description="Move the user to this client; null: to no client (admins only). Left "
        "out: unchanged. A move deletes the user's API credentials.",
    )
    scopes: list[Scope] | None = Field(default=None, min_length=1)

    @field_validator("scopes")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique_scopes(value)


class UserOut(BaseModel):
    id: str
    username: str
    client_id: str | None
    scopes: list[Scope]
    first_login: bool
    created_at: datetime
    updated_at: datetime


class CredentialCreate(CreateBody):
    description: str = Field(default="", max_length=500)
    expires_in_minutes: bounded(int, ge=1, le=60 * 24 * 366 * 5) | None = Field(
        default=None,
        description="null: never expires. Made through an API credential's token, it expires "
        "no later than that credential (null: when that credential does).",
    )
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        description="What the credential may do, a subset of your scopes (default: all of "
        'them). A scheduler needs only ["cron"]; a read-only dashboard ["read"].',
    )

    @field_validator("scopes")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique_scopes(value)


class CredentialOut(BaseModel):
    client_id: str = Field(description="Use as client_id with grant_type=client_credentials.")
    description: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None


class CredentialCreated(CredentialOut):
    client_secret: str = Field(description="Shown once: only a hash is stored.")


class MeClient(BaseModel):
    id: str
    name: str
    currency: str
    timezone: str


class MeOut(BaseModel):
    """Who the caller is, and the client it acts for: what a dashboard needs to label things."""

    username: str
    client_id: str | None
    scopes: list[str] = Field(description="The scopes of the token used.")
    is_admin: bool = Field(
        description="The caller is an admin account and acts on any client, named with "
        "?client_id= (also through a token narrowed to fewer scopes, which still limit what "
        "it may do there)."
    )
    client: MeClient | None = Field(description="The caller's client; null for admins.")
