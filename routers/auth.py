"""Log in (password or client credentials), log out everywhere, change one's own password."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from models.auth import PasswordChange, TokenOut
from models.common import errors
from utils import throttle
from utils.bodies import BodyRoute
from utils.crud import credentials, users
from utils.db import Store, as_utc, utcnow
from utils.deps import AccountPrincipal, HasherDep, SecretKeyDep, SettingsDep, StoreDep
from utils.security import create_token
from utils.settings import Settings

router = APIRouter(route_class=BodyRoute, prefix="/auth", tags=["auth"])

_BAD_LOGIN = "Incorrect username or password"


def _requested_scopes(scope: str, granted: list[str]) -> list[str]:
    """The scopes a token carries: those asked for (all when none are) that the user holds."""
    asked = scope.split()
    return [s for s in granted if not asked or s in asked]


async def _start_attempt(
    store: Store, settings: Settings, keys: list[tuple[str, int]]
) -> list[str]:
    """Count this attempt before its secret is checked (the slow part), or answer 429."""
    try:
        return await store.call(throttle.start_attempt, store, settings, keys)
    except throttle.Throttled as throttled:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail="Too many failed logins: try again in a few minutes",
            headers={"Retry-After": str(throttled.retry_after)},
        ) from throttled


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Log in",
    description="OAuth2 token endpoint. `grant_type=password` with `username` and `password`, "
    "or `grant_type=client_credentials` with an API credential's `client_id` and "
    "`client_secret`. Optional `scope`: space-separated subset of the user's scopes. "
    "After LOGIN_MAX_FAILURES failed attempts (10 unless configured) for one username or "
    "credential from one source address within LOGIN_WINDOW_SECONDS (300), or "
    "LOGIN_MAX_FAILURES_PER_ADDRESS (100) from one address for any names, it answers 429 "
    "with Retry-After.",
    responses=errors(401, 422, 429, described={401: "Bad credentials"}),
)
async def login(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    hasher: HasherDep,
    secret_key: SecretKeyDep,
    grant_type: Annotated[str, Form(pattern="^(password|client_credentials)$")] = "password",
    username: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    client_id: Annotated[str, Form(max_length=256)] = "",
    client_secret: Annotated[str, Form(max_length=256)] = "",
    scope: Annotated[str, Form(max_length=256)] = "",
) -> TokenOut:
    address = throttle.source_address(request, settings)
    credential_id = None
    expires_at = None
    if grant_type == "password":
        if not username or not password:
            raise HTTPException(422, detail="username and password are required")
        # Each kind of secret has its own prefix: no username can fill another name's count.
        keys = throttle.login_keys("password", username, address, settings)
        attempt = await _start_attempt(store, settings, keys)
        user = await store.call(users.by_name, store, username)
        secret_ok = await run_in_threadpool(
            hasher.verify, password, user and user.get("password_hash")
        )
    else:
        if not client_id or not client_secret:
            raise HTTPException(422, detail="client_id and client_secret are required")
        keys = throttle.login_keys("credential", client_id, address, settings)
        attempt = await _start_attempt(store, settings, keys)
        credential = await store.call(credentials.get, store, client_id)
        expires_at = credential and credential.get("expires_at")
        if credential and expires_at and as_utc(expires_at) <= utcnow():
            credential = None
        user = credential and await store.call(users.by_name, store, credential["username"])
        secret_ok = await run_in_threadpool(
            hasher.verify, client_secret, credential and credential.get("secret_hash")
        )
        credential_id = client_id
    if user is None or not secret_ok:
        await store.call(throttle.record_failure, store, attempt)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=_BAD_LOGIN,
            headers={"WWW-Authenticate": "Bearer"},
        )
    await store.call(throttle.record_success, store, keys[0][0], attempt)
    granted = user.get("scopes", [])
    if credential_id is not None:
        granted = [s for s in granted if s in credential.get("scopes", granted)]
    scopes = _requested_scopes(scope, granted)
    issued_at = datetime.now(UTC)
    lifetime = settings.access_token_minutes * 60
    if expires_at:
        # A credential's token ends with the credential, not after it.
        left = (as_utc(expires_at) - issued_at).total_seconds()
        lifetime = min(lifetime, max(0, math.floor(left)))
    token = create_token(
        secret_key,
        subject=user["username"],
        user_id=user["_id"],
        scopes=scopes,
        client_id=user.get("client_id"),
        token_version=user.get("token_version", 0),
        seconds=lifetime,
        credential_id=credential_id,
        issued_at=issued_at,
        credential_version=credential.get("token_version", 0) if credential_id else 0,
    )
    return TokenOut(
        access_token=token,
        scopes=scopes,
        first_login=bool(user.get("first_login")),
        expires_in=lifetime,
    )


@router.patch(
    "/account",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your password",
    description="Changes the caller's password and invalidates every token issued before. "
    "With logout, the only endpoint a first-login token may call. After LOGIN_MAX_FAILURES "
    "wrong old passwords (10 unless configured) within LOGIN_WINDOW_SECONDS (300) it answers "
    "429.",
    responses=errors(400, 401, 422, 429, described={400: "The old password is wrong"}),
)
async def change_password(
    body: PasswordChange,
    principal: AccountPrincipal,
    store: StoreDep,
    settings: SettingsDep,
    hasher: HasherDep,
) -> None:
    # Guesses of the old password are throttled like logins: a leaked token must not become
    # a way to find the password, which outlives the token.
    throttle_key = f"account:{principal.username}"
    attempt = await _start_attempt(store, settings, [(throttle_key, settings.login_max_failures)])
    user = await store.call(users.by_name, store, principal.username)
    right = user is not None and await run_in_threadpool(
        hasher.verify, body.old_password, user.get("password_hash")
    )
    if not right:
        await store.call(throttle.record_failure, store, attempt)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Old password is incorrect")
    await store.call(throttle.record_success, store, throttle_key, attempt)
    if body.new_password == body.old_password:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail="New password must differ from the old one"
        )
    password_hash = await run_in_threadpool(hasher.hash, body.new_password)
    await store.call(
        users.update,
        store,
        user["_id"],
        {
            "$set": {
                "password_hash": password_hash,
                "first_login": False,
                "updated_at": utcnow(),
            },
            "$inc": {"token_version": 1},
        },
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out",
    description="With a token from a password login: logs the account out everywhere. Every "
    "token issued to it so far, on every device and through its API credentials, then answers "
    '401 ("Token revoked: log in again"); a new login works as before. A first-login token '
    "may call it too. With a token from an API credential (client_credentials): revokes that "
    "credential's tokens only, so a scheduler's credential cannot end its owner's sessions; "
    "the credential itself stays valid and gets new tokens. To stop a credential, delete it "
    "with DELETE /api/users/me/credentials/{client_id}.",
    responses=errors(401),
)
async def logout(principal: AccountPrincipal, store: StoreDep) -> None:
    # Tokens carry the account's `ver` (and a credential's `cver`), checked against the stored
    # `token_version` on each request: one increment revokes them all, with no list of tokens.
    revoke = {"$set": {"updated_at": utcnow()}, "$inc": {"token_version": 1}}
    if principal.credential_id is not None:
        await store.call(
            credentials.update_of, store, principal.credential_id, principal.username, revoke
        )
    else:
        await store.call(users.update_by_name, store, principal.username, revoke)
