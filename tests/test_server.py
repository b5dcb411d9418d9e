"""The real server, as a person runs it: `uvicorn fast:app` and `python fast.py` over HTTP.

Embedded store in a temp DATA_DIR, no ADMIN_PASSWORD and no SECRET_KEY, exactly as on a fresh
checkout. Every wait is bounded: the server must answer within 30 s, each request within 10 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import LiveServer, free_port, start_server, stop_server

REPO = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"Generated password \(shown once, change it at first login\): (\S+)")
FRESH_CHECKOUT = {"SECRET_KEY": ""}
NEW_ADMIN_PASSWORD = "admin-chose-this"
USER_PASSWORD = "dana-password"
OTHER_PASSWORD = "erin-password"


def _login(http: httpx.Client, username: str, password: str) -> dict:
    response = http.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def _bearer(token: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


def _http(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10.0)


def _first_run(server: LiveServer) -> dict:
    """Admin's first login, forced password change, a client with a user, a campaign."""
    printed = BANNER.findall(server.output())
    assert len(printed) == 1, server.output()
    with _http(server) as http:
        first = _login(http, "admin", printed[0])
        assert first["first_login"] is True
        refused = http.get("/api/users", headers=_bearer(first))
        assert refused.status_code == 403
        assert "PATCH /api/auth/account" in refused.json()["detail"]
        changed = http.patch(
            "/api/auth/account",
            json={"old_password": printed[0], "new_password": NEW_ADMIN_PASSWORD},
            headers=_bearer(first),
        )
        assert changed.status_code == 204
        admin = _bearer(_login(http, "admin", NEW_ADMIN_PASSWORD))

        ids = {}
        for name, username, password in [
            ("Acme", "dana", USER_PASSWORD),
            ("Globex", "erin", OTHER_PASSWORD),
        ]:
            made = http.post("/api/clients", json={"name": name}, headers=admin)
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
            user = http.post(
                "/api/users",
                json={"username": username, "password": password, "client_id": ids[name]},
                headers=admin,
            )
            assert user.status_code == 201, user.text

        dana = _bearer(_login(http, "dana", USER_PASSWORD))
        campaign = http.post(
            "/api/campaigns", json={"name": "Search", "platform": "google"}, headers=dana
        )
        assert campaign.status_code == 201, campaign.text
        ids["campaign"] = campaign.json()["id"]
        erin = _bearer(_login(http, "erin", OTHER_PASSWORD))
        assert http.get(f"/api/campaigns/{ids['campaign']}", headers=erin).status_code == 404
        return {"ids": ids, "admin": admin, "dana": dana, "generated": printed[0]}


def _start_fast_py(data_dir: Path, timeout: float = 30.0) -> tuple[subprocess.Popen, str, Path]:
    """`python fast.py` with HOST and PORT from the environment; its URL once it answers."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "ADMIN_"))},
        **FRESH_CHECKOUT,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    log_path = data_dir.parent / "fast.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "fast.py")],
            cwd=data_dir.parent,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(url + "/api/health", timeout=1.0).status_code == 200:
                return process, url, log_path
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    process.wait(timeout=10)
    raise AssertionError(f"python fast.py did not answer:\n{log_path.read_text()}")


def test_fresh_server_flow_survives_a_restart(tmp_path):
    """First run under `uvicorn fast:app`; the restart on the same DATA_DIR is `python fast.py`."""
    data_dir = tmp_path / "data"
    server = start_server(data_dir, FRESH_CHECKOUT)
    try:
        state = _first_run(server)
    finally:
        stop_server(server)
    assert "embedded backend" in server.output()

    process, url, log_path = _start_fast_py(data_dir)
    try:
        with httpx.Client(base_url=url, timeout=10.0) as http:
            assert http.get("/api/health").json()["backend"] == "embedded"
            # The generated signing key was kept: tokens from before the restart still work.
            users = http.get("/api/users", headers=state["admin"])
            assert users.status_code == 200
            assert [u["username"] for u in users.json()["items"]] == ["admin", "dana", "erin"]
            clients = http.get("/api/clients", headers=state["admin"]).json()["items"]
            assert {c["name"]: c["id"] for c in clients} == {
                "Acme": state["ids"]["Acme"],
                "Globex": state["ids"]["Globex"],
            }
            campaign = http.get(f"/api/campaigns/{state['ids']['campaign']}", headers=state["dana"])
            assert campaign.status_code == 200
            assert campaign.json()["name"] == "Search"
            _login(http, "admin", NEW_ADMIN_PASSWORD)
            generated = http.post(
                "/api/auth/token", data={"username": "admin", "password": state["generated"]}
            )
            assert generated.status_code == 401
            erin = _bearer(_login(http, "erin", OTHER_PASSWORD))
            hidden = http.get(f"/api/campaigns/{state['ids']['campaign']}", headers=erin)
            assert hidden.status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=15)
    restarted = log_path.read_text()
    assert "embedded backend" in restarted
    assert f"127.0.0.1:{url.rsplit(':', 1)[1]}" in restarted
    output = server.output() + restarted
    assert output.count(state["generated"]) == 1
    for secret in (NEW_ADMIN_PASSWORD, USER_PASSWORD, OTHER_PASSWORD):
        assert secret not in output
