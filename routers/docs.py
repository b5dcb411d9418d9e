"""The API's docs page (/api): Swagger UI served by Oktopus itself, under a strict policy.

FastAPI's default page loads Swagger UI from a CDN. Here its files come from the fastapi-offline
package, so the page works where the admin's browser reaches only Oktopus (an intranet, a
strict proxy) and no third party sees who reads the docs; and, its scripts being local, the
page the admin types the password into can forbid every other script and any framing.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

DOCS_URL = "/api"
ASSETS_URL = "/api/docs-assets"
OAUTH2_REDIRECT_URL = "/api/oauth2-redirect"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_NO_SNIFF = {"X-Content-Type-Options": "nosniff"}

router = APIRouter(include_in_schema=False)


@lru_cache
def assets_dir() -> Path:
    """Swagger UI's script, style sheet and icon as shipped inside the fastapi-offline package."""
    path = Path(str(resources.files("fastapi_offline") / "static"))
    if not (path / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(
            "the installed fastapi-offline package has no static/swagger-ui-bundle.js"
        )
    return path


class _Assets(StaticFiles):
    """The package's files, sent with the type they have and no other."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers.update(_NO_SNIFF)
        return response


def _locked(page: HTMLResponse) -> HTMLResponse:
    """`page` allowed to run this server's scripts and its own inline ones (by hash) only, to
    talk to this server only, and never inside another site's frame."""
    inline = _INLINE_SCRIPT.findall(page.body.decode())
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline
    )
    page.headers.update(
        {
            "Content-Security-Policy": f"default-src 'self'; script-src 'self' {hashes}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            "Cache-Control": "no-cache",
            **_NO_SNIFF,
        }
    )
    return page


@router.get(DOCS_URL)
async def docs_page(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = request.scope.get("root_path", "")
    redirect = app.swagger_ui_oauth2_redirect_url
    page = get_swagger_ui_html(
        openapi_url=root + (app.openapi_url or ""),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=root + redirect if redirect else None,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    return _locked(page)


@router.get(OAUTH2_REDIRECT_URL)
async def oauth2_redirect() -> HTMLResponse:
    return _locked(get_swagger_ui_oauth2_redirect_html())


def install(app: FastAPI) -> None:
    """The docs page, its OAuth2 redirect and its files, on an app made with `docs_url=None`."""
    app.mount(ASSETS_URL, _Assets(directory=assets_dir()), name="docs-assets")
    app.include_router(router)
