"""The one way a decision reaches a stored state: read, decide, commit.

The read and the commit are each one `Store.call` (one hop onto the embedded store's
thread, or the threadpool on a MongoDB server); the decision between them is made by the
`DecisionPool`, in its worker processes or, with none, in this process. Nothing is held
while the engine works, so a commit checks by compare-and-set that what it was decided on
is still what is stored, and says `RETRY` when it is not: the driver then reads afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from utils.db import Store
from utils.decisions import Decision

P = TypeVar("P")
R = TypeVar("R")


class _Retry:
    def __repr__(self) -> str:
        return "RETRY"


RETRY: Any = _Retry()


async def read_decide_commit(
    store: Store,
    read: Callable[[], P | None],
    decide: Callable[[P], Awaitable[Decision]],
    commit: Callable[[P, Decision], R],
    attempts: int,
    exhausted: Callable[[P | None], Exception],
) -> R | None:
    """`commit(pending, await decide(pending))` for `pending = read()`, read afresh while the
    commit answers `RETRY`, at most `attempts` times (then `exhausted(last pending)` is
    raised). None when `read` finds nothing to decide."""
    pending = None
    for _ in range(attempts):
        pending = await store.call(read)
        if pending is None:
            return None
        decision = await decide(pending)
        outcome = await store.call(
            lambda pending=pending, decision=decision: commit(pending, decision)
        )
        if outcome is not RETRY:
            return outcome
    raise exhausted(pending)
