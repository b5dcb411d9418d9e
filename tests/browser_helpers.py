"""What the dashboard's browser tests share: Chromium, a client user's run, a logged-in page.

Headless Chromium through Playwright, a client user's run made through the API, and opening
and logging in to the dashboard in a fresh page.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "ana", "ana-dashboard-password"
CAMPAIGNS = {"Display": (0.01, 1.2), "Search": (0.05, 3.0), "Social": (0.02, 1.8)}


@contextmanager
def chromium_browser() -> Iterator:
    """Headless Chromium (Debian's package) driven by Playwright; skips the test, with the
    reason printed, when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("SKIP: the playwright Python package is not installed")
        pytest.skip("the playwright Python package is not installed (pip install playwright)")
    if CHROMIUM is None:
        print("SKIP: no chromium executable on PATH")
        pytest.skip("no chromium executable (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def report_metrics(api: httpx.Client, state_id: str, timestep: int) -> None:
    budget = api.get(f"/api/states/{state_id}/budget").json()
    rows = []
    for campaign in budget["campaigns"]:
        rate, roas = CAMPAIGNS[campaign["name"]]
        amount = campaign["budget"]
        rows.append(
            {
                "campaign_id": campaign["campaign_id"],
                "spend": amount,
                "clicks": round(amount),
                "conversions": round(amount * rate),
                "revenue": amount * roas,
            }
        )
    posted = api.post(
        f"/api/states/{state_id}/metrics", json={"timestep": timestep, "metrics": rows}
    )
    assert posted.status_code == 200, posted.text


@contextmanager
def client_run(url: str) -> Iterator[tuple]:
    """A client (USD) with a user, three campaigns and a run advanced three timesteps: the
    server's url, the user's API client and the run's id."""
    with httpx.Client(base_url=url, timeout=10) as admin:
        token = admin.post(
            "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        admin.headers["Authorization"] = f"Bearer {token}"
        client = admin.post("/api/clients", json={"name": "Acme", "currency": "USD"}).json()
        user = {"username": USER, "password": PASSWORD, "client_id": client["id"]}
        assert admin.post("/api/users", json={**user, "scopes": ["read", "write", "me"]}).is_success
    api = httpx.Client(base_url=url, timeout=10)
    token = api.post("/api/auth/token", data={"username": USER, "password": PASSWORD}).json()
    api.headers["Authorization"] = f"Bearer {token['access_token']}"
    ids = [
        api.post("/api/campaigns", json={"name": name, "platform": "google"}).json()["id"]
        for name in CAMPAIGNS
    ]
    state = api.post(
        "/api/states",
        json={"name": "Spring sale", "campaign_ids": ids, "budget": 9000, "timesteps": 10},
    ).json()
    for t in range(3):
        report_metrics(api, state["id"], t)
        assert api.post(f"/api/states/{state['id']}/next", json={"expected_time": t}).is_success
    yield url, api, state["id"]
    api.close()


def open_page(browser, url: str, width: int, height: int):
    """A fresh browser page that records failed scripts and every host it talks to."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.problems = []
    page.hosts = set()
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on("console", lambda message: _record_console(page, message))
    page.on("request", lambda request: page.hosts.add(request.url.split("/")[2]))
    page.goto(url + "/dashboard")
    return page


def _record_console(page, message) -> None:
    """Script errors and refused loads (CSP); HTTP error statuses are the API's answers."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        page.problems.append(message.text)


def log_in(page) -> None:
    page.fill("#login-form input[name=username]", USER)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#states-table")
