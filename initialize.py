"""Prepare a database for Oktopus: indexes and the admin user. Safe to run any number of times.

The server runs the same steps at start-up, so a fresh checkout needs no separate step;
`python initialize.py` is for preparing a database ahead of a deployment.
"""

from __future__ import annotations

import logging
import sys

from utils.crud import users
from utils.db import Conflict, IndexSetupError, Store, StoreInUse, utcnow
from utils.security import SCOPES, PasswordHasher, generate_password
from utils.settings import Settings, get_settings

logger = logging.getLogger("oktopus.initialize")


def _is_admin(user: dict | None) -> bool:
    return user is not None and "admin" in user.get("scopes", [])


def ensure_admin(store: Store, settings: Settings, hasher: PasswordHasher) -> str | None:
    """Create the admin user if missing; return a generated password to show once, if any.

    With ADMIN_PASSWORD set that is the admin's password and no change is forced; without
    it a random password is generated and must be changed at first login.
    """
    existing = users.by_name(store, settings.admin_username)
    if existing is not None:
        if not _is_admin(existing):
            logger.warning(
                "ADMIN_USERNAME %r names a user without the admin scope: no admin account was "
                "created. Set ADMIN_USERNAME to a free name, or give that user the admin scope.",
                settings.admin_username,
            )
        return None
    configured = settings.admin_password.get_secret_value() if settings.admin_password else ""
    password = configured or generate_password()
    now = utcnow()
    try:
        users.insert(
            store,
            {
                "username": settings.admin_username,
                "password_hash": hasher.hash(password),
                "client_id": None,
                "scopes": list(SCOPES),
                "first_login": not configured,
                "token_version": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
    except Conflict:
        return None  # another replica created it first
    return None if configured else password


def initialize(store: Store, settings: Settings, hasher: PasswordHasher) -> str | None:
    """Indexes first (so the admin's unique username is enforced), then the admin."""
    store.ensure_indexes()
    return ensure_admin(store, settings, hasher)


def announce_password(username: str, password: str) -> None:
    """Print a generated admin password once, on the console only (never to the log)."""
    banner = "=" * 64
    print(
        f"{banner}\nOktopus admin user created: {username}\n"
        f"Generated password (shown once, change it at first login): {password}\n{banner}",
        file=sys.stderr,
        flush=True,
    )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        store = Store(settings)
    except StoreInUse as error:
        logger.error("%s", error)
        return 2
    try:
        password = initialize(store, settings, PasswordHasher(settings.password_hash_memory_kib))
    except IndexSetupError as error:
        logger.error("%s", error)
        return 2
    else:
        admin = users.by_name(store, settings.admin_username)
        if not _is_admin(admin):
            # ensure_admin said why; a deployment script must not go on as if it had an admin.
            logger.error(
                "Indexes ready on the %s backend (%s), but no admin user %r: not initialized",
                store.backend,
                store.location,
                settings.admin_username,
            )
            return 2
        logger.info("Database ready on the %s backend (%s)", store.backend, store.location)
        if password:
            announce_password(settings.admin_username, password)
        else:
            logger.info("Admin user %r present", settings.admin_username)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
