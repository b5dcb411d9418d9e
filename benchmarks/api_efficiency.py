"""Efficiency of policies driven through the REST API, beside the same runs in the engine.

Issue 22 measured `curve` from outside the project, through the REST API: campaigns and a
state created over HTTP, then each timestep the budgets read, the metrics reported and `next`
called, as a client's dashboard or cron does. This script plays the spread worlds
(`engine.spread_worlds`, the kind of world that measurement used; any stationary distribution
of `benchmarks.policy_efficiency` with `--distributions`) the same way, in process
(Starlette's test client, in-memory store), and prints each policy's efficiency (expected
revenue over the oracle's that knows the curves) beside the engine's own run
(`engine.simulate.run`) on the same world and seed. The API rounds money to the cent; nothing
else differs. With a decision continuous in its inputs the two runs agree to the rounding; the
information-directed decision picks one of a few candidate moves, so a cent can flip a near
tie, after which the two are two runs of the same policy on the same world (the difference
column shows where that happened). The tables of `benchmarks.policy_efficiency` are what a
client of the API gets.

    python -m benchmarks.api_efficiency [--seeds 6] [--timesteps 30] [--step 0.25]
        [--distributions spread400 ...] [--players uniform curve]
"""

from __future__ import annotations

import argparse
import time

import httpx
import numpy as np
from fastapi.testclient import TestClient

from benchmarks.in_process_api import admin_headers, in_process_client
from benchmarks.policy_efficiency import DISTRIBUTIONS
from engine.simulate import oracle_spend, run
from engine.worlds import FAMILIES, World

USER_PASSWORD = "benchmark-user-password"
STATIONARY = [name for name in DISTRIBUTIONS if name != "real"]
"""The distributions played: every one of `benchmarks.policy_efficiency`'s but `real`, whose late
reports, drift and launches this client loop does not replay."""


def client_headers(client: TestClient) -> dict[str, str]:
    """A client user's auth headers: the admin creates a client and a user with write scope."""
    admin = admin_headers(client)
    answer = client.post("/api/clients", json={"name": "Benchmark"}, headers=admin)
    answer.raise_for_status()
    user = {
        "username": "runner",
        "password": USER_PASSWORD,
        "client_id": answer.json()["id"],
        "scopes": ["read", "write", "me"],
    }
    client.post("/api/users", json=user, headers=admin).raise_for_status()
    token = client.post("/api/auth/token", data={"username": "runner", "password": USER_PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _checked(answer: httpx.Response) -> dict:
    if answer.status_code >= 400:
        raise RuntimeError(f"{answer.request.method} {answer.request.url}: {answer.text}")
    return answer.json()


def _cents(values: list[float]) -> list[float]:
    return [round(float(value), 2) for value in values]


def api_run(
    client: TestClient,
    headers: dict[str, str],
    policy: str,
    world: World,
    seed: int,
    step: float,
    label: str,
    params: dict | None = None,
) -> float:
    """One run of `policy` on the world through the REST API; its efficiency.

    The reports are the world's observations at the API's budgets, drawn from the generator
    `engine.simulate.run` uses for the same seed, so both see the same noise.
    """
    ids = [
        _checked(
            client.post(
                "/api/campaigns", json={"name": f"{label} {k}", "platform": "web"}, headers=headers
            )
        )["id"]
        for k in range(world.n_campaigns)
    ]
    body = {
        "campaign_ids": ids,
        "budget": world.timestep_budget * world.timesteps,
        "timesteps": world.timesteps,
        "policy": {"name": policy, "params": params or {}},
        "objective": "revenue",
        "step": step,
        "floor": 0.0,
        "seed": seed,
    }
    state = _checked(client.post("/api/states", json=body, headers=headers))["id"]
    rng = np.random.default_rng([seed, 7919])  # engine.simulate.run's report generator
    zeros = np.zeros(world.n_campaigns)
    best = world.expected_revenue(oracle_spend(world, 0, zeros, zeros + np.inf), 0)
    revenue = np.zeros(world.timesteps)
    for t in range(world.timesteps):
        budgets = _checked(client.get(f"/api/states/{state}/budget", headers=headers))["budgets"]
        spend = np.array([budgets[campaign] for campaign in ids])
        revenue[t] = world.expected_revenue(spend, t)
        if t == world.timesteps - 1:
            break
        report = world.observe(spend, t, rng)
        rows = [
            {"campaign_id": campaign, **dict(zip(report, _cents(column), strict=True))}
            for campaign, *column in zip(ids, *(report[m] for m in report), strict=True)
        ]
        metrics = {"timestep": t, "metrics": rows}
        _checked(client.post(f"/api/states/{state}/metrics", json=metrics, headers=headers))
        _checked(client.post(f"/api/states/{state}/next", json={}, headers=headers))
    return float(revenue.sum() / (best * world.timesteps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=6, help="worlds (seeds 0..N-1)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=30)
    parser.add_argument("--step", type=float, default=0.25)
    parser.add_argument("--distributions", nargs="+", default=["spread400"], choices=STATIONARY)
    parser.add_argument("--players", nargs="+", default=["uniform", "curve"])
    args = parser.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.perf_counter()
    print(
        f"seeds {seeds[0]}..{seeds[-1]}, T = {args.timesteps}, step {args.step:g}; efficiency "
        "through the API and in the engine (engine.simulate.run), same world and seed"
    )
    header = f"{'world':<10} {'player':<10} {'seed':>4} {'K':>3} {'family':<16}"
    print(f"{header} {'API':>8} {'engine':>8} {'diff':>9}")
    with in_process_client() as client:
        headers = client_headers(client)
        for name, player in [(d, p) for d in args.distributions for p in args.players]:
            through_api, in_engine = [], []
            for seed in seeds:
                world = DISTRIBUTIONS[name](seed, args.timesteps)
                label = f"{name} {player} {seed}"
                api = api_run(client, headers, player, world, seed, args.step, label)
                engine = run(player, world, seed, step=args.step).efficiency
                through_api.append(api)
                in_engine.append(engine)
                kinds = sorted({FAMILIES[int(k)] for k in world.kind})
                family = kinds[0] if len(kinds) == 1 else "mixed"
                print(
                    f"{name:<10} {player:<10} {seed:>4} {world.n_campaigns:>3} {family:<16} "
                    f"{api:>8.4f} {engine:>8.4f} {api - engine:>+9.5f}"
                )
            print(
                f"{name:<10} {player:<10} mean (worst world): API {np.mean(through_api):.4f} "
                f"({min(through_api):.3f}), engine {np.mean(in_engine):.4f} "
                f"({min(in_engine):.3f})"
            )
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
