"""The dashboard in a real browser as a client user works it.

Headless Chromium (Debian's package) driven by Playwright. A client user logs in, opens a run,
posts metrics through the forms, advances, runs into the 409 case after the run moved on
behind the page's back, and sees every chart with its title; campaign names with markup show
as text; a user builds and changes a living run, and fits a marketing mix model. Screenshots
(1280x800 and a 390-px phone) go to the test's temp dir. Skipped, with the reason printed,
only when Chromium or Playwright is missing. An admin's work and sessions that end are in
tests/test_dashboard_browser_admin.py.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.browser_helpers import (
    CAMPAIGNS,
    PASSWORD,
    USER,
    log_in,
    open_page,
)
from tests.conftest import ADMIN_PASSWORD

TOKEN_KEY = "oktopus.token"
CHART_TITLES = {
    "chart-split": "Budget split now",
    "chart-allocation": "Allocation over time",
    "chart-conversions": "Conversions per campaign",
    "chart-revenue": "Revenue per campaign",
    "chart-cpa": "CPA per campaign",
    "chart-roas": "ROAS per campaign",
    "chart-success": "Success rate per campaign",
}

pytestmark = pytest.mark.parametrize("backend", ["embedded"])


def open_run(page) -> None:
    page.click("a.state-link:has-text('Spring sale')")
    page.wait_for_selector("#chart-success .gtitle")
    page.wait_for_selector("#insights-table")


def chart_titles(page) -> dict[str, str]:
    return {chart_id: page.text_content(f"#{chart_id} .gtitle") for chart_id in CHART_TITLES}


def test_a_client_user_works_a_run_on_desktop_and_phone(browser, run, tmp_path: Path) -> None:
    url, api, state_id = run
    page = open_page(browser, url, 1280, 800)
    page.fill("#login-form input[name=username]", USER)
    page.fill("#login-form input[name=password]", "wrong password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-form .notice.error")
    assert "Incorrect username or password" in page.inner_text("#login-form")
    log_in(page)
    assert "Acme · USD" in page.inner_text("header")
    assert "Spring sale" in page.inner_text("#states-table")
    open_run(page)
    page.screenshot(path=str(tmp_path / "run-1280.png"), full_page=True)

    titles = chart_titles(page)
    for chart_id, title in CHART_TITLES.items():
        assert titles[chart_id].startswith(title), titles
    assert titles["chart-split"] == "Budget split now (timestep 3)"
    assert page.text_content("#chart-revenue .ytitle") == "Revenue (USD)"
    assert page.text_content("#chart-split .xtitle") == "Budget for the timestep (USD)"
    assert page.text_content("#chart-allocation .xtitle") == "Timestep"
    assert page.locator("#chart-allocation .scatterlayer .trace").count() == 3
    assert page.locator("#chart-success .bars .point").count() == 3
    recommendation = page.inner_text("#recommendations")
    assert "from Display to Search" in recommendation
    assert "of the timestep budget ($" in recommendation
    assert "revenue per timestep" in recommendation
    assert "Search" in page.inner_text("#insights-table")
    assert page.inner_text("#current-time").startswith("3 of 10")

    # Two charts side by side on a desktop screen.
    split = page.locator("#chart-split").bounding_box()
    allocation = page.locator("#chart-allocation").bounding_box()
    assert split["y"] == allocation["y"] and allocation["x"] > split["x"] + split["width"] - 1

    for name, (rate, roas) in CAMPAIGNS.items():
        form = page.locator(f"form.metrics:has(h3:text-is('{name}'))")
        form.locator("input[name=spend]").fill("250")
        form.locator("input[name=clicks]").fill("200")
        form.locator("input[name=conversions]").fill(str(round(200 * rate)))
        form.locator("input[name=revenue]").fill(str(250 * roas))
        form.locator("button[type=submit]").click()
        form.locator(".notice.ok").wait_for()
        assert form.locator(".notice.ok").inner_text() == "Recorded for timestep 3."
    reported = api.get(f"/api/states/{state_id}/metrics").json()
    assert sorted(row["spend"] for row in reported.values()) == [250, 250, 250]
    assert sorted(row["clicks"] for row in reported.values()) == [200, 200, 200]

    page.click("#advance")
    page.wait_for_selector("#notice .notice.ok")
    assert "now spending timestep 4" in page.inner_text("#notice")
    page.wait_for_selector("#chart-success .gtitle")
    assert page.text_content("#chart-split .gtitle") == "Budget split now (timestep 4)"
    assert api.get(f"/api/states/{state_id}").json()["current_time"] == 4
    history = api.get(f"/api/states/{state_id}/history").json()
    assert history["total"] == 4 and history["items"][-1]["metrics"]

    # The scheduler advances the run behind the page's back: the page's click must not.
    assert api.post(f"/api/states/{state_id}/next", json={"expected_time": 4}).is_success
    page.click("#advance")
    conflict = page.locator("#notice .notice.conflict")
    conflict.wait_for()
    text = conflict.inner_text()
    assert "409 Conflict: not advanced" in text and "timestep 5" in text
    assert conflict.get_attribute("role") == "alert"
    assert api.get(f"/api/states/{state_id}").json()["current_time"] == 5
    page.wait_for_selector("#chart-success .gtitle")
    assert page.inner_text("#current-time").startswith("5 of 10")
    page.screenshot(path=str(tmp_path / "conflict-1280.png"), full_page=False)

    # The RPS allocator page: the RPS Flask API's example (A cheaper throughout) gives A 75%.
    page.click("header nav a:text-is('RPS allocator')")
    page.fill("#rps-form textarea[name=prices_a]", "1.00, 1.20, 1.10")
    page.fill("#rps-form textarea[name=prices_b]", "1.30\n1.35\n1.25")
    page.fill("#rps-form input[name=budget]", "1000")
    page.click("#rps-form button[type=submit]")
    page.wait_for_selector("#rps-split .gtitle")
    assert page.inner_text("#rps-band") == "A_HEAVY"
    assert page.inner_text("#rps-share-a") == "75% · $750.00"
    assert page.inner_text("#rps-share-b") == "25% · $250.00"
    assert page.text_content("#rps-prices .ytitle") == "Price (USD)"
    assert page.text_content("#rps-ratio .gtitle") == "Relative price strength (band A_HEAVY)"
    page.fill("#rps-form textarea[name=prices_b]", "1.30, 1.35")
    page.click("#rps-form button[type=submit]")
    page.wait_for_selector("#rps-message .notice.error")
    assert "same length" in page.inner_text("#rps-message")
    page.screenshot(path=str(tmp_path / "rps-1280.png"), full_page=True)

    assert page.problems == []
    assert page.hosts == {url.split("/")[2]}, "the dashboard must not fetch from other hosts"

    # The same run on a 390-px phone: one column, nothing wider than the screen.
    phone = open_page(browser, url, 390, 844)
    log_in(phone)
    open_run(phone)
    phone.screenshot(path=str(tmp_path / "run-390.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = [phone.locator(f"#{chart_id}").bounding_box() for chart_id in CHART_TITLES]
    assert all(box["x"] >= 0 and box["x"] + box["width"] <= 390 for box in boxes)
    assert all(a["y"] + a["height"] <= b["y"] for a, b in pairwise(boxes))
    titles = chart_titles(phone)
    assert all(titles[c].startswith(t) for c, t in CHART_TITLES.items())

    # Log out on the phone: the server revokes the account's tokens, the desktop's included.
    token = phone.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})")
    assert httpx.get(url + "/api/users/me", headers={"Authorization": f"Bearer {token}"}).is_success
    phone.click("#logout")
    phone.wait_for_selector("#login-form")
    assert phone.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") is None
    revoked = httpx.get(url + "/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert api.get("/api/users/me").status_code == 401
    assert phone.problems == []
    print(f"screenshots: {tmp_path}")


HOSTILE_NAMES = ['<a href="https://evil.example/">Search</a>', "Display <b>&amp;</b><br>Co"]


def test_campaign_names_with_markup_show_as_text_in_charts(browser, run) -> None:
    """A campaign's name is whatever its owner typed: no chart may read it as markup (Plotly
    turns <a href> into a live link and <br>, <b> into layout), and it reads back verbatim."""
    url, api, _ = run
    ids = [
        api.post("/api/campaigns", json={"name": name, "platform": "google"}).json()["id"]
        for name in HOSTILE_NAMES
    ]
    state = api.post(
        "/api/states", json={"name": "Markup", "campaign_ids": ids, "budget": 1000}
    ).json()
    rows = [{"campaign_id": cid, "spend": 10, "clicks": 5, "conversions": 1} for cid in ids]
    rows[0]["revenue"] = 30
    posted = api.post(f"/api/states/{state['id']}/metrics", json={"timestep": 0, "metrics": rows})
    assert posted.status_code == 200, posted.text
    assert api.post(f"/api/states/{state['id']}/next", json={"expected_time": 0}).is_success
    page = open_page(browser, url, 1280, 800)
    log_in(page)
    page.click("a.state-link:has-text('Markup')")
    page.wait_for_selector("#chart-success .gtitle")
    assert page.locator("#charts a").count() == 0, "a campaign name became a link in a chart"
    assert page.locator("#charts tspan[style*='font-weight']").count() == 0
    legend = page.locator("#chart-conversions .legendtext").all_text_contents()
    assert sorted(legend) == sorted(HOSTILE_NAMES)
    ticks = page.locator("#chart-split .ytick text").all_text_contents()
    assert sorted(ticks) == sorted(HOSTILE_NAMES)
    assert page.problems == []


@pytest.fixture
def workspace(live_server):
    """A client (EUR, Paris time) with one user and nothing else: the user builds it all."""
    with httpx.Client(base_url=live_server.url, timeout=10) as admin:
        token = admin.post(
            "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        admin.headers["Authorization"] = f"Bearer {token}"
        body = {"name": "Maison", "currency": "EUR", "timezone": "Europe/Paris"}
        client = admin.post("/api/clients", json=body).json()
        user = {"username": USER, "password": PASSWORD, "client_id": client["id"]}
        assert admin.post("/api/users", json={**user, "scopes": ["read", "write", "me"]}).is_success
    return live_server.url


def test_a_user_builds_and_changes_a_living_run(browser, workspace, tmp_path: Path) -> None:
    page = open_page(browser, workspace, 1280, 900)
    page.goto(workspace + "/")
    assert page.url.endswith("/dashboard")
    page.fill("#login-form input[name=username]", USER)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#campaign-form")
    for name in ("Search", "Social", "Display", "Shopping"):
        page.fill("#campaign-form input[name=name]", name)
        page.click("#campaign-form button[type=submit]")
        page.wait_for_selector(f"#campaigns-table input[value='{name}']")
    page.fill("#campaign-form input[name=name]", "Search")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#campaign-notice .notice.error")
    assert "already exists" in page.text_content("#campaign-notice")
    # rename and pause/resume a campaign from its row
    row = page.locator("#campaigns-table tr", has=page.locator("input[value='Display']"))
    row.locator("input[name=name]").fill("Display EU")
    row.locator("button:text-is('Rename')").click()
    page.wait_for_selector("#campaigns-table input[value='Display EU']")
    row = page.locator("#campaigns-table tr", has=page.locator("input[value='Display EU']"))
    row.locator("button:text-is('Pause')").click()
    page.wait_for_selector("#campaigns-table .badge.paused")
    row = page.locator("#campaigns-table tr", has=page.locator("input[value='Display EU']"))
    row.locator("button:text-is('Resume')").click()
    page.wait_for_selector("#campaigns-table .badge.paused", state="detached")

    # a run of three campaigns; a bad floor first shows the API's message
    page.uncheck("#run-form label.check:has-text('Shopping') input")
    page.fill("#run-form input[name=name]", "Autumn")
    page.fill("#run-form input[name=budget]", "9000")
    page.fill("#run-form input[name=timesteps]", "10")
    page.fill("#run-form input[name=floor]", "0.9")
    page.click("#run-form button[type=submit]")
    page.wait_for_selector("#run-notice .notice.error")
    assert "floor" in page.text_content("#run-notice")
    page.fill("#run-form input[name=floor]", "0.02")
    page.click("#run-form button[type=submit]")
    page.wait_for_selector("#state-title:has-text('Autumn')")

    for t in range(3):
        forms = page.locator("form.metrics")
        for k in range(forms.count()):
            form = forms.nth(k)
            form.locator("input[name=spend]").fill("300")
            form.locator("input[name=revenue]").fill(str(600 + 300 * k))
            form.locator("button[type=submit]").click()
            form.locator(".notice.ok").wait_for()
        page.click("#advance")
        page.wait_for_selector(f"#current-time:has-text('{t + 1} of 10')")

    # raise the budget: a budget below what was spent shows the API's message first
    page.fill("#edit-form input[name=budget]", "1")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector("#edit-notice .notice.error")
    assert "below what the run has spent" in page.text_content("#edit-notice")
    page.fill("#edit-form input[name=budget]", "18000")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector("#events-table td:has-text('budget')")
    page.check("#edit-form label.check:has-text('Shopping') input")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector("#events-table td:has-text('added Shopping')")

    events = page.text_content("#events-table")
    assert "€9,000.00 → €18,000.00" in events and "(Europe/Paris)" in events
    page.wait_for_selector("#chart-curves .gtitle")
    assert page.text_content("#chart-curves .gtitle") == "What the run has learnt"
    curves = page.text_content("#curves-table")
    for name in ("Search", "Social", "Display EU", "Shopping"):
        assert name in curves
    page.wait_for_selector("#forecast-table")
    assert "Equal split" in page.text_content("#forecast-table")
    page.screenshot(path=str(tmp_path / "living-run.png"), full_page=True)

    # a campaign in a running state cannot be deleted: the page says why; then the run goes
    page.click("a:text-is('← All runs')")
    row = page.locator("#campaigns-table tr", has=page.locator("input[value='Shopping']"))
    row.locator("button:text-is('Delete')").click()
    page.wait_for_selector("#campaign-notice .notice.error")
    page.click("a.state-link:has-text('Autumn')")
    page.click("#delete-run")
    page.wait_for_selector("#campaigns-table")
    row = page.locator("#campaigns-table tr", has=page.locator("input[value='Shopping']"))
    row.locator("button:text-is('Delete')").click()
    page.wait_for_selector("#campaigns-table input[value='Shopping']", state="detached")
    assert "Autumn" not in page.inner_text("main")
    assert page.problems == []

    page.goto(workspace + "/docs")
    assert page.url.endswith("/api")


def test_a_user_fits_a_marketing_mix_model_and_allocates_on_it(
    browser, run, tmp_path: Path
) -> None:
    """Upload a KPI history, see the decomposition, ROI and curves with their intervals, and
    allocate on the model with the expected KPI and its interval."""
    from engine.mmm.synthetic import generate

    url, api, _ = run
    if "/api/models" not in api.get("/api/openapi.json").json()["paths"]:
        print("SKIP: this build has no marketing-mix API")
        pytest.skip("this build has no /api/models")
    rows = generate(3, periods=60, channels=3, noise=0.05)["rows"]
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(str(row[c]) for c in columns) for row in rows]
    history = tmp_path / "mmm.csv"
    history.write_text("\n".join(lines) + "\n")
    page = open_page(browser, url, 1280, 800)
    log_in(page)
    page.click("header nav a:text-is('Marketing mix')")
    page.set_input_files("#mmm-form input[name=file]", str(history))
    page.fill("#mmm-form input[name=controls]", "price")
    page.click("#mmm-form button[type=submit]")
    page.wait_for_selector("#mmm-curves .gtitle", timeout=120_000)
    assert page.text_content("#mmm-decomposition .gtitle") == "revenue decomposed"
    assert page.text_content("#mmm-roi .gtitle") == "ROI per channel (90% interval)"
    assert page.text_content("#mmm-curves .gtitle") == "Response curves (90% band)"
    assert {"tv", "search", "social"} <= set(page.inner_text("#mmm-table").split())
    # Three channels' bands (two edges each) and means.
    assert page.locator("#mmm-curves .scatterlayer .trace").count() == 9
    page.fill("#mmm-allocate-form input[name=budget]", "20000")
    page.click("#mmm-allocate-form button[type=submit]")
    page.wait_for_selector("#mmm-expected")
    assert "90% interval" in page.inner_text("#mmm-expected")
    cells = [
        row.locator("td").nth(1).inner_text()
        for row in page.locator("#mmm-allocation-table tbody tr").all()
    ]
    spent = sum(float(text.strip("$").replace(",", "")) for text in cells)
    assert spent == pytest.approx(20000, abs=0.05)
    page.screenshot(path=str(tmp_path / "mmm-1280.png"), full_page=True)
    assert page.problems == []
