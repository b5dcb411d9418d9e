"""The production path on a real MongoDB wire-protocol server (and the embedded store): the
indexes Oktopus relies on exist as MongoDB made them, and dates come back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fastapi.testclient import TestClient

from tests.conftest import make_campaigns
from utils.db import Store

# The unique keys exactly-once work and tenant isolation rest on: (collection, index, keys).
UNIQUE_INDEXES = [
    ("users", "username_1", [("username", 1)]),
    ("clients", "name_1", [("name", 1)]),
    ("campaigns", "client_id_1_name_1", [("client_id", 1), ("name", 1)]),
]


def test_start_up_creates_the_unique_indexes_on_the_server(client: TestClient, settings):
    store = Store(settings) if settings.backend == "mongodb" else client.app.state.store
    try:
        for collection, name, keys in UNIQUE_INDEXES:
            info = store.run(lambda c=collection: store.db[c].index_information())
            assert name in info, (collection, sorted(info))
            assert [tuple(pair) for pair in info[name]["key"]] == keys
            assert info[name].get("unique") is True
        # The store enforces them: a second user of one name is refused by the database itself.
        users = store.db["users"]
        existing = store.run(lambda: users.find_one({}))
        copy = {**existing, "_id": "another-id"}
        try:
            store.run(lambda: users.insert_one(copy))
        except Exception as error:  # the data layer's Conflict on every backend
            assert type(error).__name__ == "Conflict"
        else:
            raise AssertionError("a duplicate username was stored")
    finally:
        if settings.backend == "mongodb":
            store.close()


def test_dates_round_trip_timezone_aware(client: TestClient, tenant):
    ids = make_campaigns(client, tenant.headers, n=2)
    paris = timezone(timedelta(hours=1))
    start = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=paris)
    made = client.post(
        "/api/states",
        json={"campaign_ids": ids, "budget": 100, "timesteps": 3, "start_at": start.isoformat()},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    read = client.get(f"/api/states/{made.json()['id']}", headers=tenant.headers).json()
    stored = datetime.fromisoformat(read["start_at"])
    assert stored.tzinfo is not None
    assert stored == start
    assert stored.utcoffset() == timedelta(0)
    due = datetime.fromisoformat(read["next_due_at"])
    assert due == start.astimezone(UTC) + timedelta(hours=read["timestep_hours"])
