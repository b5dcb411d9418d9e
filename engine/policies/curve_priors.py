"""The `curve` policy's grid prior (learnt among candidates), amplitude prior and noise prior.

The grid prior spreads over scales and curve families, its hyperparameters weighed among
candidates by every campaign's evidence; the amplitude and noise priors hold for every
campaign's curve. Unit-free, as the policy's sums: spend in equal shares of the timestep
budget, value in its observed mean.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

NOISE_SHAPE = 1.0
_NOISE_SCALE = 0.01
_COUNTING = 1.5
"""Variance of a timestep's value over (its value x the value of one conversion): 1 for
Poisson counts, plus the squared coefficient of variation of order values (0.5 assumed)."""
# Candidate hyperparameters of the grid prior, weighed by the data when not given as parameters.
SPREADS = (0.5, 0.7, 1.0, 1.4, 2.0, 3.0)
S_SHAPED_PRIORS = (0.1, 0.2, 0.4)


def given_or(value: float | None, candidates: tuple[float, ...]) -> np.ndarray:
    """A hyperparameter fixed by a parameter, or the candidates the data will weigh."""
    return np.array(candidates if value is None else [value], dtype=float)


class CurvePriors:
    """Mixin of the `curve` policy: its grid, amplitude and noise priors."""

    params: Mapping
    scales: np.ndarray
    candidate_priors: np.ndarray

    def _candidate_priors(
        self, spreads: np.ndarray, s_priors: np.ndarray, n_families: int
    ) -> np.ndarray:
        """One grid prior (row) per (spread, S-curve prior) pair: (candidates, G)."""
        log_shape = -0.5 * (np.log(self.scales)[None, :] / spreads[:, None]) ** 2
        # From each row's peak: a narrow spread, or a grid far from an equal share, would
        # underflow every scale to 0 and normalise 0 / 0.
        shape = np.exp(log_shape - log_shape.max(axis=1, keepdims=True))
        shape /= shape.sum(axis=1, keepdims=True)  # (spreads, scales)
        family = np.stack([1.0 - s_priors, s_priors], axis=1)[:, :n_families]
        family /= family.sum(axis=1, keepdims=True)  # (S-curve priors, families)
        priors = shape[:, None, None, :] * family[None, :, :, None]
        return priors.reshape(spreads.size * s_priors.size, n_families * self.scales.size)

    def grid_prior(self, likelihood: np.ndarray) -> np.ndarray:
        """The candidate grid priors averaged by how well each explains every campaign's data.

        `likelihood` (K, G) is each campaign's likelihood on the grid, up to a factor per
        campaign, which cancels. A hyperparameter given as a parameter leaves one candidate.
        """
        if self.candidate_priors.shape[0] == 1:
            return self.candidate_priors[0]
        evidence = np.maximum(likelihood @ self.candidate_priors.T, np.finfo(float).tiny)
        log_evidence = np.log(evidence).sum(axis=0)
        weights = np.exp(log_evidence - log_evidence.max())
        return (weights / weights.sum()) @ self.candidate_priors

    def amplitude_weight(self, stats: Mapping, value_unit: float) -> float:
        """The prior weight on every campaign's amplitude, in observations.

        Conjugacy makes the amplitude's prior variance the noise variance over this weight. A
        fixed weight (a quarter report) made that prior as tight as the reports are precise:
        with 30 conversions a report it held every campaign within about 0.4 of the average,
        where an advertiser's campaigns spread several-fold; and since the amplitude a scale
        implies moves with the scale, that pull biased every campaign's scale by the same
        amount however long the run. So the weight is the noise prior of an average report
        over `amplitude_spread` squared: a prior sd of that many average campaigns' values at
        an equal share. One weight for all campaigns: a campaign's own reports, near 0 at
        first for a small one, would leave it no prior at all. `prior_weight` fixes it.
        """
        given = self.params["prior_weight"]
        if given is not None:
            return float(given)
        average = self.noise_prior(stats, value_unit, np.ones(1), np.ones(1))
        return float(average[0]) / self.params["amplitude_spread"] ** 2

    @staticmethod
    def noise_prior(
        stats: Mapping, value_unit: float, s_yy: np.ndarray, count: np.ndarray
    ) -> np.ndarray:
        """Each campaign's prior noise variance (K,), in squared value units.

        Counting noise where conversions are reported: a timestep's value y made of
        conversions worth v each varies by about _COUNTING * v * y, so a campaign with few
        conversions a timestep is not believed from its first reports (a fixed small prior
        made the first decisions of 150 campaigns, 5 conversions each, worse than an equal
        split). Else, or where larger, a small fixed variance."""
        conversions = float(stats.get("conversions", 0.0))
        counted = float(stats.get("counted_value", 0.0))
        if not (conversions > 0 and counted > 0):
            return np.full(count.size, _NOISE_SCALE)
        per_conversion = counted / conversions / value_unit
        typical = np.sqrt(np.divide(s_yy, count, out=np.ones_like(s_yy), where=count > 0))
        return np.maximum(_NOISE_SCALE, _COUNTING * per_conversion * typical)
