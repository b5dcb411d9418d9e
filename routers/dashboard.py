"""The web dashboard: static pages that use the public REST API with the user's token.

Served outside /api. Plotly comes from the installed `plotly` Python package (its bundled
plotly.min.js), so the pages work offline and nothing third-party lives in the repository.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"
_ASSET = re.compile(r"^[a-z0-9_-]+\.(js|css)$")
_MEDIA_TYPES = {"js": "text/javascript", "css": "text/css"}
# Every dashboard answer: browsers must not guess another type than the one sent.
_NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
# Scripts only from this server: no CDN can slip in. Plotly sets inline styles and draws
# its images as data: URIs. No <base>, plugin or form target can point elsewhere. The API's
# docs page (/api) has a policy of its own (routers.docs).
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
    **_NO_SNIFF,
}

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
# The first URLs a user tries: the site's root leads to the dashboard, /docs to the API docs.
entry = APIRouter(include_in_schema=False)


@entry.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@entry.get("/docs")
def docs_alias() -> RedirectResponse:
    return RedirectResponse("/api", status_code=307)


@lru_cache
def plotly_js() -> Path:
    """plotly.min.js as shipped inside the installed plotly package."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise RuntimeError("the installed plotly package has no package_data/plotly.min.js")
    return path


def _page(name: str) -> FileResponse:
    return FileResponse(DASHBOARD_DIR / name, media_type="text/html", headers=_PAGE_HEADERS)


@router.get("")
async def states_page() -> FileResponse:
    """Log in, pick a state, see its charts and insights, post metrics and advance."""
    return _page("index.html")


@router.get("/rps")
async def rps_page() -> FileResponse:
    """Paste two price series and see the RPS band and budget split."""
    return _page("rps.html")


@router.get("/optimizer")
async def optimizer_page() -> FileResponse:
    """Upload spend/value history, see the fitted curves and the allocation."""
    return _page("optimizer.html")


@router.get("/mmm")
async def mmm_page() -> FileResponse:
    """Upload a KPI history, see the marketing-mix model, allocate on its posterior."""
    return _page("mmm.html")


@router.get("/static/plotly.min.js")
async def plotly_bundle() -> FileResponse:
    return FileResponse(
        plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "max-age=86400", **_NO_SNIFF},
    )


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    """The dashboard's own scripts and styles (flat names only: no paths)."""
    path = DASHBOARD_DIR / name
    if not _ASSET.match(name) or not path.is_file():
        raise HTTPException(404, detail="Not found")
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES[name.rsplit(".", 1)[1]],
        headers={"Cache-Control": "no-cache", **_NO_SNIFF},
    )
