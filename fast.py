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
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

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
    optimize,
    states,
    timesteps,
    users,
)
from utils.db import Conflict, Store, StoreUnavailable
from utils.decisions import DecisionPool
from utils.security import PasswordHasher, load_secret_key
from utils.settings import Settings, get_settings
from utils.timesteps import InvalidRequest, StateConflict
from utils.version import VERSION

logger = logging.getLogger("oktopus")

DESCRIPTION = """Oktopus decides, timestep by timestep, how much of a client's budget each
campaign gets, learning from what each campaign returns.

Log in with **Authorize** (OAuth2 password flow) using the admin's username and password.
"""


def _json_safe(value: Any) -> Any:
    """Validation errors echo the input; NaN and infinities must not break the JSON answer."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = _json_safe(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": errors}, status_code=422)

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
