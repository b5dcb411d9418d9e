"""End-to-end time of POST /api/optimize/allocate for 1,000 campaigns of mixed families.

The baseline, measured in the same run, is the engine alone (curves from specs plus the
scenario solve) on the same request: the ratio shows what HTTP, validation and JSON cost.
In process (Starlette's test client, in-memory store). Target: well under a second.
Budget and capacity are per campaign (400 and 200, as 400,000 and 200,000 for the default
1,000), so every --campaigns size stays feasible: maximum spends are 500 to 2,000 each.

    python -m benchmarks.optimize_endpoint [--campaigns 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.in_process_api import admin_headers, in_process_client
from engine.scenarios import optimize_allocation
from engine.specs import curves_from_specs

BUDGET_PER_CAMPAIGN = 400.0
CAPACITY_PER_CAMPAIGN = 200.0


def scenarios(campaigns: int) -> dict[str, dict]:
    """Request options of each scenario, the capacity scaled with the campaign count."""
    return {
        "fixed_budget": {},
        "target_roas": {"scenario": "target_efficiency", "target_roas": 0.3},
        "capacity": {"capacity": CAPACITY_PER_CAMPAIGN * campaigns},
    }


def make_curves(count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    curves = []
    for index in range(count):
        family = ("negexp", "mm", "hill")[index % 3]
        scale = float(rng.uniform(100, 1000))
        params = {
            "negexp": {"alpha": scale, "mu": float(rng.uniform(1e-4, 1e-2))},
            "mm": {"vmax": scale, "k": float(rng.uniform(50, 2000))},
            "hill": {
                "vmax": scale,
                "k": float(rng.uniform(50, 2000)),
                "n": float(rng.uniform(0.5, 3)),
            },
        }[family]
        curves.append(
            {
                "campaign": f"c{index}",
                "family": family,
                "params": params,
                "min": float(rng.uniform(0, 50)),
                "max": float(rng.uniform(500, 2000)),
                "current": 300.0,
            }
        )
    return curves


def engine_only(body: dict) -> None:
    specs = body["curves"]
    names, curves = curves_from_specs(specs)
    optimize_allocation(
        curves,
        body["budget"],
        body.get("scenario", "fixed_budget"),
        lower=np.array([c["min"] for c in specs]),
        upper=np.array([c["max"] for c in specs]),
        current=np.array([c["current"] for c in specs]),
        capacity=body.get("capacity"),
        target_roas=body.get("target_roas"),
        names=names,
    )


def best_of(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    curves = make_curves(args.campaigns)
    with in_process_client() as client:
        headers = admin_headers(client)
        print(f"{'scenario':<14} {'K':>6} {'endpoint ms':>12} {'engine ms':>10} {'ratio':>6}")
        budget = BUDGET_PER_CAMPAIGN * args.campaigns
        for name, options in scenarios(args.campaigns).items():
            body = {"budget": budget, "curves": curves, **options}

            def call(body: dict = body) -> None:
                answer = client.post("/api/optimize/allocate", json=body, headers=headers)
                assert answer.status_code == 200, answer.text

            endpoint = best_of(call, args.repeats)
            engine = best_of(lambda body=body: engine_only(body), args.repeats)
            print(
                f"{name:<14} {args.campaigns:>6} {endpoint * 1e3:>12.1f} "
                f"{engine * 1e3:>10.1f} {endpoint / engine:>6.2f}"
            )


if __name__ == "__main__":
    main()
