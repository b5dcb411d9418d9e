"""Password hashing (passlib API from libpass, argon2), JWTs (python-jose) and the signing key."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jose import JWTError, jwt
from passlib.context import CryptContext

from utils.settings import MIN_PASSWORD_LENGTH as MIN_PASSWORD_LENGTH
from utils.settings import Settings

ALGORITHM = "HS256"
SCOPES: dict[str, str] = {
    "admin": "Everything, across all clients: users, clients and every tenant's data.",
    "read": "Read the campaigns, states and analyses of your client.",
    "write": "Create and change the campaigns and states of your client.",
    "me": "Manage your own account and API credentials.",
    "api": "Programmatic access by dashboards through API credentials.",
    "cron": "Advance due timesteps (the scheduler).",
}


class TokenInvalid(Exception):
    """The token is malformed, badly signed or expired: the API answers 401."""


class PasswordHasher:
    """argon2 hashing through passlib's CryptContext."""

    def __init__(self, memory_kib: int = 65536) -> None:
        self._context = CryptContext(
            schemes=["argon2"], deprecated="auto", argon2__memory_cost=memory_kib
        )

    def hash(self, password: str) -> str:
        return self._context.hash(password)

    def verify(self, password: str, hashed: str | None) -> bool:
        if not hashed:
            # Spend the same time as a real check so unknown names are not revealed by timing.
            self._context.dummy_verify()
            return False
        return self._context.verify(password, hashed)


def load_secret_key(settings: Settings) -> str:
    """SECRET_KEY, or a random key generated once and kept in DATA_DIR (mode 600)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    path = Path(settings.data_dir) / "secret_key"
    try:
        key = _read_or_create_key(path)
    except OSError as error:
        # The OSError alone names a private draft file or a bare errno; say what to change.
        raise RuntimeError(
            f"Cannot read or create the signing key file {path} "
            f"({error.strerror or error}): set SECRET_KEY, or let the server read and write "
            f"DATA_DIR ({settings.data_dir})"
        ) from error
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to generate a new signing key")
    return key


def _read_or_create_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private file, then linked into place: a process starting at the
        # same moment either wins or reads the complete key of the one that did.
        draft = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text().strip()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_token(
    key: str,
    *,
    subject: str,
    user_id: str,
    scopes: list[str],
    client_id: str | None,
    token_version: int,
    minutes: int = 0,
    seconds: int = 0,
    credential_id: str | None = None,
    issued_at: datetime | None = None,
    credential_version: int = 0,
) -> str:
    """A signed access token, valid `minutes` plus `seconds` from `issued_at` (default: now);
    `uid` and `ver` let the server revoke it by changing the user, and a credential's `cver`
    by changing the credential."""
    now = issued_at or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "uid": user_id,
        "scopes": scopes,
        "client_id": client_id,
        "ver": token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes, seconds=seconds)).timestamp()),
    }
    if credential_id is not None:
        claims["cred"] = credential_id
        claims["cver"] = credential_version
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_token(key: str, token: str) -> dict[str, Any]:
    """The claims of a token signed with `key` and not expired, or TokenInvalid.

    Verification is remembered per (key, token): a client sends the same token with every
    request, and verifying it is a good part of a short request's time. Expiry is checked on
    every call all the same, and revocation is the caller's (it reads the user each time).
    """
    claims = _verified_claims(key, token)
    # RFC 7519: a token is accepted only before its `exp`, not at it (nor, as a whole-second
    # clock would allow, for up to a second after it).
    if claims["exp"] <= time.time():
        raise TokenInvalid("Signature has expired.")
    return dict(claims)


@functools.lru_cache(maxsize=4096)
def _verified_claims(key: str, token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM])
    except JWTError as error:
        raise TokenInvalid(str(error)) from error
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("scopes"), list):
        raise TokenInvalid("token lacks subject or scopes")
    if not isinstance(claims.get("exp"), int | float):
        raise TokenInvalid("token lacks an expiry")
    return claims
