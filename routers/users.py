"""Users (admin only) and each user's own API credentials for dashboards and cron."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Response, status
from starlette.concurrency import run_in_threadpool

from models.auth import (
    CredentialCreate,
    CredentialCreated,
    CredentialOut,
    MeClient,
    MeOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from models.common import TENANT_ERRORS, Page, errors
from utils.bodies import BodyRoute
from utils.crud import clients, credentials, users
from utils.db import Conflict, Store, public, utcnow
from utils.deps import (
    AdminPrincipal,
    AnyPrincipal,
    HasherDep,
    MePrincipal,
    Principal,
    StoreDep,
    not_found,
)
from utils.pagination import PageParams
from utils.security import SCOPES

router = APIRouter(route_class=BodyRoute, prefix="/users", tags=["users"], responses=TENANT_ERRORS)

_HIDDEN = ("password_hash", "token_version")


def _user_out(doc: dict) -> UserOut:
    return UserOut(**public(doc, _HIDDEN))


def _check_client(store: Store, client_id: str | None, scopes: list[str]) -> None:
    if client_id is None:
        if "admin" not in scopes:
            raise HTTPException(422, detail="client_id is required for a non-admin user")
        return
    if not clients.exists(store, client_id):
        raise HTTPException(422, detail=f"client_id {client_id!r} names no client")


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, described={409: "A user of this name exists"}),
    summary="Create a user",
)
async def create_user(
    body: UserCreate, _: AdminPrincipal, store: StoreDep, hasher: HasherDep
) -> UserOut:
    """Create a user; every non-admin user belongs to exactly one client."""
    await store.call(_check_client, store, body.client_id, body.scopes)
    now = utcnow()
    doc = {
        "username": body.username,
        "password_hash": await run_in_threadpool(hasher.hash, body.password),
        "client_id": body.client_id,
        "scopes": body.scopes,
        "first_login": False,
        "token_version": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        await store.call(users.insert, store, doc)
    except Conflict as error:
        raise HTTPException(409, detail=f"User {body.username!r} already exists") from error
    return _user_out(doc)


@router.get("", response_model=Page[UserOut], summary="List users")
async def list_users(_: AdminPrincipal, store: StoreDep, page: PageParams) -> Page[UserOut]:
    return await store.call(users.page, store, page, render=_user_out)


@router.get("/me", response_model=MeOut, summary="Who you are")
async def me(principal: AnyPrincipal, store: StoreDep) -> MeOut:
    """The caller's name, scopes and client (name, currency, time zone) for dashboards."""
    doc = principal.client_id and await store.call(clients.get, store, principal.client_id)
    client = None
    if doc:
        client = MeClient(
            id=doc["_id"], name=doc["name"], currency=doc["currency"], timezone=doc["timezone"]
        )
    return MeOut(
        username=principal.username,
        client_id=principal.client_id,
        scopes=sorted(principal.scopes),
        is_admin=principal.every_client,
        client=client,
    )


@router.post(
    "/me/credentials",
    response_model=CredentialCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["credentials"],
    summary="Create an API credential",
)
async def create_credential(
    body: CredentialCreate, principal: MePrincipal, store: StoreDep, hasher: HasherDep
) -> CredentialCreated:
    """Create an API credential for the caller; the secret is shown once and stored hashed.

    Made through another credential's token, it expires no later than that credential: an
    expiring credential, leaked or handed out for a while, cannot mint a lasting one."""
    scopes = (
        body.scopes if body.scopes is not None else [s for s in SCOPES if s in principal.scopes]
    )
    beyond = [s for s in scopes if s not in principal.scopes]
    if beyond:
        raise HTTPException(422, detail=f"You do not hold these scopes: {', '.join(beyond)}")
    now = utcnow()
    # The prefix keeps the secret from starting with "-" (a command line would read it as an
    # option) and lets secret scanners recognise a leaked one.
    secret = "oks_" + secrets.token_urlsafe(32)
    doc = {
        "_id": "okc_" + secrets.token_hex(12),
        "username": principal.username,
        "secret_hash": await run_in_threadpool(hasher.hash, secret),
        "description": body.description,
        "scopes": scopes,
        "created_at": now,
        "expires_at": await store.call(_expiry, store, principal, now, body.expires_in_minutes),
    }
    await store.call(credentials.insert, store, doc)
    return CredentialCreated(client_id=doc["_id"], client_secret=secret, **_credential(doc))


