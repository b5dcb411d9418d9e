"""FastAPI dependencies: the store, the current principal with its scopes, and its tenant.

Tenant isolation starts here: a non-admin's tenant comes from its token only, never from a
body or query field; admins pick a tenant with `?client_id=` where a route needs one.

How a route runs, the one rule: every path operation (and dependency) is `async def` and
never blocks the event loop. Its database work is plain functions (`utils.crud`, the
services in `utils/`) awaited through `store.call(fn, ...)`, each call one unit of work that
reads, or checks and writes, together (one hop onto the embedded store's thread; the
threadpool on a MongoDB server). An engine decision is awaited from the `DecisionPool`.
Any other blocking or CPU-heavy work (password hashes, curve fits, backtests, insights) is
awaited through `run_in_threadpool`, never inside a store call, which would hold the
embedded store. Service errors (`StateConflict`, `VersionConflict`, `InvalidRequest`,
`Conflict`, `StoreUnavailable`, `EngineError`) are answered by the app's exception
handlers (fast.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from utils.crud import clients, credentials, users
from utils.db import Store, as_utc, utcnow
from utils.decisions import DecisionPool
from utils.security import SCOPES, PasswordHasher, TokenInvalid, decode_token
from utils.settings import Settings

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", scopes=SCOPES, auto_error=False)


# The accessors below are `async def` on purpose: FastAPI runs a plain `def` dependency in its
# threadpool, and a thread hop per request for reading app.state is pure overhead.
async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_decisions(request: Request) -> DecisionPool:
    return request.app.state.decisions


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


async def get_secret_key(request: Request) -> str:
    return request.app.state.secret_key


StoreDep = Annotated[Store, Depends(get_store)]
DecisionsDep = Annotated[DecisionPool, Depends(get_decisions)]

SecretKeyDep = Annotated[str, Depends(get_secret_key)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, directly or through one of its API credentials."""

    username: str
    client_id: str | None
    scopes: frozenset[str]
    first_login: bool
    credential_id: str | None = None
    admin_account: bool = False

    @property
    def is_admin(self) -> bool:
        """The token holds the admin scope: every operation, on every client."""
        return "admin" in self.scopes

    @property
    def every_client(self) -> bool:
        """The caller acts on any client: an admin account, even through a token or credential
        narrowed to fewer scopes (a scheduler's `cron`, a dashboard's `read`). What it may do
        there is still its scopes'."""
        return self.is_admin or (self.admin_account and self.client_id is None)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def _principal_from_token(request: Request, token: str | None) -> Principal:
    if not token:
        raise _unauthorized("Not authenticated")
    try:
        claims = decode_token(request.app.state.secret_key, token)
    except TokenInvalid as error:
        raise _unauthorized("Invalid or expired token") from error
    store: Store = request.app.state.store
    return await store.call(lambda: _principal_from_claims(store, claims))


def _principal_from_claims(store: Store, claims: dict[str, Any]) -> Principal:
    user = users.by_name(store, claims["sub"])
    # A token names one account: a user deleted and re-created under the same name is a new
    # account (new `_id`), and a password or scope change bumps `token_version`.
    if (
        user is None
        or user["_id"] != claims.get("uid")
        or user.get("token_version", 0) != claims.get("ver")
    ):
        raise _unauthorized("Token revoked: log in again")
    credential_id = claims.get("cred")
    if credential_id is not None:
        credential = credentials.get_of(store, credential_id, user["username"])
        expires_at = credential and credential.get("expires_at")
        if credential is None or (expires_at and as_utc(expires_at) <= utcnow()):
            raise _unauthorized("API credential revoked or expired")
        if credential.get("token_version", 0) != claims.get("cver", 0):
            raise _unauthorized("Token revoked: log in again")
    allowed = set(user.get("scopes", []))
    if credential_id is not None:
        allowed &= set(credential.get("scopes", allowed))
    return Principal(
        username=user["username"],
        client_id=user.get("client_id"),
        scopes=frozenset(s for s in claims["scopes"] if s in allowed),
        first_login=bool(user.get("first_login")),
        credential_id=credential_id,
        admin_account="admin" in user.get("scopes", []),
    )


def _check_scopes(principal: Principal, required: list[str]) -> None:
    if principal.is_admin:
        return
    missing = [scope for scope in required if scope not in principal.scopes]
    if missing:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"Missing scope: {', '.join(missing)}"
        )


async def current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """The authenticated caller, holding every scope the route asks for."""
    principal = await _principal_from_token(request, token)
    if principal.first_login:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="Password change required: call PATCH /api/auth/account first.",
        )
    _check_scopes(principal, security_scopes.scopes)
    return principal


async def account_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The caller of the password change and of logout: the routes a first-login token may
    use."""
    return await _principal_from_token(request, token)


AccountPrincipal = Annotated[Principal, Depends(account_principal)]
AnyPrincipal = Annotated[Principal, Security(current_principal)]
ReadPrincipal = Annotated[Principal, Security(current_principal, scopes=["read"])]
WritePrincipal = Annotated[Principal, Security(current_principal, scopes=["write"])]
MePrincipal = Annotated[Principal, Security(current_principal, scopes=["me"])]
CronPrincipal = Annotated[Principal, Security(current_principal, scopes=["cron"])]
AdminPrincipal = Annotated[Principal, Security(current_principal, scopes=["admin"])]


@dataclass(frozen=True)
class Tenant:
    """The tenant a request acts on: `filter` scopes every query, `client_id` stamps new data."""

    client_id: str | None
    filter: dict[str, Any]

    def require_id(self) -> str:
        if self.client_id is None:
            raise HTTPException(
                422,
                detail="Admins must name the client: add ?client_id=<id> to the request.",
            )
        return self.client_id


async def _tenant(principal: Principal, store: Store, client_id: str | None) -> Tenant:
    if not principal.every_client:
        if principal.client_id is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="User belongs to no client.")
        return Tenant(principal.client_id, {"client_id": principal.client_id})
    if client_id is None:
        return Tenant(None, {})
    if not await store.call(lambda: clients.exists(store, client_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Client not found")
    return Tenant(client_id, {"client_id": client_id})


ClientQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Admins only: the client to act on. Ignored for client users, "
        "who always act on their own client.",
    ),
]


async def read_tenant(
    principal: ReadPrincipal, store: StoreDep, client_id: ClientQuery = None
) -> Tenant:
    return await _tenant(principal, store, client_id)


async def write_tenant(
    principal: WritePrincipal, store: StoreDep, client_id: ClientQuery = None
) -> Tenant:
    return await _tenant(principal, store, client_id)


ReadTenant = Annotated[Tenant, Depends(read_tenant)]
WriteTenant = Annotated[Tenant, Depends(write_tenant)]


def not_found(what: str) -> HTTPException:
    """The one answer for an id that does not exist or belongs to another tenant."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def found(doc: dict | None, what: str) -> dict:
    """A document read through the tenant's filter, or the 404 that a missing one and another
    tenant's share."""
    if doc is None:
        raise not_found(what)
    return doc
