"""Request bodies: size limits, JSON parsed off the event loop, and text that is text.

`BodyLimit` answers 413 before a body larger than its limit is read (JSON and form bodies
and CSV uploads have separate limits, from the settings). `BodyRoute` is the route class of
every router: it parses JSON bodies in a worker thread once they are large enough to hold up
the event loop, and refuses strings holding a lone UTF-16 surrogate (`"\\ud800"` is valid
JSON but no text: it cannot be stored nor written back as UTF-8) with a 422 naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.common import ErrorOut

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
    """A request whose JSON body is parsed by `parse_json`, in a thread when it is large."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > INLINE_PARSE_BYTES:
                self._json = await anyio.to_thread.run_sync(parse_json, body)
            else:
                self._json = parse_json(body)
        return self._json


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

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(BodyRequest(request.scope, request.receive))

        return handle