def _expiry(
    store: Store, principal: Principal, now: datetime, minutes: int | None
) -> datetime | None:
    """When a new credential expires: after `minutes` (None: never), and no later than the
    credential whose token asks for it."""
    expires_at = now + timedelta(minutes=minutes) if minutes else None
    if principal.credential_id is None:
        return expires_at
    parent = credentials.get_of(store, principal.credential_id, principal.username)
    if parent is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="API credential revoked or expired",
            headers={"WWW-Authenticate": "Bearer"},
        )
    limit = parent.get("expires_at")
    if limit is not None and (expires_at is None or expires_at > limit):
        return limit
    return expires_at


def _credential(doc: dict) -> dict:
    return {k: doc.get(k) for k in ("description", "scopes", "created_at", "expires_at")}


@router.get(
    "/me/credentials",
    response_model=Page[CredentialOut],
    tags=["credentials"],
    summary="List your API credentials",
)
async def list_credentials(
    principal: MePrincipal, store: StoreDep, page: PageParams
) -> Page[CredentialOut]:
    """The caller's API credentials, oldest first, without secrets."""
    return await store.call(
        credentials.page_of,
        store,
        principal.username,
        page,
        render=lambda doc: CredentialOut(client_id=doc["_id"], **_credential(doc)),
    )


@router.delete(
    "/me/credentials/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["credentials"],
    summary="Revoke an API credential",
)
async def revoke_credential(client_id: str, principal: MePrincipal, store: StoreDep) -> Response:
    """Revoke a credential: its tokens stop working at once."""
    if not await store.call(credentials.delete_of, store, client_id, principal.username):
        raise not_found("Credential")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{username}", response_model=UserOut, summary="Get a user")
async def get_user(username: str, _: AdminPrincipal, store: StoreDep) -> UserOut:
    doc = await store.call(users.by_name, store, username)
    if doc is None:
        raise not_found("User")
    return _user_out(doc)


@router.patch("/{username}", response_model=UserOut, summary="Change a user")
async def update_user(
    username: str, body: UserUpdate, _: AdminPrincipal, store: StoreDep, hasher: HasherDep
) -> UserOut:
    """Change a user's password, client or scopes. Any of these revokes the user's tokens; a
    move to another client, or out of every client (`"client_id": null`, admins only), also
    deletes its API credentials, which were made for the old client's integrations and would
    otherwise act on the new one (or on all of them)."""
    changes = body.model_dump(exclude_unset=True)
    password_hash = None
    if changes.get("password"):
        password_hash = await run_in_threadpool(hasher.hash, changes["password"])
    return _user_out(await store.call(_update_user, store, username, changes, password_hash))


def _update_user(store: Store, username: str, changes: dict, password_hash: str | None) -> dict:
    doc = users.by_name(store, username)
    if doc is None:
        raise not_found("User")
    # A client_id sent as null is applied (an admin may belong to no client); a field left out
    # of the body, or another field sent as null, stays as it is.
    moves = "client_id" in changes
    scopes = changes.get("scopes")
    if moves or scopes is not None:
        _check_client(
            store, changes["client_id"] if moves else doc.get("client_id"), scopes or doc["scopes"]
        )
    update: dict = {"$set": {"updated_at": utcnow()}}
    if moves:
        update["$set"]["client_id"] = changes["client_id"]
    if scopes is not None:
        update["$set"]["scopes"] = scopes
    if password_hash is not None:
        update["$set"]["password_hash"] = password_hash
    if moves or scopes is not None or password_hash is not None:
        update["$inc"] = {"token_version": 1}
    updated = users.update(store, doc["_id"], update)
    if updated is None:
        raise not_found("User")
    if updated.get("client_id") != doc.get("client_id"):
        credentials.delete_all_of(store, doc["username"])
    return updated


@router.delete(
    "/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409, described={409: "You cannot delete your own account"}),
    summary="Delete a user",
)
async def delete_user(username: str, principal: AdminPrincipal, store: StoreDep) -> Response:
    """Delete a user and its API credentials; its tokens stop working at once."""
    if username == principal.username:
        raise HTTPException(409, detail="You cannot delete your own account")
    await store.call(_delete_user, store, username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _delete_user(store: Store, username: str) -> None:
    if not users.delete_by_name(store, username):
        raise not_found("User")
    credentials.delete_all_of(store, username)
