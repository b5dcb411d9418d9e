"""Decision steps: one engine `advance` on a stored state, in this process or in workers.

A decision step is pure numeric work (numpy, a few milliseconds for a `curve` state of 20
campaigns). In the API process it would hold the interpreter lock that the event loop and the
store's thread need, so one core would serve everything; `DecisionPool` runs it in worker
processes instead, beside the API process, and the API process only reads before and writes
after. What crosses between processes is small and plain: the stored engine text in, the new
engine text and the allocation out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import orjson

from engine import Policy, make_policy

logger = logging.getLogger("oktopus.decisions")


@dataclass(frozen=True)
class Decision:
    """A state's next allocation, and its engine state as stored (JSON text)."""

    engine: str
    shares: list[float]
    budgets: list[float]
    remaining: float
    done: bool


def engine_text(engine_state: dict[str, Any]) -> str:
    """The engine's state as stored: one JSON text, so document stores copy one string
    instead of thousands of small lists (mongomock deep-copies every document it touches).
    orjson because the stdlib encoder is ten times slower."""
    return orjson.dumps(engine_state).decode()


def engine_state(text: str) -> dict[str, Any]:
    return orjson.loads(text)


def policy_for(spec: dict[str, Any]) -> Policy:
    """The state's policy object. Policies hold nothing but their validated parameters and
    what those imply (the curve policy's grid), so one object serves every state using them."""
    return _cached_policy(spec["name"], orjson.dumps(spec["params"], option=orjson.OPT_SORT_KEYS))


@functools.lru_cache(maxsize=256)
def _cached_policy(name: str, params: bytes) -> Policy:
    return make_policy(name, orjson.loads(params))


def decision_of(engine_state: dict[str, Any]) -> Decision:
    return Decision(
        engine=engine_text(engine_state),
        shares=[float(x) for x in engine_state["shares"]],
        budgets=[float(x) for x in engine_state["budgets"]],
        remaining=float(engine_state["remaining"]),
        done=bool(engine_state.get("done")),
    )


def decide(
    policy: dict[str, Any],
    engine: str,
    observations: dict[str, list],
    active: list[bool],
) -> Decision:
    """Feed one timestep's observations to the state's policy: its next allocation.

    Raises engine.EngineError when the observations or the stored state do not fit the policy.
    """
    new_state, _ = policy_for(policy).advance(engine_state(engine), observations, active)
    return decision_of(new_state)


def _ready() -> bool:
    return True


class DecisionPool:
    """Worker processes that run `decide`; with 0 workers, callers decide in their own process.

    Workers are started with `spawn` (the API process has threads, which `fork` would copy
    half-way through their work) and import only the engine. A worker that dies breaks the
    pool: it is replaced and the decision tried once more.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = self._start() if workers else None

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )
        # Spawn the workers now, so the first decisions do not wait for them to import numpy.
        for _ in range(self.workers):
            executor.submit(_ready)
        return executor

    async def decide(
        self,
        policy: dict[str, Any],
        engine: str,
        observations: dict[str, list],
        active: list[bool],
    ) -> Decision:
        """`decide` in a worker process, awaited without blocking the event loop."""
        if self._executor is None:
            raise RuntimeError("this pool has no workers: call decide() in process")
        call = functools.partial(decide, policy, engine, observations, active)
        executor = self._executor
        try:
            return await asyncio.wrap_future(executor.submit(call))
        except BrokenProcessPool:
            if self._executor is executor:  # the first call to see it replaces it
                logger.warning("A decision worker died: starting new workers")
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()
            return await asyncio.wrap_future(self._executor.submit(call))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
