"""Advance due timesteps from a crontab: `python -m utils.cron --url … --client-id …`.

It logs in with an API credential (client_credentials grant) and calls
`POST /api/timesteps/run`. With `--direct` it runs the same code against the database named
by MONGODB_URI instead (for deployments on a real MongoDB, where several processes may share
it safely; the embedded store refuses it while the server has it open). The credential may
also come from OKTOPUS_URL, OKTOPUS_CLIENT_ID and OKTOPUS_CLIENT_SECRET, which keeps the
secret out of the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx

from utils.db import StoreInUse


def run_remote(url: str, client_id: str, client_secret: str, timeout: float) -> dict[str, Any]:
    """Log in with the credential and ask the server to advance every due state."""
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as http:
        token = http.post(
            "/api/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        response = http.post("/api/timesteps/run", headers=headers)
        response.raise_for_status()
        return response.json()


def run_direct() -> dict[str, Any]:
    """Advance due states of every client straight through the data-access module."""
    from utils.db import Store
    from utils.decisions import DecisionPool
    from utils.settings import get_settings
    from utils.timesteps import run_due

    store = Store(get_settings())
    try:
        return asyncio.run(run_due(store, DecisionPool(0), {}))
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("OKTOPUS_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--client-id", default=os.environ.get("OKTOPUS_CLIENT_ID"))
    parser.add_argument("--client-secret", default=os.environ.get("OKTOPUS_CLIENT_SECRET"))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    parser.add_argument(
        "--direct", action="store_true", help="run against MONGODB_URI instead of the API"
    )
    args = parser.parse_args(argv)
    try:
        if args.direct:
            outcome = run_direct()
        else:
            if not args.client_id or not args.client_secret:
                parser.error("--client-id and --client-secret (or OKTOPUS_CLIENT_*) are required")
            outcome = run_remote(args.url, args.client_id, args.client_secret, args.timeout)
    except httpx.HTTPStatusError as error:
        print(f"oktopus cron: {error.response.status_code} {error.response.text}", file=sys.stderr)
        return 2
    except httpx.HTTPError as error:
        print(f"oktopus cron: cannot reach {args.url}: {error}", file=sys.stderr)
        return 2
    except StoreInUse as error:
        print(f"oktopus cron: {error}", file=sys.stderr)
        return 2
    print(json.dumps(outcome))
    return 1 if outcome.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
