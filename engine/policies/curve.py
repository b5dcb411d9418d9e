"""Thompson sampling over saturating response curves: the default policy, and the one to beat.

Every campaign's value per timestep is modelled as y = a * (1 - exp(-x / s)) + noise. For a
fixed scale s the curve is linear in a, so on a log grid of scales each grid point has a
conjugate Normal-inverse-gamma posterior on (a, noise variance) and a closed-form marginal
likelihood that weights the grid. The grid prior is shared by all campaigns (empirical Bayes:
campaigns of one advertiser saturate at comparable spends), which matters when many campaigns
each have few observations. Its own hyperparameters, how widely an advertiser's saturation
spends spread (`scale_spread`, a log-normal's sd around an equal share) and how many of its
campaigns are S-shaped (`s_shaped_prior`), are learnt from every campaign's data too: each
timestep weighs a small set of candidate values by their marginal likelihood over all campaigns
(Bayes over the candidates), unless a parameter fixes one. Each timestep (s, a) is drawn per
campaign, the allocation is solved exactly on the drawn curves by the shared KKT allocator
(engine.allocator), and the framework moves toward it within `step`. The spends it chooses
vary from draw to draw, which is what identifies the scales; the first Oktopus API's fixed
step never learns a curve at all.

`draws` > 1 averages the exact allocations of that many independent draws (1 = plain Thompson
sampling): the same posterior, less allocation noise while it is still wide.

`discount` < 1 forgets old observations geometrically, for markets whose curves drift (0.97 is a
reasonable start).

`season_period` p (7: a week of daily timesteps; 0 off) divides each report by its day's factor,
learnt over the run (engine.policies.weekly_profile); `shared_factor` w > 0 by a factor read
off that row alone against the fit (engine.policies.shared_factor; off by default).

A concave curve cannot say that a campaign's average return would rise with more budget, so a
strongly S-shaped campaign that only pays off at high spend (brand, video) looks poor at the
low spends it is given and is starved. `s_shaped_prior` (learnt among 0.1, 0.2 and 0.4 unless
given; 0 drops the family) adds a second family on the same grid of scales with that prior
probability: S-curves y = a * c * (1 - w * (1 - c)),
c = 1 - exp(-x/s), w = `s_blend` (S-shaped for w > 1/3; the default w = 1 is the squared
negexp, whose value grows like x^2 at low spend as a Hill curve's like x^n, while w < 1 keeps a
linear start that underrates such a campaign), still linear in a. Their draws are allocated
exactly through their concave envelopes (engine.negexp_allocator.allocate_negexp_blend). Such draws
fund a campaign fully or not at all, so a campaign drawn mostly as an S-curve follows the
median of its draws' allocations rather than their mean, which would land on the convex
stretch where an S-curve returns least; the others follow the mean.

`decision` "ids" picks the move among the mean, the draws' allocations and mixtures of the
two by its information ratio (expected regret squared over information gain, judged on fresh
draws; engine.policies.curve_decision): moves that show the curvature the mean's narrow band
of spends hides, when they are cheap. "mean" (the default) follows the mean or median above.

The noise prior counts conversions: a timestep's value made of a few conversions is noisy in
proportion, so an advertiser with many small campaigns is not believed from its first reports.
The amplitude prior (each campaign's value at an equal share, around the average campaign's)
has an sd of `amplitude_spread` average campaigns whatever the noise (`prior_weight` fixes its
weight in reports instead).

Why these choices (what was measured, what was tried and dropped) is in docs/curve_policy.md.

Spend is measured in equal shares of the timestep budget and value in its observed mean, so the
priors (engine.policies.curve_priors) are unit-free. The state keeps discounted sums per
campaign x scale (folded in one timestep at a time, as arrays over both), so a step costs the
same however long the run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.context import Context
from engine.errors import EngineError
from engine.framework import Policy
from engine.packing import pack, unpack
from engine.params import Choice, Number
from engine.policies.curve_decision import (
    EVAL_DRAWS,
    draws_decision,
    information_directed,
    posterior_noise,
)
from engine.policies.curve_family import unit_curve
from engine.policies.curve_priors import (
    NOISE_SHAPE,
    S_SHAPED_PRIORS,
    SPREADS,
    CurvePriors,
    given_or,
)
from engine.policies.curve_stats import CurveStats
from engine.policies.report_ages import ReportAges
from engine.policies.weekly_profile import empty_profile

_LOWEST_AMPLITUDE = 1e-9


class Curve(ReportAges, CurveStats, CurvePriors, Policy):
    """Per-campaign saturating-curve posteriors on a grid, sampled and allocated exactly."""

    name = "curve"
    # The sums do not depend on these: they only weigh, pool or sample the posterior.
    mutable_params = frozenset(
        {"prior_weight", "amplitude_spread", "pooling", "draws", "scale_spread", "decision"}
    )
    param_specs = {
        "grid_size": Number(40, 4, 200, integer=True),
        "scale_min": Number(0.05, 0.0, low_open=True),
        "scale_max": Number(50.0, 0.0, low_open=True),
        "prior_weight": Number(None, 0.0, low_open=True),
        "amplitude_spread": Number(1.0, 0.0, low_open=True),
        "scale_spread": Number(None, 0.0, low_open=True),
        "pooling": Number(0.5, 0.0, 1.0),
        "discount": Number(1.0, 0.0, 1.0, low_open=True),
        "draws": Number(16, 1, 64, integer=True),
        "s_shaped_prior": Number(None, 0.0, 1.0),
        "s_blend": Number(1.0, 0.0, 1.0),
        "report_window": Number(8, 0, 60, integer=True),
        "shared_factor": Number(0.0, 0.0, 1.0),
        "season_period": Number(7, 0, 366, integer=True),
        "decision": Choice("ids", ("mean", "ids")),
    }

    def __init__(self, params: Mapping | None = None) -> None:
        super().__init__(params)
        if self.params["scale_min"] >= self.params["scale_max"]:
            raise EngineError("parameter 'scale_min' must be below 'scale_max'")
        self.scales = np.geomspace(
            self.params["scale_min"], self.params["scale_max"], self.params["grid_size"]
        )
        spreads = given_or(self.params["scale_spread"], SPREADS)
        s_priors = given_or(self.params["s_shaped_prior"], S_SHAPED_PRIORS)
        # Families on one grid of scales: concave curves, then S-curves unless ruled out (at
        # `s_blend` 0 they would be the concave curves again, at twice the cost).
        s_curves = s_priors.any() and self.params["s_blend"] > 0
        blends = [0.0] + ([self.params["s_blend"]] if s_curves else [])
        self.grid_scales = np.tile(self.scales, len(blends))
        self.grid_blends = np.repeat(blends, self.scales.size)
        self.at_equal_share = unit_curve(1.0, self.grid_scales, self.grid_blends)
        self.candidate_priors = self._candidate_priors(spreads, s_priors, len(blends))
        self.signature = self._signature()

    def _signature(self) -> list[float]:
        """The parameters running sums depend on; sums made under others are rebuilt."""
        keys = ("scale_min", "scale_max", "grid_size")
        blends = np.unique(self.grid_blends).tolist()
        window = float(self.params["report_window"])
        head = [float(self.params[key]) for key in keys]
        # Appended only when on, so that sums made before the parameter stay valid.
        factor = self.params["shared_factor"]
        return [*head, *blends, self.params["discount"], window, *([factor] if factor else [])]

    def _sums(
        self, spend: np.ndarray, value: np.ndarray, spend_unit: float, conversions: np.ndarray
    ) -> dict[str, np.ndarray]:
        """One timestep's terms of the sums, for every campaign (K,) x scale."""
        observed = np.isfinite(value)
        counted = observed & np.isfinite(conversions)
        weights = observed.astype(float)
        y = np.where(observed, value, 0.0)  # in the run's value units
        features = self.features(spend, spend_unit)
        weighted = features * weights[:, None]
        return {
            "ff": weighted * features,
            "fy": weighted * y[:, None],
            "yy": weights * y * y,
            "count": weights,
            "value_total": y.sum(),
            "value_cells": float(observed.sum()),
            "counted_value": float(np.where(counted, value, 0.0).sum()),
            "conversions": float(np.where(counted, conversions, 0.0).sum()),
        }

    def features(self, spend: np.ndarray, spend_unit: float) -> np.ndarray:
        """Every grid curve at each campaign's spend, over its value at an equal share:
        (..., K, G) for spends (..., K)."""
        features = unit_curve(spend[..., None] / spend_unit, self.grid_scales, self.grid_blends)
        return features / self.at_equal_share

    def initial_stats(self, n_campaigns: int, settings: Mapping) -> dict:
        grid = np.zeros((n_campaigns, self.grid_scales.size))
        return {
            "signature": list(self.signature),
            "rows": 0,
            "ff": pack(grid),
            "fy": pack(grid),
            "yy": [0.0] * n_campaigns,
            "count": [0.0] * n_campaigns,
            "value_total": 0.0,
            "value_cells": 0.0,
            "counted_value": 0.0,
            "conversions": 0.0,
            "spend_unit": settings["budget"] / settings["timesteps"] / n_campaigns,
            "reports": self.empty_reports(n_campaigns),
            "weekly": empty_profile(self.params["season_period"]),
        }

    def update_stats(self, stats: dict, context: Context) -> dict:
        """Running discounted sums per campaign x scale: a step costs O(K x G) however long
        the run. The grid arrays (K x G numbers) are kept packed (engine.packing)."""
        return self._folded_sums(stats, context)[0]

    def learn(self, stats: dict, context: Context) -> tuple[dict, dict[str, np.ndarray]]:
        """`update_stats`, and the updated sums as arrays (the report record's rows
        included): `posterior` reads them there rather than decoding the packed grids again."""
        packed, sums = self._folded_sums(stats, context)
        spend_unit = self.spend_unit_of(stats, context.settings, context.n_campaigns)
        return packed, self.read_young(sums, packed, spend_unit)

    def _folded_sums(self, stats: dict, context: Context) -> tuple[dict, dict[str, np.ndarray]]:
        """`update_stats`, and the running sums (without the report record's rows) as arrays."""
        # Statistics from before the report record were signed without its window.
        made_before = "reports" not in stats and stats["signature"] == self.signature[:-1]
        if stats["signature"] != self.signature and not made_before:
            raise EngineError("the state's statistics were made with other curve parameters")
        if stats["rows"] != context.t - 1:
            raise EngineError("the state's statistics do not match its timestep counter")
        spend_unit = self.spend_unit_of(stats, context.settings, context.n_campaigns)
        latest = self._sums(
            context.spend, context.value, spend_unit, context.observed["conversions"]
        )
        sums = self._unpacked(stats, context.n_campaigns)
        # Rows young enough to be corrected stay in the report record until they are not.
        record, left, profile = self.fold_report(
            stats, context.spend, context.value, spend_unit, sums
        )
        discount = self.params["discount"]
        for key in ("ff", "fy", "yy", "count"):
            # A discount of 1 would multiply by 1.0, which changes no number.
            kept = sums[key] if discount == 1.0 else discount * sums[key]
            sums[key] = kept + left[key]
        packed = {
            "signature": list(self.signature),
            "rows": context.t,
            "ff": pack(sums["ff"]),
            "fy": pack(sums["fy"]),
            "yy": sums["yy"].tolist(),
            "count": sums["count"].tolist(),
            "value_total": float(stats["value_total"]) + float(latest["value_total"]),
            "value_cells": float(stats["value_cells"]) + latest["value_cells"],
            # Absent from states made before the noise prior counted conversions.
            "counted_value": float(stats.get("counted_value", 0.0)) + latest["counted_value"],
            "conversions": float(stats.get("conversions", 0.0)) + latest["conversions"],
            **self.carried(stats),
            "reports": record,
            "weekly": profile,
        }
        return packed, sums

    def _unpacked(self, stats: Mapping, n_campaigns: int) -> dict[str, np.ndarray]:
        """The sums of packed statistics as arrays: grids (K, G), the rest (K,)."""
        grid_shape = (n_campaigns, self.grid_scales.size)
        return {
            "ff": unpack(stats["ff"], grid_shape),
            "fy": unpack(stats["fy"], grid_shape),
            "yy": np.asarray(stats["yy"], dtype=float),
            "count": np.asarray(stats["count"], dtype=float),
        }

    def posterior(self, context: Context) -> dict[str, np.ndarray]:
        """Grid weights (K, G) and Normal-inverse-gamma parameters of every campaign's curve.

        The amplitude parameter b is the curve's value at an equal share of the timestep budget
        (a = b / (1 - exp(-1 / s))), which keeps one prior on b sensible across the grid.
        """
        stats = context.stats
        spend_unit = self.spend_unit_of(stats, context.settings, context.n_campaigns)
        sums = context.learned
        if sums is None:
            sums = self._unpacked(stats, context.n_campaigns)
            if "reports" in stats:
                sums = self.read_young(sums, stats, spend_unit)
        sums, value_total, value_cells = self.with_prior(sums, stats, context.n_campaigns)
        value_unit = value_total / max(value_cells, 1.0)
        if not 1e-150 < value_unit < 1e150:
            value_unit = 1.0  # nothing, or values too near 0 or infinity to square: unscaled
        s_ff = sums["ff"]
        s_fy = sums["fy"] / value_unit
        s_yy = sums["yy"] / value_unit**2
        count = sums["count"]

        prior_noise = self.noise_prior(stats, value_unit, s_yy, count)
        kappa0, mean0 = self.amplitude_weight(stats, value_unit), 1.0
        kappa = kappa0 + s_ff
        mean = (kappa0 * mean0 + s_fy) / kappa
        shape = NOISE_SHAPE + 0.5 * count  # (K,)
        prior_scale = NOISE_SHAPE * prior_noise
        scale = prior_scale[:, None] + 0.5 * np.maximum(
            s_yy[:, None] + kappa0 * mean0**2 - kappa * mean**2, 0.0
        )
        log_evidence = 0.5 * np.log(kappa0 / kappa) - shape[:, None] * np.log(scale)
        likelihood = np.exp(log_evidence - log_evidence.max(axis=1, keepdims=True))
        grid_prior = self.grid_prior(likelihood)
        own = likelihood * grid_prior
        own /= own.sum(axis=1, keepdims=True)
        pooling = self.params["pooling"]
        shared_prior = (1 - pooling) * grid_prior + pooling * own.mean(axis=0)
        grid = likelihood * shared_prior[None, :]
        grid /= grid.sum(axis=1, keepdims=True)
        return {
            "grid": grid,
            "mean": mean,
            "kappa": kappa,
            "shape": shape,
            "scale": scale,
            "spend_unit": np.array(spend_unit),
            "value_unit": np.array(value_unit),
            "value_cells": np.array(value_cells),
        }

    def sample_curves(
        self, post: dict[str, np.ndarray], rng: np.random.Generator, count: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`count` posterior draws of every campaign's curve, in spend and value units of the run.

        Answers (alpha, mu, blend), each of shape (count, K), all drawn at once: the curves
        alpha * unit_curve(x, 1 / mu, blend), blend 0 being the concave negexp.
        """
        n_campaigns = post["grid"].shape[0]
        shape = (count, n_campaigns)
        rows = np.arange(n_campaigns)[None, :]
        cumulative = np.cumsum(post["grid"], axis=1)
        uniforms = rng.random(shape)
        chosen = (cumulative[None, :, :] < uniforms[:, :, None]).sum(axis=2)
        chosen = np.minimum(chosen, self.at_equal_share.size - 1)
        variance = post["scale"][rows, chosen] / rng.standard_gamma(post["shape"], size=shape)
        spread = np.sqrt(variance / post["kappa"][rows, chosen])
        at_share = post["mean"][rows, chosen] + spread * rng.standard_normal(shape)
        alpha = np.maximum(at_share, _LOWEST_AMPLITUDE) / self.at_equal_share[chosen]
        alpha *= post["value_unit"]
        mu = 1.0 / (self.grid_scales[chosen] * post["spend_unit"])
        return alpha, mu, self.grid_blends[chosen]

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        post = self.posterior(context)
        if post["value_cells"] == 0:
            return context.previous
        budget, bounds = context.budget, (context.lower, context.upper)
        alpha, mu, blend = self.sample_curves(post, rng, self.params["draws"])
        shares, allocations = draws_decision(alpha, mu, blend, budget, *bounds)
        if self.params["decision"] == "mean":
            return shares
        fresh = self.sample_curves(post, rng, EVAL_DRAWS)
        step = context.settings["step"]
        noise = posterior_noise(post)
        return information_directed(
            shares, allocations, fresh, noise, budget, bounds, context.previous, step
        )
