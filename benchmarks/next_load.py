"""Load on `POST /api/states/{id}/next` (20 campaigns, embedded store) vs a bare endpoint.

Both servers run here as single uvicorn processes on loopback ports; the same client threads
drive each for the same bounded time. Prints requests per second, p50/p99 latency and the
throughput ratio. Targets: ratio >= 0.30, `next` p99 < 50 ms.

    python -m benchmarks.next_load [--seconds 15] [--threads 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from tests.conftest import ADMIN_PASSWORD, free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
CAMPAIGNS = 20
TIMESTEPS = 90


def _headers(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    token = http.post("/api/auth/token", data={"username": username, "password": password})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def prepare(url: str, n_states: int) -> tuple[dict[str, str], list[str]]:
    """A client, a user, 20 campaigns and `n_states` curve states of 90 timesteps."""
    with httpx.Client(base_url=url, timeout=60) as http:
        admin = _headers(http, "admin", ADMIN_PASSWORD)
        client_id = http.post("/api/clients", json={"name": "Load"}, headers=admin).json()["id"]
        user = {"username": "load", "password": "load-password", "client_id": client_id}
        http.post("/api/users", json=user, headers=admin).raise_for_status()
        headers = _headers(http, "load", "load-password")
        ids = [
            http.post(
                "/api/campaigns", json={"name": f"c{k}", "platform": "google"}, headers=headers
            ).json()["id"]
            for k in range(CAMPAIGNS)
        ]
        states = []
        for _ in range(n_states):
            body = {"campaign_ids": ids, "budget": 90_000, "timesteps": TIMESTEPS, "seed": 1}
            response = http.post("/api/states", json=body, headers=headers)
            response.raise_for_status()
            states.append(response.json()["id"])
    return headers, states


def drive(url: str, requests: list[tuple[str, dict, dict | None]], threads: int, seconds: float):
    """Each thread walks its share of `requests` (path, headers, body) until time runs out."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    statuses: list[dict[int, int]] = [{} for _ in range(threads)]
    deadline = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for path, headers, body in requests[k::threads]:
                if time.perf_counter() > deadline:
                    return
                start = time.perf_counter()
                response = http.post(path, json=body, headers=headers)
                latencies[k].append(time.perf_counter() - start)
                statuses[k][response.status_code] = statuses[k].get(response.status_code, 0) + 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    all_latencies = np.array([x for row in latencies for x in row]) * 1000
    codes: dict[int, int] = {}
    for row in statuses:
        for code, n in row.items():
            codes[code] = codes.get(code, 0) + n
    return len(all_latencies) / elapsed, all_latencies, codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--states", type=int, default=16, help="states to walk (90 steps each)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        server = start_server(data_dir, {"ADMIN_PASSWORD": ADMIN_PASSWORD})
        port = free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.bare_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
        )
        bare_url = f"http://127.0.0.1:{port}"
        try:
            headers, states = prepare(server.url, args.states)
            # Timestep by timestep across states, so threads never race for one state.
            next_requests = [
                (f"/api/states/{sid}/next", headers, {"expected_time": t})
                for t in range(TIMESTEPS)
                for sid in states
            ]
            for _ in range(100):
                try:
                    httpx.post(bare_url + "/bare", json={}, timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            bare_requests = [("/bare", {}, {"expected_time": 0})] * 200_000
            bare_rps, bare_lat, bare_codes = drive(
                bare_url, bare_requests, args.threads, args.seconds
            )
            next_rps, next_lat, next_codes = drive(
                server.url, next_requests, args.threads, args.seconds
            )
        finally:
            stop_server(server)
            bare.terminate()
            bare.wait(timeout=10)

    print(
        f"{args.threads} client threads, {args.seconds:.0f} s per endpoint, {CAMPAIGNS} campaigns, "
        "embedded store, curve policy"
    )
    print(f"{'endpoint':<28}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}  statuses")
    for name, rps, lat, codes in (
        ("bare FastAPI POST", bare_rps, bare_lat, bare_codes),
        ("POST /states/{id}/next", next_rps, next_lat, next_codes),
    ):
        print(
            f"{name:<28}{len(lat):>10}{rps:>10.0f}{np.percentile(lat, 50):>10.1f}"
            f"{np.percentile(lat, 99):>10.1f}  {codes}"
        )
    ratio = next_rps / bare_rps
    print(
        f"throughput ratio next/bare: {ratio:.2f} (target >= 0.30); "
        f"next p99 {np.percentile(next_lat, 99):.1f} ms (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
