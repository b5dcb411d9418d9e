"""Peer rows of the efficiency benchmark: MABWiser's bandits used as budget allocators, and a
policy that knows the true curves (the limit at a given step).

MABWiser (Fidelity's bandit library) is a benchmark dependency only, not the platform's:

    pip install mabwiser

Without it the MABWiser rows are skipped. How a user of that library would split a budget
with it, and what these rows do, exactly:
- every campaign is an arm; after each timestep, every campaign that spent something is one
  decision, rewarded with its value per unit spend over the pooled value per unit spend of
  that timestep (1 = average), so rewards do not depend on the currency or the budget;
  Thompson sampling takes binary rewards: 1 when that return is at least the pooled one;
- the campaign's share of the next timestep is proportional to the arm's expectation
  (`predict_expectations()`: UCB1's mean plus bonus, epsilon-greedy's mean, Thompson's draw,
  softmax's probability), negative ones counted as 0; epsilon-greedy's exploration lives in
  `predict()` (one arm), which a split from expectations does not call;
- late corrections refit the library's model on every timestep's corrected rows (`fit`);
  otherwise each timestep is added with `partial_fit`;
- shares go through the same framework as Oktopus's policies (floor, bounds and `step`), so
  the rows differ by what the policies learn, not by how fast they may move.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from engine.context import Context
from engine.framework import Policy
from engine.simulate import World, oracle_spend

try:
    from mabwiser.mab import MAB, LearningPolicy
except ImportError:  # pragma: no cover - the rows are skipped
    MAB = LearningPolicy = None

MABWISER_POLICIES: dict[str, Callable[[], object]] = (
    {}
    if LearningPolicy is None
    else {
        "mabwiser thompson": lambda: LearningPolicy.ThompsonSampling(),
        "mabwiser ucb1": lambda: LearningPolicy.UCB1(alpha=1.0),
        "mabwiser epsilon": lambda: LearningPolicy.EpsilonGreedy(epsilon=0.1),
        "mabwiser softmax": lambda: LearningPolicy.Softmax(tau=1.0),
    }
)


class MabwiserAllocator(Policy):
    """One MABWiser learning policy, its arms' expectations as shares (see the module)."""

    name = "uniform"  # keeps no statistics in the state, like the equal split

    def __init__(self, label: str, seed: int) -> None:
        super().__init__()
        self.label, self.seed = label, seed
        self.binary = "thompson" in label
        self.model = None
        self.rows: list[tuple[np.ndarray, np.ndarray]] = []

    def _decisions(
        self, rows: Sequence[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[list[int], list[float]]:
        decisions, rewards = [], []
        for spend, value in rows:
            seen = (spend > 0) & np.isfinite(value)
            if not seen.any() or value[seen].sum() <= 0:
                continue
            pooled = value[seen].sum() / spend[seen].sum()
            relative = value[seen] / spend[seen] / pooled
            decisions.extend(np.flatnonzero(seen).tolist())
            rewards.extend((relative >= 1.0).astype(float) if self.binary else relative)
        return decisions, rewards

    def _fit(self, rows: Sequence[tuple[np.ndarray, np.ndarray]], n_campaigns: int) -> None:
        decisions, rewards = self._decisions(rows)
        if not decisions:
            return
        if self.model is None or len(rows) > 1:
            self.model = MAB(
                list(range(n_campaigns)), MABWISER_POLICIES[self.label](), seed=self.seed
            )
            self.model.fit(decisions, rewards)
        else:
            self.model.partial_fit(decisions, rewards)

    def learn(self, stats: dict | None, context: Context) -> tuple[None, None]:
        row = (np.array(context.spend), np.array(context.value))
        self.rows.append(row)
        self._fit([row] if self.model is not None else self.rows, context.n_campaigns)
        return None, None

    def refold(
        self,
        state: Mapping,
        observations: Sequence[Mapping],
        planned: Sequence,
        retired_spent: float = 0.0,
    ) -> dict:
        self.rows = [
            (
                np.array([np.nan if x is None else x for x in row["spend"]], dtype=float),
                np.array([np.nan if x is None else x for x in row["revenue"]], dtype=float),
            )
            for row in observations
        ]
        self.model = None
        self._fit(self.rows, len(state["shares"]))
        return super().refold(state, observations, planned, retired_spent)

    def resize_stats(self, stats: None, keep: Sequence[int | None], n_old: int) -> None:
        """Campaigns launched or ended: the arms are the new campaigns, refitted on their
        rows (an added one has none)."""

        def moved(values: np.ndarray) -> np.ndarray:
            return np.array([np.nan if i is None else values[i] for i in keep], dtype=float)

        self.rows = [(moved(spend), moved(value)) for spend, value in self.rows]
        self.model = None
        self._fit(self.rows, len(keep))
        return None

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        if self.model is None:
            return context.previous
        expectations = self.model.predict_expectations()
        weights = np.array([max(float(expectations[k]), 0.0) for k in range(context.n_campaigns)])
        weights = np.where(context.active, np.nan_to_num(weights), 0.0)
        return weights / weights.sum() if weights.sum() > 0 else context.previous


class KnownCurves(Policy):
    """Knows the world's true curves: targets the oracle's split, moved at the same `step`."""

    name = "uniform"

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """The oracle's split of the coming timestep among the campaigns the state holds (those
        that reported the timestep finished; launched ones join after this decision)."""
        k = self.world.n_campaigns
        t = min(context.t, self.world.timesteps - 1)
        held = self.world.live(context.t - 1)
        upper = np.where(held & self.world.live(t), np.inf, 0.0)
        spend = oracle_spend(self.world, t, np.zeros(k), upper)
        return spend[held] / self.world.timestep_budget
