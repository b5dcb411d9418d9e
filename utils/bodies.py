"""Request bodies: size limits, JSON parsed off the event loop, and text that is text.

`BodyLimit` answers 413 before a body larger than its limit is read (JSON and form bodies
and CSV uploads have separate limits, from the settings). `BodyRoute` is the route class of
every router: it parses JSON bodies, and validates them against the route's body model, in a
worker thread once they are large enough to hold up the event loop (FastAPI then receives
the outcome, `models.common.Checked`, and answers as if it had validated the body itself;
routes that read their body themselves use `validate_body`), and refuses strings holding a
lone UTF-16 surrogate (`"\\ud800"` is valid JSON but no text: it cannot be stored nor written
back as UTF-8) with a 422 naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any, get_args

import anyio
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.common import Checked, ErrorOut, RequestBody

# Below this size json.loads takes well under a millisecond: a thread hop would cost more.
INLINE_PARSE_BYTES = 64 * 1024
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyTooLarge(HTTPException):
    """The body outgrew its limit while it was being read (an HTTPException, so that the
    body readers of FastAPI and Starlette pass it on rather than answering 400)."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, detail=_too_large_message(limit, setting))


def _limit_for(scope: Scope, json_limit: int, upload_limit: int) -> tuple[int, str]:
    for name, value in scope.get("headers", ()):
        if name == b"content-type" and value.lower().startswith(b"multipart/"):
            return upload_limit, "MAX_UPLOAD_BYTES"
    return json_limit, "MAX_BODY_BYTES"


def _too_large_message(limit: int, setting: str) -> str:
    return f"The request body is larger than the limit of {limit} bytes ({setting})"


def _too_large(limit: int, setting: str) -> Response:
    return JSONResponse({"detail": _too_large_message(limit, setting)}, status_code=413)


def printable(text: str, limit: int = 200) -> str:
    """`text` safe to echo in an answer: lone surrogates written as escapes, cut at `limit`."""
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text)} characters)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class BodyLimit:
    """ASGI middleware: 413, naming the limit, for a body over it (declared or streamed)."""

    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = _limit_for(scope, self.json_limit, self.upload_limit)
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit, setting)(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(limit, setting)(scope, receive, send)


def _surrogate_at(value: Any, path: tuple[Any, ...]) -> tuple[tuple[Any, ...], str] | None:
    """Where in a parsed JSON value a string holds a lone surrogate, and that string."""
    if isinstance(value, str):
        return (path, value) if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                return (*path, key), key
            found = _surrogate_at(item, (*path, key))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_at(item, (*path, index))
            if found:
                return found
    return None


def parse_json(body: bytes) -> Any:
    """JSON text to Python values; a string that is not text answers 422 naming its field.

    Raises json.JSONDecodeError for malformed JSON and UnicodeDecodeError for bytes that are
    not UTF-8, which FastAPI answers 422 and 400.
    """
    value = json.loads(body)
    found = _surrogate_at(value, ("body",))
    if found:
        loc, text = found
        raise HTTPException(
            422,
            detail=[
                {
                    "type": "string_unicode",
                    "loc": [printable(item) if isinstance(item, str) else item for item in loc],
                    "msg": "Text holds a lone UTF-16 surrogate (like \\ud800), which is not a "
                    "character; send the pair or the character itself",
                    "input": printable(text),
                }
            ],
        )
    return value


class BodyRequest(Request):
    """A request whose JSON body is parsed by `parse_json`; a large one in a worker thread,
    and validated there too when the route declares its body model (`checker`)."""

    checker: TypeAdapter | None = None

    def _parse_and_check(self, body: bytes) -> Any:
        value = parse_json(body)
        if self.checker is None:
            return value
        try:
            return Checked(value=self.checker.validate_python(value, from_attributes=True))
        except ValidationError as error:
            return Checked(error=error)

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > INLINE_PARSE_BYTES:
                self._json = await anyio.to_thread.run_sync(self._parse_and_check, body)
            else:
                self._json = parse_json(body)
        return self._json


async def validate_body(request: Request, model: type[BaseModel], data: Any) -> Any:
    """`model` validated from `data` (the request's parsed JSON body), in a worker thread when
    the body is large; errors answer 422 in the shape of FastAPI's. For routes that read their
    body themselves rather than declaring it."""
    if len(await request.body()) > INLINE_PARSE_BYTES:
        return await anyio.to_thread.run_sync(validate_model, model, data)
    return validate_model(model, data)


def validate_model(model: type[BaseModel], data: Any) -> Any:
    """`model` validated from `data`; errors raised as FastAPI raises those of bodies."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None


def _thread_checker(route: APIRoute) -> TypeAdapter | None:
    """What validates the route's body in a worker thread: the body is one parameter, not
    embedded, a RequestBody model (or that or None) without constraints of its own, so that
    validating it in the thread is exactly what FastAPI does with it. None otherwise."""
    params = route.dependant.body_params
    if len(params) != 1:
        return None
    info = params[0].field_info
    if isinstance(info, Form) or getattr(info, "embed", False) or info.metadata:
        return None
    kinds = [kind for kind in get_args(info.annotation) if kind is not type(None)]
    kinds = kinds or [info.annotation]
    if not all(isinstance(kind, type) and issubclass(kind, RequestBody) for kind in kinds):
        return None
    return TypeAdapter(info.annotation)


BODY_ERRORS: dict[int | str, Any] = {
    400: {
        "model": ErrorOut,
        "description": "The body cannot be read: not UTF-8 text, or a malformed form",
    },
    413: {
        "model": ErrorOut,
        "description": "The body is larger than MAX_BODY_BYTES (MAX_UPLOAD_BYTES for uploads)",
    },
}


class BodyRoute(APIRoute):
    """The route class of Oktopus's routers: request bodies are read through BodyRequest,
    and operations that take a body document the 400 and 413 every body can answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.body_field is not None or "requestBody" in (self.openapi_extra or {}):
            self.responses = {**BODY_ERRORS, **self.responses}
        self.checker = _thread_checker(self)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            body_request = BodyRequest(request.scope, request.receive)
            body_request.checker = getattr(self, "checker", None)
            return await handler(body_request)

        return handle
