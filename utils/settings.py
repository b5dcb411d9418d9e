"""One settings object, read from environment variables (and an optional `.env` file)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_PASSWORD_LENGTH = 8


class Settings(BaseSettings):
    """Configuration of an Oktopus server; every field maps to the upper-case variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mongodb_uri: str | None = Field(
        default=None,
        description="mongodb://… or mongodb+srv://… (server), mongomock:// (in-memory), "
        "unset for the embedded file-backed store under DATA_DIR.",
    )
    mongodb_db: str = "oktopus"
    data_dir: Path = Path("./data")
    secret_key: SecretStr | None = None
    access_token_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    login_max_failures: int = Field(default=10, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of proxies whose X-Forwarded-For is believed.",
    )
    password_hash_memory_kib: int = Field(
        default=65536,
        ge=8,
        description="argon2 memory cost; lower it only for test suites.",
    )
    llm_api_key: SecretStr | None = None
    llm_base_url: str = "https://api.openai.com/v1"
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=10.0, gt=0)
    decision_workers: int = Field(
        default=1,
        ge=0,
        le=64,
        description="Worker processes that make decision steps beside the API process, so "
        "numeric work does not hold up other requests; 0 decides in the API process.",
    )
    max_body_bytes: int = Field(
        default=2_000_000,
        ge=1024,
        description="Largest JSON or form body; a larger one answers 413 unread.",
    )
    max_upload_bytes: int = Field(
        default=10_000_000,
        ge=1024,
        description="Largest multipart body (a CSV upload to /optimize/fit); larger: 413.",
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("admin_password")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if 0 < len(secret) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"ADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [proxy.strip() for proxy in value.split(",") if proxy.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"TRUSTED_PROXIES: {proxy!r} is no address or network") from None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def backend(self) -> str:
        """Which document store the URI selects: `mongodb`, `mongomock` or `embedded`."""
        uri = (self.mongodb_uri or "").strip()
        if not uri:
            return "embedded"
        if uri.startswith("mongomock://"):
            return "mongomock"
        if uri.startswith(("mongodb://", "mongodb+srv://")):
            return "mongodb"
        raise ValueError("MONGODB_URI must start with mongodb://, mongodb+srv:// or mongomock://")


@lru_cache
def get_settings() -> Settings:
    """Settings of the running process (tests build their own Settings instead)."""
    return Settings()
