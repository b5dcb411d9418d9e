"""docker-compose.yml and the Dockerfile: services, wiring, no literal secrets, a working cron."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import (
    ADMIN_PASSWORD,
    drop_database,
    new_database,
    start_server,
    stop_server,
)
from utils.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SECRETS = (
    "SECRET_KEY",
    "ADMIN_PASSWORD",
    "LLM_API_KEY",
    "OKTOPUS_CLIENT_ID",
    "OKTOPUS_CLIENT_SECRET",
)
FROM_USER_ENV = re.compile(r"^\$\{(?P<name>[A-Z_]+)(:?-[^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    pairs = []
    for line in lines:
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _cron_script(compose: dict) -> str:
    """The cron service's shell loop, as the container's shell receives it ($$ -> $)."""
    cron = compose["services"]["cron"]
    command = cron["command"]
    script = command[-1] if isinstance(command, list) else command
    assert cron["entrypoint"][:2] == ["/bin/sh", "-c"] or "sh -c" in str(command)
    return script.replace("$$", "$")


def _due_state(http: httpx.Client, admin: dict[str, str]) -> str:
    """A state of a new client whose first timestep ended an hour ago."""
    client_id = http.post("/api/clients", json={"name": "Acme"}, headers=admin).json()["id"]
    campaigns = [
        http.post(
            f"/api/campaigns?client_id={client_id}",
            json={"name": name, "platform": "google"},
            headers=admin,
        ).json()["id"]
        for name in ("Search", "Social")
    ]
    start = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    made = http.post(
        f"/api/states?client_id={client_id}",
        json={"campaign_ids": campaigns, "budget": 100, "start_at": start, "timestep_hours": 1},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_services_are_mongo_api_and_cron(compose):
    assert set(compose["services"]) == {"mongo", "api", "cron"}


def test_mongo_is_the_official_image_on_a_named_volume(compose):
    mongo = compose["services"]["mongo"]
    assert re.fullmatch(r"mongo(:[\w.]+)?", mongo["image"])
    volume, _, target = mongo["volumes"][0].partition(":")
    assert target.split(":")[0] == "/data/db"
    assert volume in compose["volumes"]


def test_api_is_built_here_and_points_at_mongo(compose):
    api = compose["services"]["api"]
    assert api["build"] in (".", {"context": "."})
    assert (REPO / "Dockerfile").exists()
    uri = _environment(api)["MONGODB_URI"]
    assert uri == "mongodb://mongo:27017"
    host = re.match(r"mongodb://([^:/]+)", uri).group(1)
    assert host in compose["services"]
    assert "mongo" in api["depends_on"]


def test_every_setting_can_be_given_to_the_api_service(compose, dockerfile):
    """What the README's Configuration table offers works under compose too: the api service
    forwards every setting from the user's environment, but those the file or image fix."""
    env = _environment(compose["services"]["api"])
    fixed = {"MONGODB_URI"} | {"DATA_DIR", "HOST", "PORT"}  # the compose file; the image
    assert "DATA_DIR=/data" in dict(dockerfile)["ENV"]
    forwarded = {name for name, value in env.items() if FROM_USER_ENV.match(value)}
    assert {name.upper() for name in Settings.model_fields} - fixed <= forwarded


def test_api_publishes_the_port_uvicorn_listens_on(compose, dockerfile):
    command = dict(dockerfile)["CMD"]
    argv = json.loads(command)
    port = argv[argv.index("--port") + 1]
    targets = [str(mapping).rsplit(":", 1)[-1] for mapping in compose["services"]["api"]["ports"]]
    assert targets == [port]
    assert f":{port}/api/health" in str(compose["services"]["api"]["healthcheck"]["test"])


def test_secrets_come_from_the_users_environment(compose):
    seen = set()
    for service in compose["services"].values():
        for name, value in _environment(service).items():
            if name in SECRETS or name.endswith(("PASSWORD", "SECRET", "_KEY")):
                match = FROM_USER_ENV.match(value)
                assert match, f"{name} must come from the environment, not {value!r}"
                assert match.group("name") == name
                assert value in (f"${{{name}}}", f"${{{name}:-}}", f"${{{name}-}}")
                seen.add(name)
    assert {"SECRET_KEY", "ADMIN_PASSWORD"} <= seen
    assert set(SECRETS) <= seen


def test_cron_runs_the_same_image_against_the_api(compose):
    api, cron = compose["services"]["api"], compose["services"]["cron"]
    assert cron["image"] == api["image"]
    assert cron.get("build") == api.get("build")
    assert "api" in cron["depends_on"]
    script = _cron_script(compose)
    assert "while true" in script and re.search(r"\bsleep\b", script)
    # The credential reaches utils.cron through its environment, never its command line,
    # where any process of the machine could read the secret.
    assert "python -m utils.cron --url http://api:8000 ||" in script
    assert "--client-secret" not in script and "--client-id" not in script
    env = _environment(cron)
    assert {"OKTOPUS_CLIENT_ID", "OKTOPUS_CLIENT_SECRET"} <= set(env)
    assert "SECRET_KEY" not in env and "MONGODB_URI" not in env


def test_dockerfile_runs_uvicorn_as_a_non_root_user(dockerfile):
    instructions = [instruction for instruction, _ in dockerfile]
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(arguments for instruction, arguments in dockerfile if instruction == "RUN")
    assert "pip install -r requirements.txt" in runs
    assert json.loads(dict(dockerfile)["CMD"]) == [
        "uvicorn",
        "fast:app",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    users = [arguments for instruction, arguments in dockerfile if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert instructions.index("USER") < instructions.index("CMD")
    assert "useradd" in runs and users[-1] in runs


def test_local_data_and_secrets_stay_out_of_the_image():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"data", ".env", ".git"} <= set(ignored)


def test_the_cron_command_advances_states_through_a_real_server(compose, tmp_path, mongodb_server):
    """Run the cron service's command, as its shell would, against a live server on a MongoDB
    server, as in the compose file (the container's `python` being this test's interpreter)."""
    database = new_database("oktopus_compose")
    server = start_server(
        tmp_path / "data",
        {
            "MONGODB_URI": mongodb_server,
            "MONGODB_DB": database,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "SECRET_KEY": "compose-" + uuid.uuid4().hex,
        },
    )
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as http:
            token = http.post(
                "/api/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            )
            admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
            credential = http.post("/api/users/me/credentials", json={}, headers=admin).json()
            state = _due_state(http, admin)
        line = next(
            line.strip() for line in _cron_script(compose).splitlines() if "utils.cron" in line
        )
        # The loop's `|| echo` keeps it alive after a failed run; here the exit code matters.
        command = line.split(" || ")[0].replace("http://api:8000", server.url)
        assert command.startswith("python -m utils.cron ")
        command = shlex.quote(sys.executable) + command.removeprefix("python")
        env = {
            **os.environ,
            "OKTOPUS_CLIENT_ID": credential["client_id"],
            "OKTOPUS_CLIENT_SECRET": credential["client_secret"],
        }
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
        assert [row["id"] for row in outcome["advanced"]] == [state]
        assert outcome["errors"] == []
        assert credential["client_secret"] not in done.stdout + done.stderr
        wrong = {**env, "OKTOPUS_CLIENT_SECRET": "wrong"}
        refused = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=REPO,
            env=wrong,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode != 0
        assert "401" in refused.stderr
    finally:
        stop_server(server)
        drop_database(database)
    assert credential["client_secret"] not in server.output()
