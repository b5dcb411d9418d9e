"""Login throttling: after too many failures for one name within a window, logins wait.

Every attempt is a document in `login_failures` (name, time) written *before* its secret is
checked, so every API replica behind a load balancer sees the same count, and guesses sent in
parallel count each other while the slow password hash runs. An attempt that succeeds is
removed (with the completed failures before it); one that fails is marked failed and stays
until it leaves the window; one refused by the throttle is removed, as it guessed nothing.
"""

from __future__ import annotations

import math
from datetime import timedelta

from utils.crud import login_failures
from utils.db import Store, as_utc, utcnow
from utils.settings import Settings


class Throttled(Exception):
    """Too many attempts for one name within the window: the API answers 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after


def start_attempt(store: Store, settings: Settings, key: str) -> str:
    """Record an attempt for `key` and return its id, or raise Throttled.

    The attempt counts itself and every attempt of the window, finished or still being
    checked: of guesses sent at once, at most `login_max_failures` get to be checked.
    """
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    login_failures.forget_before(store, now - window)
    attempt = login_failures.insert(store, key, now)
    recent = login_failures.since(store, key, now - window)
    if len(recent) <= settings.login_max_failures:
        return attempt
    login_failures.delete(store, attempt)
    others = [doc for doc in recent if doc["_id"] != attempt]
    # The throttle lifts when enough of the oldest attempts have left the window for one more.
    lifts_at = as_utc(others[len(others) - settings.login_max_failures]["at"]) + window
    raise Throttled(max(1, math.ceil((lifts_at - utcnow()).total_seconds())))


def record_failure(store: Store, attempt: str) -> None:
    """The attempt's secret was wrong: it keeps counting until it leaves the window."""
    login_failures.mark_failed(store, attempt)


def record_success(store: Store, key: str, attempt: str) -> None:
    """A successful login does not count, and starts the count of finished failures again;
    attempts of `key` still being checked go on counting."""
    login_failures.delete(store, attempt)
    login_failures.delete_failed(store, key)
