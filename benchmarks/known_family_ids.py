"""The known-family reference with an information-directed decision (Russo & Van Roy).

`KnownFamily` (benchmarks.known_family) and `KnownFamilyMean` (benchmarks.known_family_mean)
learn each campaign's saturation spend, amplitude and value with an exact posterior and
decide by Thompson sampling or the one-step Bayes rule; neither values what a spend teaches.
`KnownFamilyIds` learns the same posterior and weighs each possible move by what it would
teach against what it is expected to cost, as `curve`'s "ids" decision does
(engine.policies.curve_decision), with draws of the exact posterior:

- candidates: the current shares, and their mixtures current + f (target - current), f in
  `FRACTIONS`, with each of `DRAWS` Thompson splits (the oracle's solver on one posterior
  draw, as `KnownFamily` splits) and with the mean rule's split; each projected onto the
  bounds and the step box around the current shares as the framework paces a proposal
  (`step_box`, `candidates` of curve_decision);
- expected regret Delta(a): the mean over `EVAL_DRAWS` fresh posterior draws of
  f_d(best_d) - f_d(a), f_d the draw's expected revenue and best_d its exact optimum within
  the same step box (the oracle's solver with the box as bounds), raised to any candidate
  above it;
- information gain g(a): the sum over campaigns of 0.5 log(1 + Var_d[A_d u_d(a_c)] /
  E_d[A_d u_d(a_c)]), how far the draws disagree about the expected conversions a report at
  that spend would show, against the report's Poisson noise;

and the move is the candidate minimizing Delta^2 / g. The cost is one oracle solve per draw
and per Thompson candidate each timestep.

Row "known family (ids)" of benchmarks.policy_efficiency.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from benchmarks.known_family import split_draw
from benchmarks.known_family_mean import KnownFamilyMean
from benchmarks.known_shapes import Posterior
from engine.context import Context
from engine.policies.curve_decision import candidates, ids_index, step_box
from engine.simulate import oracle_spend
from engine.worlds import saturation

DRAWS = 8
"""Thompson splits among the candidates."""
EVAL_DRAWS = 8
"""Fresh posterior draws that judge the candidates."""
FRACTIONS = (0.5, 1.0)


def amplitude_value_at(belief: Posterior, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A and V per campaign at the posterior quantile `uniform` (K,) of the grid cells, in the
    cells' order of `Posterior.revenue_at` (whose A V this is)."""
    k, n_a, n_v = belief.weights.shape
    cdf = np.cumsum(belief.weights.reshape(k, -1), axis=1)
    cell = np.minimum((cdf < uniform[:, None] * cdf[:, -1:]).sum(axis=1), n_a * n_v - 1)
    rows = np.arange(k)
    return (
        np.exp(belief.log_amplitude[rows, cell // n_v]),
        np.exp(belief.log_value[rows, cell % n_v]),
    )


def information_gain(conversions: np.ndarray) -> np.ndarray:
    """g (N,) of N candidates from the drawn expected conversions (N, D, K) at their spends:
    sum over campaigns of 0.5 log(1 + Var_d / E_d), the Poisson report's noise being its mean."""
    mean = conversions.mean(axis=1)
    spread = conversions.var(axis=1)
    ratio = np.divide(spread, mean, out=np.zeros_like(mean), where=mean > 0)
    return 0.5 * np.log1p(ratio).sum(axis=1)


class KnownFamilyIds(KnownFamilyMean):
    """`KnownFamily`'s exact posterior, deciding by the least information ratio (see the
    module)."""

    def draw_curves(
        self, stats: dict, rng: np.random.Generator, count: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`count` posterior draws of every campaign's (scale, A, V): each (count, K)."""
        ids = np.asarray(stats["ids"], dtype=int)
        weights = self.scale_posterior(stats)
        scale = np.empty((count, ids.size))
        amplitude, value = np.empty_like(scale), np.empty_like(scale)
        for d in range(count):
            points, within = split_draw(weights, rng.random(ids.size))
            belief = self.posterior_given(stats, points)
            amplitude[d], value[d] = amplitude_value_at(belief, within)
            scale[d] = self.family_prior.scale[ids, points]
        return scale, amplitude, value

    def unit(self, ids: np.ndarray, spend: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Expected conversions at amplitude 1 (N, D, K) at spends (N, K) for drawn scales
        (D, K), as `World.expected_conversions` computes them."""
        w = self.world
        kind, hill = w.kind[ids], w.shape[ids]
        top = np.where(kind == 0, 1.0, np.where(kind == 3, 1.0, 2.0))
        ratio = spend[:, None, :] / scale[None, :, :]
        return top * saturation(kind[None, None, :], ratio, hill[None, None, :])

    def _split(self, ids: np.ndarray, scale, revenue, lower, upper) -> np.ndarray:
        """The oracle's spend on the campaigns `ids` with drawn scale and A V (K,)."""
        drawn = replace(self._campaigns(ids), amplitude=revenue[None, :], scale=scale)
        return oracle_spend(drawn, 0, lower, upper)

    def _value(self, ids: np.ndarray, scale, revenue, low, high) -> float:
        """A drawn world's (scale, A V (K,)) best expected revenue within the step box."""
        budget = self.world.timestep_budget
        spend = self._split(ids, scale, revenue, low * budget, high * budget)
        return float((revenue * self.unit(ids, spend[None], scale[None])[0, 0]).sum())

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """The candidate shares of least information ratio (see the module)."""
        stats = context.stats
        ids = np.asarray(stats["ids"], dtype=int)
        budget = self.world.timestep_budget
        t = min(context.t, self.world.timesteps - 1)
        live = self.world.live(t)[ids]
        free = np.where(live, np.inf, 0.0)
        zero = np.zeros(ids.size)
        scale, amplitude, value = self.draw_curves(stats, rng, DRAWS)
        targets = [
            self._split(ids, scale[d], amplitude[d] * value[d], zero, free) / budget
            for d in range(DRAWS)
        ]
        targets.append(super().propose(context, rng))
        upper = np.where(live, context.upper, 0.0)
        low, high = step_box(context.lower, upper, np.asarray(context.previous), self.step(context))
        shares = candidates(np.asarray(context.previous), np.array(targets), low, high, FRACTIONS)
        scale, amplitude, value = self.draw_curves(stats, rng, EVAL_DRAWS)
        conversions = amplitude[None] * self.unit(ids, shares * budget, scale)  # (N, D, K)
        totals = (conversions * value[None]).sum(axis=2)  # (N, D)
        best = np.array(
            [
                self._value(ids, scale[d], amplitude[d] * value[d], low, high)
                for d in range(EVAL_DRAWS)
            ]
        )
        best = np.maximum(best, totals.max(axis=0))
        regret = (best[None, :] - totals).mean(axis=1)
        return shares[ids_index(regret, information_gain(conversions))]

    @staticmethod
    def step(context: Context) -> float:
        """The framework's pace of this run."""
        return float(context.settings["step"])
