"""Where the work of one `next` goes, on the embedded store: each store call, and the engine.

Runs the read, decision and commit of `utils.timesteps.advance` in one thread (no HTTP, no
decision pool), for 32 `curve` states of 20 campaigns on a fresh embedded store, every
state's metrics reported each timestep by a simulated market. After `--warmup` timesteps,
the CPU time of every store call (by collection and operation) and of the engine's decision
step is summed over the next `--measure` timesteps; the rest of `advance` (reading metrics
rows, encoding the engine state, building documents) is the remainder. Add `server CPU
ms/req` of `python -m benchmarks.next_load` minus this total for HTTP, authentication and
response handling.

    python -m benchmarks.next_breakdown [--warmup 30] [--measure 10]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.next_load import CAMPAIGNS, TIMESTEPS, World
from engine.framework import Policy
from engine.simulate import TIMESTEP_BUDGET
from models.states import MetricsPost, StateCreate
from utils import db
from utils.crud import campaigns, states
from utils.db import Store
from utils.decisions import decide
from utils.settings import Settings
from utils.timesteps import commit_step, create_state, pending_step, store_metrics

STATES = 32
CLIENT = "load"


class Ledger:
    """CPU seconds and call counts by label, while `recording`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.recording = False

    def timed(self, label: Callable[..., str], function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.recording:
                return function(*args, **kwargs)
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                name = label(*args)
                self.seconds[name] += time.process_time() - start
                self.calls[name] += 1

        return wrapper


def instrument(ledger: Ledger) -> None:
    """Time every Collection operation and the engine's `advance` (this process only)."""
    for operation in ("get", "find", "insert", "set_if", "upsert", "update"):
        method = getattr(db.Collection, operation)
        label = functools.partial(lambda op, coll, *_: f"store {coll.name}.{op}", operation)
        setattr(db.Collection, operation, ledger.timed(label, method))
    Policy.advance = ledger.timed(lambda *_: "engine decision step", Policy.advance)


def run(warmup: int, measure: int) -> tuple[Ledger, float]:
    """Play the states for warmup + measure timesteps; answers the ledger and CPU per next."""
    ledger = Ledger()
    instrument(ledger)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Settings(data_dir=Path(tmp), secret_key="k" * 40))
        try:
            store.ensure_indexes()
            total = store.run(functools.partial(_play, store, ledger, warmup, measure))
        finally:
            store.close()
    return ledger, total / (measure * STATES)


def _play(store: Store, ledger: Ledger, warmup: int, measure: int) -> float:
    ids = [
        campaigns.insert(
            store, {"client_id": CLIENT, "name": f"c{k}", "platform": "google", "status": "active"}
        )["_id"]
        for k in range(CAMPAIGNS)
    ]
    body = StateCreate(campaign_ids=ids, budget=TIMESTEP_BUDGET * TIMESTEPS, timesteps=TIMESTEPS)
    bodies = [body.model_copy(update={"seed": seed}) for seed in range(STATES)]
    runs = [create_state(store, CLIENT, each) for each in bodies]
    world = World(ids)
    total = 0.0
    for t in range(warmup + measure):
        for index, state in enumerate(runs):
            report = MetricsPost(timestep=t, metrics=world.outcome(state["budgets"]))
            store_metrics(store, state, report)
            ledger.recording = t >= warmup
            start = time.process_time()
            # The read, decide and commit of `next`, here in one thread with no pool.
            step = pending_step(store, states.get(store, state["_id"]), expected_time=t)
            s = step.state
            decision = decide(s["policy"], s["engine"], step.observations, step.active)
            runs[index] = commit_step(store, step, decision)
            if ledger.recording:
                total += time.process_time() - start
            ledger.recording = False
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--measure", type=int, default=10)
    args = parser.parse_args(argv)
    ledger, per_next = run(args.warmup, args.measure)
    count = args.measure * STATES
    print(
        f"CPU per next, in process, {STATES} curve states x {CAMPAIGNS} campaigns, timesteps "
        f"{args.warmup}..{args.warmup + args.measure - 1}, embedded store"
    )
    print(f"{'part':<32}{'calls/next':>12}{'ms/next':>10}{'share':>8}")
    accounted = 0.0
    for name in sorted(ledger.seconds, key=ledger.seconds.get, reverse=True):
        ms = ledger.seconds[name] / count * 1000
        accounted += ms
        calls = ledger.calls[name] / count
        print(f"{name:<32}{calls:>12.1f}{ms:>10.2f}{ms / per_next / 10:>7.0f}%")
    rest = per_next * 1000 - accounted
    print(f"{'rest of advance':<32}{'':>12}{rest:>10.2f}{rest / per_next / 10:>7.0f}%")
    print(f"{'total':<32}{'':>12}{per_next * 1000:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
