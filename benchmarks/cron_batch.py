"""Time one cron run advancing 1,000 due states of 10 campaigns each on the embedded store.

The cron run is the code `POST /api/timesteps/run` runs, with the server's default number of
decision worker processes (or `--decision-workers`). The baseline, measured in the same run,
is the engine alone advancing the same states in this process with no database: the ratio
shows what persistence costs, less what the workers win back. Target: the cron run under 20 s.

    python -m benchmarks.cron_batch [--states 1000] [--campaigns 10] [--decision-workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from engine import make_policy
from models.states import MetricsPost, StateCreate
from tests.conftest import make_settings
from utils.crud import campaigns
from utils.db import Store
from utils.decisions import DecisionPool
from utils.settings import Settings
from utils.timesteps import create_state, run_due, store_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--policy", default="curve")
    parser.add_argument(
        "--decision-workers", type=int, default=Settings.model_fields["decision_workers"].default
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(make_settings("embedded", Path(tmp)))
        store.ensure_indexes()
        ids = [
            campaigns.insert(store, {"client_id": "bench", "name": f"c{k}", "status": "active"})[
                "_id"
            ]
            for k in range(args.campaigns)
        ]
        body = StateCreate(
            campaign_ids=ids,
            budget=30_000,
            timesteps=30,
            start_at=datetime.now(UTC) - timedelta(days=2),
            policy={"name": args.policy},
        )
        started = time.perf_counter()
        states = [create_state(store, "bench", body) for _ in range(args.states)]
        created = time.perf_counter() - started
        for state in states:
            rows = [
                {"campaign_id": cid, "spend": b, "revenue": b * rng.uniform(0.5, 3)}
                for cid, b in state["budgets"].items()
            ]
            store_metrics(store, state, MetricsPost(timestep=0, metrics=rows))

        pool = DecisionPool(args.decision_workers)
        pool.ready()
        started = time.perf_counter()
        outcome = asyncio.run(run_due(store, pool, {}))
        cron_seconds = time.perf_counter() - started
        pool.close()

        policy = make_policy(args.policy, {})
        engines = [orjson.loads(s["engine"]) for s in states]
        observations = {
            "spend": [1000.0] * args.campaigns,
            "revenue": list(rng.uniform(500, 3000, args.campaigns)),
        }
        started = time.perf_counter()
        for engine_state in engines:
            policy.advance(engine_state, observations)
        engine_seconds = time.perf_counter() - started
        store.close()

    print(
        f"{args.states} due states x {args.campaigns} campaigns, {args.policy} policy, "
        f"embedded store, {args.decision_workers} decision worker process(es)"
    )
    print(f"{'step':<34}{'seconds':>10}{'per state ms':>14}")
    for name, seconds in (
        ("create states (not timed by target)", created),
        ("engine only, no database (baseline)", engine_seconds),
        ("cron run: POST /timesteps/run code", cron_seconds),
    ):
        print(f"{name:<34}{seconds:>10.2f}{seconds / args.states * 1000:>14.2f}")
    print(
        f"advanced {len(outcome['advanced'])}, skipped {len(outcome['skipped'])}, "
        f"errors {len(outcome['errors'])}; cron/engine ratio {cron_seconds / engine_seconds:.1f}; "
        f"target: cron run < 20 s"
    )


if __name__ == "__main__":
    main()
