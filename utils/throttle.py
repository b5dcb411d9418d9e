"""Login throttling: after too many failures for one name within a window, logins wait.

Failures are documents in `login_failures` (name, time), so every API replica behind a load
balancer sees the same count.
"""

from __future__ import annotations

import math
from datetime import timedelta

from utils.db import Store, as_utc, utcnow
from utils.settings import Settings

COLLECTION = "login_failures"


def retry_after(store: Store, settings: Settings, key: str) -> int | None:
    """Seconds until `key` may try again, or None when it is not throttled."""
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    recent = store.collection(COLLECTION).find(
        {"username": key, "at": {"$gte": now - window}}, sort=[("at", 1)]
    )
    excess = len(recent) - settings.login_max_failures
    if excess < 0:
        return None
    # The throttle lifts when enough of the oldest failures have left the window.
    lifts_at = as_utc(recent[excess]["at"]) + window
    return max(1, math.ceil((lifts_at - now).total_seconds()))


def record_failure(store: Store, settings: Settings, key: str) -> None:
    """Count one failed login for `key`, and forget every failure older than the window."""
    failures = store.collection(COLLECTION)
    now = utcnow()
    failures.insert({"username": key, "at": now})
    failures.delete_many({"at": {"$lt": now - timedelta(seconds=settings.login_window_seconds)}})


def clear(store: Store, key: str) -> None:
    """A successful login starts the count again."""
    store.collection(COLLECTION).delete_many({"username": key})
