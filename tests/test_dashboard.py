"""The dashboard's pages and assets: served outside /api, Plotly from the installed package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

PAGES = {
    "/dashboard": "states.js",
    "/dashboard/rps": "rps.js",
    "/dashboard/optimizer": "optimizer.js",
}


@pytest.mark.parametrize("backend", ["mongomock"])
def test_pages_load_only_local_scripts(client):
    for path, script in PAGES.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert f'src="/dashboard/static/{script}"' in response.text
        assert 'src="/dashboard/static/plotly.min.js"' in response.text
        assert "http://" not in response.text and "https://" not in response.text
        module = client.get(f"/dashboard/static/{script}")
        assert module.status_code == 200
        assert module.headers["content-type"].startswith("text/javascript")
    assert client.get("/dashboard/static/style.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("backend", ["mongomock"])
def test_plotly_comes_from_the_installed_package(client):
    response = client.get("/dashboard/static/plotly.min.js")
    assert response.status_code == 200
    bundled = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    assert response.content == bundled.read_bytes()
    assert not (Path(__file__).resolve().parent.parent / "dashboard" / "plotly.min.js").exists()


@pytest.mark.parametrize("backend", ["mongomock"])
def test_assets_are_flat_names_only(client):
    for name in ("nope.js", "..%2Ffast.py", "index.html", "common.JS", "%2e%2e%2frequirements.txt"):
        assert client.get(f"/dashboard/static/{name}").status_code == 404, name
    assert client.get("/dashboard/static/../../fast.py").status_code == 404
    assert "/dashboard" not in client.get("/api/openapi.json").json()["paths"]


@pytest.mark.parametrize("backend", ["mongomock"])
def test_every_dashboard_answer_sends_security_headers(client):
    assets = ["/dashboard/static/plotly.min.js", "/dashboard/static/style.css"]
    for path in [*PAGES, *(f"/dashboard/static/{script}" for script in PAGES.values()), *assets]:
        assert client.get(path).headers.get("x-content-type-options") == "nosniff", path
    for path in PAGES:
        policy = client.get(path).headers["content-security-policy"]
        for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
            assert directive in policy, (path, directive)


@pytest.mark.parametrize("backend", ["embedded"])
def test_the_first_urls_a_user_tries_lead_somewhere(client):
    for path, target in (("/", "/dashboard"), ("/docs", "/api")):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == target
        assert client.get(path).status_code == 200
