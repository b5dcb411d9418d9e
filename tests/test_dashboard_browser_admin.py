"""The dashboard in a real browser as an admin uses it, and sessions that end.

Picking a client (past the first page of clients, or one deleted meanwhile), the curve
optimizer, the API docs page on its own, and a session the server no longer accepts.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.browser_helpers import PASSWORD, USER, log_in, open_page
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.parametrize("backend", ["embedded"])


def history_csv(path: Path) -> Path:
    """30 days of two campaigns with saturating revenue: Search pays more per unit of spend."""
    rng = np.random.default_rng(4)
    lines = ["date,campaign,spend,revenue"]
    for day in range(30):
        for name, top, scale in (("Search", 4000.0, 400.0), ("Display", 1500.0, 300.0)):
            spend = rng.uniform(50, 600)
            revenue = top * (1 - np.exp(-spend / scale)) * rng.normal(1, 0.03)
            lines.append(f"2024-01-{day + 1:02d},{name},{spend:.2f},{revenue:.2f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_admin_picks_a_client_and_uses_the_curve_optimizer(browser, run, tmp_path: Path) -> None:
    url, api, _ = run
    if "/api/optimize/fit" not in api.get("/api/openapi.json").json()["paths"]:
        print("SKIP: this build has no curve optimizer API")
        pytest.skip("this build has no /api/optimize/fit")
    page = open_page(browser, url, 1280, 800)
    # An admin picks the client first; every call then carries ?client_id=.
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("main h1:text-is('Pick a client')")
    page.wait_for_selector("#client-picker option:text-is('Acme (USD)')", state="attached")
    page.select_option("#client-picker", label="Acme (USD)")
    page.wait_for_selector("#states-table")
    assert "Spring sale" in page.inner_text("#states-table")
    page.click("header nav a:text-is('Curve optimizer')")
    page.set_input_files("#fit-form input[name=file]", str(history_csv(tmp_path / "history.csv")))
    page.click("#fit-form button[type=submit]")
    page.wait_for_selector("#opt-marginal .gtitle", timeout=60_000)
    assert page.text_content("#opt-curves .gtitle") == "Fitted response curves (ensemble)"
    assert page.text_content("#opt-curves .xtitle") == "Spend per period (USD)"
    assert page.text_content("#opt-curves .ytitle") == "Revenue per period (USD)"
    assert page.locator("#opt-curves .scatterlayer .trace").count() == 2
    assert {"Search", "Display"} <= set(page.inner_text("#fit-table").split())

    page.fill("#allocate-form input[name=budget]", "600")
    page.click("#allocate-form button[type=submit]")
    page.wait_for_selector("#opt-allocation .gtitle")
    assert page.inner_text("#opt-total-spend") == "$600.00"
    spends = {
        row.locator("td").nth(0).inner_text(): row.locator("td").nth(1).inner_text()
        for row in page.locator("#allocation-table tbody tr").all()
    }
    amounts = {name: float(text.strip("$").replace(",", "")) for name, text in spends.items()}
    assert sum(amounts.values()) == pytest.approx(600, abs=0.02)
    assert amounts["Search"] > amounts["Display"]
    assert page.locator("#opt-curves .scatterlayer .trace").count() == 3  # optimum marked
    page.screenshot(path=str(tmp_path / "optimizer-1280.png"), full_page=True)
    assert page.problems == []
    print(f"screenshots: {tmp_path}")


def test_the_client_picker_lists_clients_past_the_first_page(browser, run) -> None:
    """GET /api/clients answers 500 clients a page at most: the picker must walk every page."""
    url, _, _ = run
    with httpx.Client(base_url=url, timeout=10) as admin:
        token = admin.post(
            "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        admin.headers["Authorization"] = f"Bearer {token}"
        for i in range(500):
            made = admin.post("/api/clients", json={"name": f"Filler {i:03d}"})
            assert made.status_code == 201, made.text
        admin.post("/api/clients", json={"name": "Zenith", "currency": "GBP"})
        assert admin.get("/api/clients", params={"limit": 500}).json()["total"] == 502
    page = open_page(browser, url, 1280, 800)
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    # The picker adds every option at once, when the list has loaded.
    page.wait_for_selector("#client-picker option:text-is('Acme (USD)')", state="attached")
    assert page.locator("#client-picker option").count() == 1 + 502
    page.select_option("#client-picker", label="Zenith (GBP)")
    page.wait_for_selector("#states-table, main p:text-is('No runs yet: create one below.')")
    assert page.problems == []


def test_an_expired_session_says_so_on_the_login_form(browser, run) -> None:
    """A token the server no longer accepts (401) sends the user back to the login form with a
    reason, not to a blank form; logging in again works."""
    url, _, _ = run
    page = open_page(browser, url, 1280, 800)
    log_in(page)
    with httpx.Client(base_url=url, timeout=10) as admin:
        token = admin.post(
            "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        admin.headers["Authorization"] = f"Bearer {token}"
        new_password = PASSWORD + "-changed"
        changed = admin.patch(f"/api/users/{USER}", json={"password": new_password})
        assert changed.status_code == 200, changed.text  # revokes ana's tokens
    page.click("a.state-link:has-text('Spring sale')")
    notice = page.locator("#login-form .notice")
    notice.wait_for(timeout=10_000)
    assert "session has expired" in notice.inner_text()
    page.fill("#login-form input[name=username]", USER)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-form .notice:has-text('Incorrect username or password')")
    page.fill("#login-form input[name=password]", new_password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#chart-success .gtitle")  # the run it was opening
    assert page.problems == []


def test_an_admin_whose_client_was_deleted_is_told_and_picks_again(
    browser, run, tmp_path: Path
) -> None:
    """Another admin deletes the client this admin works on: the optimizer says the client is
    gone (not that the optimizer is missing), and the next page asks for a client again."""
    url, _, _ = run
    admin = httpx.Client(base_url=url, timeout=10)
    token = admin.post(
        "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    admin.headers["Authorization"] = f"Bearer {token}"
    bare = admin.post("/api/clients", json={"name": "Bare"}).json()
    page = open_page(browser, url, 1280, 800)
    page.fill("#login-form input[name=username]", "admin")
    page.fill("#login-form input[name=password]", ADMIN_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#client-picker option:text-is('Bare (EUR)')", state="attached")
    page.select_option("#client-picker", label="Bare (EUR)")
    page.wait_for_selector("main p:text-is('No runs yet: create one below.')")
    page.click("header nav a:text-is('Curve optimizer')")
    page.wait_for_selector("#fit-form")
    assert admin.delete(f"/api/clients/{bare['id']}").status_code == 204
    admin.close()
    page.set_input_files("#fit-form input[name=file]", str(history_csv(tmp_path / "history.csv")))
    page.click("#fit-form button[type=submit]")
    page.wait_for_selector("#fit-message .notice.error")
    assert "Client not found" in page.inner_text("#fit-message")
    page.reload()
    page.wait_for_selector("main h1:text-is('Pick a client')", timeout=10_000)
    assert page.locator("#client-picker option:text-is('Bare (EUR)')").count() == 0
    assert page.problems == []


def test_an_admin_logs_in_on_the_api_docs_page_with_no_other_host_reachable(
    browser, live_server, tmp_path: Path
) -> None:
    """The /api page (Swagger UI) works when the browser reaches nothing but Oktopus: its
    scripts come from the server, and Authorize logs the admin in with the password flow."""
    url = live_server.url
    host = url.split("/")[2]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused: list[str] = []

    def only_oktopus(route) -> None:
        if route.request.url.split("/")[2] == host:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.route("**/*", only_oktopus)
    page.goto(url + "/api")
    page.wait_for_selector("#operations-auth-login_api_auth_token_post", timeout=30_000)
    assert "Oktopus" in page.inner_text(".info .title")

    page.click("button.authorize")
    page.fill("#oauth_username", "admin")
    page.fill("#oauth_password", ADMIN_PASSWORD)
    page.click(".auth-container button.modal-btn.authorize")
    page.wait_for_selector(".auth-container button.modal-btn:text-is('Logout')")
    page.click("button.btn-done")

    operation = page.locator("#operations-users-me_api_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert '"username": "admin"' in operation.locator(".live-responses-table").inner_text()
    page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)
    context.close()
    assert refused == []
    assert problems == [], "the page's policy refused something it needs, or a script failed"
