"""The known-family reference with the mean rule: split on each campaign's posterior-mean curve.

`KnownFamily` (benchmarks.known_family) plays Thompson sampling. `KnownFamilyMean` learns the
same exact posterior and splits the coming timestep on each campaign's expected revenue
curve, sum over scale points of P(s) E[A V | s] u_s(spend): the one-step Bayes decision,
since revenue is linear in A V u_s. That curve is a mixture over scales, not one of the
families, so it is evaluated on a spend grid (`SPEND_POINTS`, geometric from a thousandth of
a timestep's budget to all of it, and 0) and split by the exact allocator on piecewise-linear
curves (`engine.grid_curves.GridCurves`) through its upper concave envelope, which only
differs from the curve for S-shaped (Hill) campaigns.

Row "known family" of benchmarks.policy_efficiency.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from benchmarks.known_family import KnownFamily, scale_log_posterior, unit_curves
from benchmarks.mmm_regret import concave_envelope
from engine.allocator import allocate_budget
from engine.context import Context
from engine.grid_curves import GridCurves

SPEND_POINTS = 160


def _mean_value(low: float, high: float, valued: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """E[V] per campaign under a log-uniform prior on [low, high] and the gamma likelihood's
    sums (already times the gamma's shape), on a fine grid in log V."""
    v = np.linspace(low, high, 2001)[None, :]
    log_density = -valued[:, None] * v - revenue[:, None] * np.exp(-v)
    return np.exp(logsumexp(log_density + v, axis=1) - logsumexp(log_density, axis=1))


class KnownFamilyMean(KnownFamily):
    """`KnownFamily` deciding on the posterior-mean curves (see the module)."""

    def expected_revenue(self, stats: dict, spend: np.ndarray) -> np.ndarray:
        """(K, N) posterior-mean revenue of the campaigns the state holds at `spend` (N,)."""
        ids = np.asarray(stats["ids"], dtype=int)
        prior, sums = self.prior_of(ids), self.sums_of(stats)
        log_weight, log_mean = scale_log_posterior(prior, sums, self.value_cv)
        size = np.exp(log_weight + log_mean)  # (K, G): P(s) E[A V | s]
        if prior.value_bounds is not None:
            shape = 1.0 / self.value_cv**2
            value = _mean_value(
                *prior.value_bounds, shape * sums["valued"], shape * sums["revenue"]
            )
            size = size * value[:, None]
        w = self.world
        kind, hill = w.kind[ids], w.shape[ids]
        out = np.empty((ids.size, spend.size))
        for n, x in enumerate(spend):
            out[:, n] = (size * unit_curves(kind, hill, np.full(ids.size, x), prior.scale)).sum(1)
        return out

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        """The exact split of the coming timestep on the posterior-mean curves' concave
        envelopes."""
        stats = context.stats
        ids = np.asarray(stats["ids"], dtype=int)
        budget = self.world.timestep_budget
        spend = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, SPEND_POINTS - 1) * budget])
        revenue = self.expected_revenue(stats, spend)
        envelope = revenue.copy()
        for row in np.flatnonzero(self.world.kind[ids] == 2):
            envelope[row] = concave_envelope(spend, revenue[row])
        # Mixtures of concave curves are concave: only rounding can tilt a slope upwards.
        slopes = np.minimum.accumulate(np.diff(envelope, axis=1) / np.diff(spend), axis=1)
        envelope = np.concatenate(
            [np.zeros((ids.size, 1)), np.cumsum(np.maximum(slopes, 0.0) * np.diff(spend), axis=1)],
            axis=1,
        )
        t = min(context.t, self.world.timesteps - 1)
        upper = np.where(self.world.live(t)[ids], budget, 0.0)
        grid = np.tile(spend, (ids.size, 1))
        allocation = allocate_budget(GridCurves(grid, envelope), budget, np.zeros(ids.size), upper)
        return allocation / budget
