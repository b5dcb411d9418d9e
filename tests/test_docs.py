"""The API's docs page (/api): Swagger UI from this server only, under a strict policy.

The browser test in tests/test_dashboard_browser_admin.py logs the admin in there with every other
host refused; these check the same without a browser.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.routing import APIRoute

pytestmark = pytest.mark.parametrize("backend", ["mongomock"])

LINKS = re.compile(r'(?:src|href)="([^"]+)"')
INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def test_the_docs_page_loads_every_file_from_this_server(client):
    page = client.get("/api")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    links = LINKS.findall(page.text)
    assert {link.rsplit("/", 1)[1] for link in links} == {
        "swagger-ui.css",
        "favicon.png",
        "swagger-ui-bundle.js",
    }
    for link in links:
        assert link.startswith("/api/docs-assets/"), link
        asset = client.get(link)
        assert asset.status_code == 200 and asset.content, link
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "url: '/api/openapi.json'" in page.text
    assert "/api/oauth2-redirect'" in page.text
    assert '"persistAuthorization": true' in page.text
    assert "http://" not in page.text and "https://" not in page.text


@pytest.mark.parametrize("path", ["/api", "/api/oauth2-redirect"])
def test_the_docs_pages_run_only_this_servers_scripts_and_their_own(client, path):
    """The page the admin types the password into: no script from elsewhere, no framing."""
    page = client.get(path)
    policy = page.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    inline = INLINE.findall(page.text)
    assert inline, "Swagger UI starts from an inline script"
    allowed = directives["script-src"].split()
    assert allowed[0] == "'self'"
    digests = {
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline
    }
    assert set(allowed[1:]) == digests
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_docs_assets_serve_nothing_else(client):
    for path in ("/api/docs-assets/../core.py", "/api/docs-assets/%2e%2e/core.py"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/docs-assets/missing.js").status_code == 404


def test_the_docs_routes_stay_out_of_the_schema(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/api" or "docs-assets" in p or "oauth2" in p]


def test_the_docs_page_behind_a_path_prefix_names_every_url_with_it(client):
    """Behind a proxy serving Oktopus under /okt (uvicorn --root-path /okt)."""
    from fastapi.testclient import TestClient

    page = TestClient(client.app, root_path="/okt").get("/api").text
    assert "url: '/okt/api/openapi.json'" in page
    assert "window.location.origin + '/okt/api/oauth2-redirect'" in page
    assert all(link.startswith("/okt/api/docs-assets/") for link in LINKS.findall(page))


def test_the_intro_tells_of_the_first_login_password_change(client):
    intro = client.get("/api/openapi.json").json()["info"]["description"]
    assert "PATCH /api/auth/account" in intro and "403" in intro


def test_every_operation_has_a_written_summary(client):
    """FastAPI would make one from the function's name ("Post Metrics"); each is written."""
    written = 0
    for module in (
        "allocate",
        "auth",
        "campaigns",
        "clients",
        "health",
        "insights",
        "living",
        "mmm",
        "optimize",
        "states",
        "timesteps",
        "users",
    ):
        router = __import__(f"routers.{module}", fromlist=["router"]).router
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                assert route.summary, (module, route.path, route.methods)
                assert len(route.summary) <= 90, route.summary
                written += 1
    assert written >= 40
