"""Restarts keep the embedded store and the generated key; initialize.py is idempotent, and
start-up stops with a message naming what to fix when the stored indexes or data forbid it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fast import create_app
from initialize import initialize
from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, login, make_settings
from utils.db import IndexSetupError, Store, StoreInUse
from utils.security import PasswordHasher, load_secret_key
from utils.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BANNER = re.compile(r"Generated password \(shown once, change it at first login\): (\S+)")


def _embedded(data_dir: Path, **overrides: object) -> Settings:
    return make_settings("embedded", data_dir, **overrides)


def test_embedded_store_keeps_users_clients_and_credentials_across_restarts(tmp_path):
    settings = _embedded(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        acme = client.post("/api/clients", json={"name": "Acme", "currency": "USD"}, headers=admin)
        user = client.post(
            "/api/users",
            json={"username": "dana", "password": USER_PASSWORD, "client_id": acme.json()["id"]},
            headers=admin,
        )
        assert user.status_code == 201
        dana = login(client, "dana", USER_PASSWORD)
        credential = client.post("/api/users/me/credentials", json={}, headers=dana).json()
        clients_before = client.get("/api/clients", headers=admin).json()
        users_before = client.get("/api/users", headers=admin).json()

    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        assert client.get("/api/clients", headers=admin).json() == clients_before
        assert client.get("/api/users", headers=admin).json() == users_before
        assert client.get("/api/users/me/credentials", headers=dana).status_code == 200
        token = client.post(
            "/api/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credential["client_id"],
                "client_secret": credential["client_secret"],
            },
        )
        assert token.status_code == 200
        # Unique indexes still hold after the restart.
        again = client.post("/api/clients", json={"name": "Acme"}, headers=admin)
        assert again.status_code == 409
        assert client.get("/api/clients", headers=admin).json()["total"] == 1


def test_a_different_data_dir_is_a_different_store(tmp_path):
    with TestClient(create_app(_embedded(tmp_path / "one"))) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        assert client.post("/api/clients", json={"name": "Acme"}, headers=admin).status_code == 201
    with TestClient(create_app(_embedded(tmp_path / "two"))) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        assert client.get("/api/clients", headers=admin).json()["total"] == 0


def test_generated_secret_key_is_private_and_tokens_survive_a_restart(tmp_path):
    settings = _embedded(tmp_path / "data", secret_key=None)
    with TestClient(create_app(settings)) as client:
        headers = login(client, "admin", ADMIN_PASSWORD)
        assert client.get("/api/users", headers=headers).status_code == 200
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()
    assert len(key) >= 43
    assert [p.name for p in key_file.parent.iterdir() if p.name.startswith(".secret")] == []

    with TestClient(create_app(settings)) as client:
        assert client.get("/api/users", headers=headers).status_code == 200
    assert key_file.read_text() == key

    # Another data dir means another key: the old token does not verify there.
    with TestClient(create_app(_embedded(tmp_path / "elsewhere", secret_key=None))) as client:
        assert client.get("/api/users", headers=headers).status_code == 401


def test_configured_secret_key_writes_no_key_file(tmp_path):
    settings = _embedded(tmp_path / "data", secret_key="configured-signing-key")
    with TestClient(create_app(settings)) as client:
        login(client, "admin", ADMIN_PASSWORD)
    assert not (tmp_path / "data" / "secret_key").exists()
    assert load_secret_key(settings) == "configured-signing-key"


def test_processes_starting_together_agree_on_one_key(tmp_path):
    settings = _embedded(tmp_path / "data", secret_key=None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: load_secret_key(settings), range(32)))
    assert len(keys) == 1
    assert keys == {(tmp_path / "data" / "secret_key").read_text()}


def test_an_empty_key_file_is_refused_not_used(tmp_path):
    settings = _embedded(tmp_path / "data", secret_key=None)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("\n")
    with pytest.raises(RuntimeError, match="empty"):
        load_secret_key(settings)


@pytest.mark.parametrize("blocked", ["key_is_a_directory", "data_dir_is_a_file"])
def test_a_key_file_that_cannot_be_read_or_made_is_refused_saying_what_to_do(tmp_path, blocked):
    """Not a bare OSError naming a private draft file: the key file, the reason, and the two
    ways out (SECRET_KEY, or a DATA_DIR the server can read and write)."""
    data_dir = tmp_path / "data"
    if blocked == "key_is_a_directory":
        (data_dir / "secret_key").mkdir(parents=True)
    else:
        data_dir.write_text("not a directory")
    settings = make_settings("mongomock", data_dir, secret_key=None)
    with pytest.raises(RuntimeError) as raised:
        load_secret_key(settings)
    message = str(raised.value)
    assert str(data_dir / "secret_key") in message
    assert "SECRET_KEY" in message and "DATA_DIR" in message
    with pytest.raises(RuntimeError, match="SECRET_KEY"), TestClient(create_app(settings)):
        pass


# --- python initialize.py -------------------------------------------------------------------


def _run_initialize(data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MONGODB_", "ADMIN_")) and k != "SECRET_KEY"
    }
    env.update({"DATA_DIR": str(data_dir), "PASSWORD_HASH_MEMORY_KIB": "1024"})
    return subprocess.run(
        [sys.executable, str(REPO / "initialize.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_embedded_store_serves_one_process_at_a_time(tmp_path):
    """A second process (another server, `initialize.py`, `utils.cron --direct`) would break
    exactly-once advancement, which rests on one process making every store call."""
    data_dir = tmp_path / "data"
    with TestClient(create_app(_embedded(data_dir))) as client:
        login(client, "admin", ADMIN_PASSWORD)
        refused = _run_initialize(data_dir, tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert f"in use by another Oktopus process (pid {os.getpid()})" in refused.stderr
        assert "Traceback" not in refused.stderr
        with pytest.raises(StoreInUse):
            Store(_embedded(data_dir))
    after = _run_initialize(data_dir, tmp_path)
    assert after.returncode == 0, after.stderr


def test_a_store_that_fails_to_open_or_close_lets_the_embedded_store_go(tmp_path, monkeypatch):
    """The lock is the store's alone: a store whose opening fails after taking it, or whose
    client fails to close, must not keep the next store of this process (a retry, the next
    test) out as if another Oktopus process had it."""
    import litemongo

    settings = _embedded(tmp_path / "data")
    connect = litemongo.connect

    def broken_connect(*args, **kwargs):
        raise OSError("the store's files cannot be read")

    monkeypatch.setattr(litemongo, "connect", broken_connect)
    with pytest.raises(OSError, match="cannot be read"):
        Store(settings)
    monkeypatch.setattr(litemongo, "connect", connect)
    store = Store(settings)

    def broken_close():
        raise RuntimeError("the client failed to close")

    monkeypatch.setattr(store.client, "close", broken_close)
    with pytest.raises(RuntimeError, match="failed to close"):
        store.close()
    Store(settings).close()


def test_a_server_whose_start_up_fails_lets_the_embedded_store_go(tmp_path):
    """Start-up opens the store, then reads the signing key: a failure there (here the key
    file is a directory) must close the store, or the fixed server cannot start in this
    process, and a second store of this process is told so, not blamed on another one."""
    settings = _embedded(tmp_path / "data", secret_key=None)
    blocked_key = tmp_path / "data" / "secret_key"
    blocked_key.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="secret_key"), TestClient(create_app(settings)):
        pass
    blocked_key.rmdir()
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/health").status_code == 200
        with pytest.raises(StoreInUse, match=r"already open in this process \(pid"):
            Store(settings)


def test_a_lock_file_that_cannot_be_opened_is_refused_saying_what_to_do(tmp_path):
    settings = _embedded(tmp_path / "data")
    (tmp_path / "data" / "store" / ".oktopus.lock").mkdir(parents=True)
    with pytest.raises(RuntimeError, match=r"lock file .*read and write access to DATA_DIR"):
        Store(settings)


def test_initialize_script_refuses_an_index_naming_it_without_a_traceback(tmp_path):
    data_dir = tmp_path / "data"
    store = Store(_embedded(data_dir))
    try:
        store.collection("clients").insert_many([{"name": "Acme"}, {"name": "Acme"}])
    finally:
        store.close()
    refused = _run_initialize(data_dir, tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "unique index" in refused.stderr and "'clients'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_initialize_script_is_idempotent(tmp_path):
    data_dir = tmp_path / "data"
    first = _run_initialize(data_dir, tmp_path)
    assert first.returncode == 0, first.stderr
    passwords = BANNER.findall(first.stderr)
    assert len(passwords) == 1
    assert "embedded" in first.stderr

    second = _run_initialize(data_dir, tmp_path)
    assert second.returncode == 0, second.stderr
    assert BANNER.findall(second.stderr) == []
    assert "present" in second.stderr
    assert passwords[0] not in second.stderr + second.stdout

    settings = _embedded(data_dir, admin_password=None)
    store = Store(settings)
    try:
        users = store.collection("users").find({})
        indexes = store.run(lambda: store.db["users"].index_information())
    finally:
        store.close()
    assert [(u["username"], u["first_login"]) for u in users] == [("admin", True)]
    assert indexes["username_1"]["unique"] is True

    with TestClient(create_app(settings)) as client:
        token = client.post(
            "/api/auth/token", data={"username": "admin", "password": passwords[0]}
        ).json()
        assert token["first_login"] is True


# --- indexes that cannot be made -----------------------------------------------------------


def test_an_admin_username_naming_a_client_user_is_reported_not_silently_kept(tmp_path, caplog):
    settings = _embedded(tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        acme = client.post("/api/clients", json={"name": "Acme", "currency": "USD"}, headers=admin)
        body = {"username": "ana", "password": USER_PASSWORD, "client_id": acme.json()["id"]}
        assert client.post("/api/users", json=body, headers=admin).status_code == 201
    store = Store(settings.model_copy(update={"admin_username": "ana"}))
    try:
        with caplog.at_level("WARNING", logger="oktopus.initialize"):
            initialize(store, settings, PasswordHasher(settings.password_hash_memory_kib))
            assert not caplog.records
            renamed = settings.model_copy(update={"admin_username": "ana"})
            initialize(store, renamed, PasswordHasher(settings.password_hash_memory_kib))
        users = store.collection("users")
        assert users.get({"username": "ana"})["client_id"] == acme.json()["id"]
    finally:
        store.close()
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "ADMIN_USERNAME 'ana' names a user without the admin scope"
    ]


def test_initialize_script_does_not_call_a_client_user_named_by_admin_username_the_admin(
    tmp_path, monkeypatch, caplog
):
    """After warning that the user has no admin scope, `python initialize.py` must not go on
    to log that the admin user is present (the operator would read the two as contradictory),
    and exits 2: a deployment script must not go on as if it had an admin."""
    import initialize as script
    from utils.settings import get_settings

    data_dir = tmp_path / "data"
    with TestClient(create_app(_embedded(data_dir))) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        acme = client.post("/api/clients", json={"name": "Acme", "currency": "USD"}, headers=admin)
        body = {"username": "ana", "password": USER_PASSWORD, "client_id": acme.json()["id"]}
        assert client.post("/api/users", json=body, headers=admin).status_code == 201
    for name in ("MONGODB_URI", "SECRET_KEY", "ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("PASSWORD_HASH_MEMORY_KIB", "1024")
    messages = {}
    for username, exit_code in (("admin", 0), ("ana", 2)):
        monkeypatch.setenv("ADMIN_USERNAME", username)
        get_settings.cache_clear()
        caplog.clear()
        try:
            with caplog.at_level("INFO", logger="oktopus.initialize"):
                assert script.main() == exit_code
        finally:
            get_settings.cache_clear()
        messages[username] = [record.getMessage() for record in caplog.records]
    assert "Admin user 'admin' present" in messages["admin"]
    assert any("without the admin scope" in message for message in messages["ana"])
    assert not any("present" in message for message in messages["ana"]), messages["ana"]
    assert not any("Database ready" in message for message in messages["ana"]), messages["ana"]
    assert any("no admin user 'ana'" in message for message in messages["ana"])


@pytest.mark.parametrize(
    ("collection", "keys", "options"),
    [
        ("clients", [("name", 1)], {}),
        ("users", [("username", -1)], {"name": "username_1", "unique": True}),
        ("login_failures", [("at", 1)], {"expireAfterSeconds": 60}),
    ],
)
def test_an_index_kept_with_other_options_stops_start_up_naming_it(
    settings, collection, keys, options
):
    """Not as "database unavailable" (the store answers): the error names the collection and
    the index Oktopus wants, and the driver's reason."""
    store = Store(settings)
    try:
        store.run(lambda: store.db[collection].create_index(keys, **options))
        with pytest.raises(IndexSetupError) as raised:
            initialize(store, settings, PasswordHasher(settings.password_hash_memory_kib))
    finally:
        store.close()
    message = str(raised.value)
    assert f"collection {collection!r}" in message
    assert "already exists with other options" in message
    assert "IndexOptionsConflict" in message or "IndexKeySpecsConflict" in message


