"""Login throttling: after too many failures within a window, logins wait.

An attempt counts under several keys, each with its own limit: the name tried *from one
source address* (so that guessing a user's password from elsewhere cannot lock that user
out) and the source address alone (so that one address cannot guess many names). The source
address is the peer's, or the address a trusted proxy (TRUSTED_PROXIES) forwarded for it.

Every attempt is a document in `login_failures` (name, time) written *before* its secret is
checked, so every API replica behind a load balancer sees the same count, and guesses sent in
parallel count each other while the slow password hash runs. An attempt that succeeds is
removed (with the completed failures before it); one that fails is marked failed and stays
until it leaves the window; one refused by the throttle is removed, as it guessed nothing.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from datetime import timedelta

from starlette.requests import Request

from utils.crud import login_failures
from utils.db import Store, as_utc, utcnow
from utils.settings import Settings


class Throttled(Exception):
    """Too many attempts for one name within the window: the API answers 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after


def _trusted(address: str, settings: Settings) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies
    )


def source_address(request: Request, settings: Settings) -> str:
    """The address a request comes from: its peer, or, when the peer is a trusted proxy, the
    last address in X-Forwarded-For that is not one (a client can prepend anything there)."""
    address = request.client.host if request.client else "unknown"
    if not _trusted(address, settings):
        return address
    forwarded = ",".join(request.headers.getlist("x-forwarded-for"))
    for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
        address = hop
        if not _trusted(hop, settings):
            break
    return address


def login_keys(kind: str, name: str, address: str, settings: Settings) -> list[tuple[str, int]]:
    """The throttle keys of a login attempt and their limits: the name from this address
    first (a success clears its failures), then the address alone."""
    return [
        (f"{kind}:{name}@{address}", settings.login_max_failures),
        (f"address:{address}", settings.login_max_failures_per_address),
    ]


def _start_one(store: Store, settings: Settings, key: str, limit: int) -> str:
    now = utcnow()
    window = timedelta(seconds=settings.login_window_seconds)
    attempt = login_failures.insert(store, key, now)
    recent = login_failures.since(store, key, now - window)
    if len(recent) <= limit:
        return attempt
    login_failures.delete(store, attempt)
    others = [doc for doc in recent if doc["_id"] != attempt]
    # The throttle lifts when enough of the oldest attempts have left the window for one more.
    lifts_at = as_utc(others[len(others) - limit]["at"]) + window
    raise Throttled(max(1, math.ceil((lifts_at - utcnow()).total_seconds())))


def start_attempt(store: Store, settings: Settings, keys: Sequence[tuple[str, int]]) -> list[str]:
    """Record an attempt under each (key, limit) and return its ids, or raise Throttled.

    The attempt counts itself and every attempt of the window, finished or still being
    checked: of guesses sent at once, at most `limit` get to be checked under each key.
    """
    window = timedelta(seconds=settings.login_window_seconds)
    login_failures.forget_before(store, utcnow() - window)
    started: list[str] = []
    try:
        for key, limit in keys:
            started.append(_start_one(store, settings, key, limit))
    except Throttled:
        for attempt in started:
            login_failures.delete(store, attempt)
        raise
    return started


def record_failure(store: Store, attempts: Sequence[str]) -> None:
    """The attempt's secret was wrong: it keeps counting until it leaves the window."""
    for attempt in attempts:
        login_failures.mark_failed(store, attempt)


def record_success(store: Store, key: str, attempts: Sequence[str]) -> None:
    """A successful login does not count, and starts the count of finished failures of `key`
    (the name from this address) again; attempts still being checked go on counting. The
    address's own count stays: logging in to one's own account must not reset it."""
    for attempt in attempts:
        login_failures.delete(store, attempt)
    login_failures.delete_failed(store, key)
