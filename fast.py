"""The Oktopus API: FastAPI application, start-up, error handling and the router list.

Run with `uvicorn fast:app` or `python fast.py`. Swagger UI is served at /api.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from engine.errors import EngineError
from initialize import announce_password, initialize
from routers import (
    allocate,
    auth,
    campaigns,
    clients,
    dashboard,
    docs,
    health,
    insights,
    living,
    mmm,
    optimize,
    states,
    timesteps,
    users,
)
from utils import marketing_mix
from utils.bodies import BodyLimit, printable
from utils.db import Conflict, Store, StoreUnavailable
from utils.decisions import DecisionPool
from utils.living import VersionConflict
from utils.security import PasswordHasher, load_secret_key
from utils.settings import Settings, get_settings
from utils.timesteps import InvalidRequest, StateConflict
from utils.version import VERSION

logger = logging.getLogger("oktopus")

DESCRIPTION = """Oktopus decides, timestep by timestep, how much of a client's budget each
campaign gets, learning from what each campaign returns.

Log in with **Authorize** (OAuth2 password flow) using the admin's username and password.
A server that generated the admin's password (printed once on its console) asks for a new one
first: until `PATCH /api/auth/account` with `{"old_password", "new_password"}` succeeds, that
token serves only the password change and `POST /api/auth/logout`, and every other operation
answers 403. Then log in again with the new password.
"""


ECHO_ITEMS = 10  # items of a list or object echoed back in a 422 answer
ECHO_ERRORS = 20  # field errors listed in a 422 answer


def _secret(key: object) -> bool:
    return isinstance(key, str) and ("password" in key.lower() or "secret" in key.lower())


def _echo(value: Any, depth: int = 0) -> Any:
    """A rejected input as a 422 answer shows it: secrets hidden, long text and lists cut,
    NaN and infinities and lone surrogates written as text, so the answer always encodes."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        if depth >= 3:
            return f"{{… {len(value)} fields}}"
        shown = {
            printable(str(key)): "[hidden]" if _secret(key) else _echo(item, depth + 1)
            for key, item in list(value.items())[:ECHO_ITEMS]
        }
        if len(value) > ECHO_ITEMS:
            shown["…"] = f"{len(value) - ECHO_ITEMS} more fields"
        return shown
    if isinstance(value, list | tuple):
        if depth >= 3:
            return f"[… {len(value)} items]"
        shown_items = [_echo(item, depth + 1) for item in value[:ECHO_ITEMS]]
        if len(value) > ECHO_ITEMS:
            shown_items.append(f"… {len(value) - ECHO_ITEMS} more items")
        return shown_items
    if isinstance(value, int | float | bool) or value is None:
        return value
    return printable(str(value))


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    """One field error of a 422 answer, echoing its input safely (never a secret's)."""
    loc = [item if isinstance(item, int) else printable(str(item)) for item in error["loc"]]
    shown: dict[str, Any] = {"type": error["type"], "loc": loc, "msg": printable(error["msg"])}
    if "input" in error:
        hidden = any(_secret(item) for item in error["loc"])
        shown["input"] = "[hidden]" if hidden else _echo(error["input"])
    if "ctx" in error:
        shown["ctx"] = {
            str(key): printable(str(item)) if isinstance(item, Exception) else _echo(item)
            for key, item in error["ctx"].items()
        }
    return shown


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path: a 405 lists them all, not only
    those of the first route matching the path. Asked of the routes themselves, method by
    method, so that routers included in any way answer."""
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        found = error.errors()
        shown = [_field_error(e) for e in found[:ECHO_ERRORS]]
        if len(found) > ECHO_ERRORS:
            more = f"{len(found) - ECHO_ERRORS} more errors not shown"
            shown.append({"type": "too_many_errors", "loc": [], "msg": more})
        return JSONResponse({"detail": shown}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:
            allow = {"Allow": ", ".join(_allowed_methods(request))}
            error = StarletteHTTPException(405, error.detail, {**(error.headers or {}), **allow})
        return await http_exception_handler(request, error)

    @app.exception_handler(EngineError)
    async def engine_error(_: Request, error: EngineError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(InvalidRequest)
    async def invalid_for_state(_: Request, error: InvalidRequest) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(StateConflict)
    async def state_conflict(_: Request, error: StateConflict) -> JSONResponse:
        detail = {"message": error.detail, "current_time": error.current_time}
        return JSONResponse({"detail": detail}, status_code=409)

    @app.exception_handler(VersionConflict)
    async def version_conflict(_: Request, error: VersionConflict) -> JSONResponse:
        detail = {"message": error.detail, "version": error.version}
        return JSONResponse({"detail": detail}, status_code=409)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, error: Conflict) -> JSONResponse:
        return JSONResponse({"detail": "Conflicts with an existing record"}, status_code=409)

    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, error: StoreUnavailable) -> JSONResponse:
        logger.error("Database unavailable: %s", error)
        return JSONResponse({"detail": "Database unavailable"}, status_code=503)


def _ensure_log_output() -> None:
    """Give Oktopus's INFO lines (the backend in use, ...) a console handler when nothing else did.

    `python fast.py` configures logging itself; under `uvicorn fast:app` only uvicorn's own
    loggers have handlers, and Python would silently drop everything below WARNING.
    """
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an Oktopus application; tests pass their own settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings)
        decisions: DecisionPool | None = None
        # A start-up that fails after the store opened closes it too: the embedded store's
        # lock must not outlive the attempt.
        try:
            hasher = PasswordHasher(settings.password_hash_memory_kib)
            app.state.settings = settings
            app.state.store = store
            app.state.hasher = hasher
            app.state.secret_key = load_secret_key(settings)
            decisions = app.state.decisions = DecisionPool(settings.decision_workers)
            _ensure_log_output()
            logger.info(
                "Oktopus %s using the %s backend (%s)", VERSION, store.backend, store.location
            )
            password = initialize(store, settings, hasher)
            interrupted = marketing_mix.fail_interrupted(store)
            if interrupted:
                logger.warning("%d marketing-mix fits interrupted by a restart failed", interrupted)
            if password:
                announce_password(settings.admin_username, password)
            yield
        finally:
            if decisions is not None:
                decisions.close()
            store.close()

    # The docs page (/api) is routers.docs's: Swagger UI from this server, not a CDN.
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="Oktopus",
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        swagger_ui_oauth2_redirect_url=docs.OAUTH2_REDIRECT_URL,
        swagger_ui_parameters={"persistAuthorization": True},
        lifespan=lifespan,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(
        BodyLimit, json_limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes
    )
    _install_error_handlers(app)
    routers = (
        health.router,
        auth.router,
        users.router,
        clients.router,
        campaigns.router,
        states.router,
        living.router,
        timesteps.router,
        allocate.router,
        insights.router,
        optimize.router,
        mmm.router,
    )
    for router in routers:
        app.include_router(router, prefix="/api")
    app.include_router(dashboard.router)
    app.include_router(dashboard.entry)
    docs.install(app)
    return app


app = create_app()

if __name__ == "__main__":
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(app, host=get_settings().host, port=get_settings().port)