def test_an_index_the_database_user_may_not_create_stops_start_up_naming_the_privilege(
    settings, monkeypatch
):
    from pymongo.collection import Collection as DriverCollection
    from pymongo.errors import OperationFailure

    def refused(self, *args, **kwargs):
        raise OperationFailure("not authorized on oktopus to execute command", code=13)

    store = Store(settings)
    try:
        monkeypatch.setattr(type(store.db["users"]), "create_index", refused)
        monkeypatch.setattr(DriverCollection, "create_index", refused)
        with pytest.raises(IndexSetupError) as raised:
            initialize(store, settings, PasswordHasher(settings.password_hash_memory_kib))
    finally:
        store.close()
    assert "createIndex privilege" in str(raised.value)
    assert "drop it" not in str(raised.value)


def test_stored_duplicates_of_a_unique_key_stop_start_up_naming_the_key(settings):
    store = Store(settings)
    try:
        store.collection("clients").insert_many([{"name": "Acme"}, {"name": "Acme"}])
        with pytest.raises(IndexSetupError) as raised:
            initialize(store, settings, PasswordHasher(settings.password_hash_memory_kib))
    finally:
        store.close()
    message = str(raised.value)
    assert "unique index" in message and "'clients'" in message and "name" in message
    assert "duplicate" in message
