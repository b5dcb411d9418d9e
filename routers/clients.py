"""Clients: the advertisers (tenants) whose users, campaigns and states Oktopus keeps apart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response, status

from models.clients import ClientCreate, ClientOut, ClientUpdate
from models.common import TENANT_ERRORS, Page, errors
from utils.bodies import BodyRoute
from utils.crud import campaigns, clients, fits, states, users
from utils.crud import models as model_docs
from utils.db import Conflict, Store, public, utcnow
from utils.deps import AdminPrincipal, Principal, ReadPrincipal, StoreDep, not_found
from utils.pagination import PageParams

router = APIRouter(
    route_class=BodyRoute, prefix="/clients", tags=["clients"], responses=TENANT_ERRORS
)
_NAME_TAKEN = errors(409, described={409: "A client of this name exists"})


async def every_client_reader(principal: ReadPrincipal) -> Principal:
    """Who may list and read clients: a caller that acts on every client, also through an
    admin's token or credential narrowed to `read` (GET /users/me tells dashboards it is an
    admin, and they offer it the client picker). Changing clients stays admin-only."""
    if not principal.every_client:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Missing scope: admin")
    return principal


ClientReader = Annotated[Principal, Depends(every_client_reader)]


@router.post(
    "",
    response_model=ClientOut,
    status_code=status.HTTP_201_CREATED,
    responses=_NAME_TAKEN,
    summary="Create a client",
)
async def create_client(body: ClientCreate, _: AdminPrincipal, store: StoreDep) -> ClientOut:
    now = utcnow()
    doc = {**body.model_dump(), "created_at": now, "updated_at": now}
    try:
        await store.call(clients.insert, store, doc)
    except Conflict as error:
        raise HTTPException(409, detail=f"Client {body.name!r} already exists") from error
    return ClientOut(**public(doc))


@router.get("", response_model=Page[ClientOut], summary="List clients")
async def list_clients(_: ClientReader, store: StoreDep, page: PageParams) -> Page[ClientOut]:
    """Every client, by name: for admins, also through a token narrowed to `read`."""
    return await store.call(clients.page, store, page, render=lambda doc: ClientOut(**public(doc)))


@router.get("/{client_id}", response_model=ClientOut, summary="Get a client")
async def get_client(client_id: str, _: ClientReader, store: StoreDep) -> ClientOut:
    """One client: for admins, also through a token narrowed to `read`."""
    doc = await store.call(clients.get, store, client_id)
    if doc is None:
        raise not_found("Client")
    return ClientOut(**public(doc))


@router.patch(
    "/{client_id}", response_model=ClientOut, responses=_NAME_TAKEN, summary="Change a client"
)
async def update_client(
    client_id: str, body: ClientUpdate, _: AdminPrincipal, store: StoreDep
) -> ClientOut:
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    try:
        doc = await store.call(
            clients.update, store, client_id, {"$set": {**changes, "updated_at": utcnow()}}
        )
    except Conflict as error:
        raise HTTPException(409, detail=f"Client {changes.get('name')!r} already exists") from error
    if doc is None:
        raise not_found("Client")
    return ClientOut(**public(doc))


@router.delete(
    "/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(409, described={409: "The client still has users, campaigns or states"}),
    summary="Delete a client",
)
async def delete_client(client_id: str, _: AdminPrincipal, store: StoreDep) -> Response:
    """Delete a client that has no users, campaigns or states left (409 otherwise), and its
    stored curve fits and marketing-mix models."""
    await store.call(_delete_client, store, client_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _delete_client(store: Store, client_id: str) -> None:
    if not clients.exists(store, client_id):
        raise not_found("Client")
    for dependent in (users, campaigns, states):
        if dependent.count_in_client(store, client_id):
            raise HTTPException(
                409, detail=f"Client still has {dependent.NAME}: delete or move them first"
            )
    # The client goes first: a fit asked for from now on finds no client to store it under.
    clients.delete(store, client_id)
    fits.delete_of_client(store, client_id)
    model_docs.delete_of_client(store, client_id)
