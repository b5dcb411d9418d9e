"""The marketing-mix model: fit a joint Bayesian model of the KPI, keep its posterior draws.

KPI_t = intercept + trend + seasonality + controls + sum_c beta_c * saturation_c(adstock_c(
spend_c)) + noise, with beta_c >= 0. `MarketingMixModel(...).fit(data)` returns the model;
`summary()`, `decomposition()` and `curves()` (engine/mmm/answers.py) answer plain data,
and `to_dict()` / `from_dict()` store a fitted model as JSON-able data and rebuild it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import EngineError
from engine.mmm.data import MMMData
from engine.mmm.features import BaseDesign, OptionGrid, base_design, media_terms, option_grid
from engine.mmm.hierarchy import gibbs_ladder, lognormal_ladder
from engine.mmm.sampler import CENTRES, Tables, build_tables, coefficient_draws, gibbs

FORMAT_VERSION = 1
PRIOR_SD = {"baseline": 5.0, "trend": 2.0, "seasonality": 1.0, "controls": 1.0}
ROI_SCALE = 1.0  # unit of the shared ROI prior's centre and scale: total KPI / total spend
# The ROI prior of channels without a user prior: half-normal at zero with a learnt scale
# ("zero"), normal around a learnt common level ("level"), or shrunk on the log scale toward
# a learnt common level ("ratio", engine/mmm/hierarchy.py); or a fixed LogNormal(mu, sigma)
# in absolute ROI units, KPI per unit of spend ("lognormal", Google Meridian's default ROI
# prior for revenue KPIs, LogNormal(0.2, 0.9)).
# "auto": "lognormal" when the KPI is money (a revenue-like column name), else "zero": ROI
# units of a KPI counted in conversions are not those of a revenue prior.
ROI_PRIORS = ("zero", "level", "ratio", "lognormal", "auto")
ROI_LOGNORMAL = (0.2, 0.9)  # Meridian's roi_m default: median 1.22, 90 % in 0.28-5.4
REVENUE_NAMES = ("gmv", "revenue", "sales")
DEFAULT_ROI_PRIOR = "zero"


def revenue_like(kpi: str) -> bool:
    """Whether a KPI column's name says it is money (gmv, revenue, sales, e.g. net_sales)."""
    name = kpi.lower()
    return any(word in name for word in REVENUE_NAMES)


def resolve_roi_prior(roi_prior: str, kpi: str) -> str:
    """The ROI prior a fit uses: `auto` becomes "lognormal" for a revenue-like KPI, else
    "zero"; any other choice stays as given."""
    if roi_prior != "auto":
        return roi_prior
    return "lognormal" if revenue_like(kpi) else "zero"


# Log-scale sd of the prior on each channel's saturation point, centred at its mean spend
# (None: uniform over the grid). Tuned on seeds 0-99 (docs/mmm_accuracy.md).
SATURATION_SPREAD = 0.8


def saturation_prior(grid: OptionGrid, spread: float | None) -> np.ndarray | None:
    """Log prior weight of each curve option (G,): a log-normal on the saturation point k
    centred at the channel's mean spend with log-scale sd `spread` (Meridian's default
    prior on the half-saturation point is likewise centred near the typical spend); None
    for a uniform prior over the grid."""
    if spread is None:
        return None
    return -0.5 * (np.log(grid.k) / spread) ** 2


class TooFewPeriodsError(EngineError):
    """The history is too short for the model's parameters; `minimum` periods are needed."""

    def __init__(self, periods: int, minimum: int, parameters: int):
        self.minimum = minimum
        super().__init__(
            f"{periods} periods are too few for {parameters} parameters: the model needs at "
            f"least {minimum} periods of history (or fewer channels or controls)"
        )


@dataclass(frozen=True)
class RoiPrior:
    """A channel's ROI from an experiment (e.g. a lift test), mean and standard deviation."""

    channel: str
    roi_mean: float
    roi_sd: float


def parse_priors(priors: Sequence[Mapping] | None, channels: Sequence[str]) -> list[RoiPrior]:
    """Validated ROI priors; an unknown channel or a bad number names the prior."""
    parsed = []
    for index, prior in enumerate(priors or ()):
        where = f"priors[{index}]"
        if not isinstance(prior, Mapping):
            raise EngineError(f"{where}: a prior is an object with channel, roi_mean, roi_sd")
        channel = prior.get("channel")
        if channel not in channels:
            raise EngineError(f"{where}: channel {channel!r} is not a channel of the data")
        values = []
        for name in ("roi_mean", "roi_sd"):
            value = prior.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise EngineError(f"{where}: {name} must be a number")
            if not np.isfinite(value) or value < 0 or (name == "roi_sd" and value <= 0):
                raise EngineError(
                    f"{where}: {name} must be finite and {'> 0' if name == 'roi_sd' else '>= 0'}"
                )
            values.append(float(value))
        parsed.append(RoiPrior(channel, *values))
    if len({prior.channel for prior in parsed}) != len(parsed):
        raise EngineError("priors: one prior per channel")
    return parsed


class MarketingMixModel:
    """Bayesian marketing-mix model; parameters are settings, `fit` learns the posterior."""

    def __init__(
        self,
        saturation: str = "hill",
        max_lag: int | None = None,
        holdout: float = 0.1,
        chains: int = 10,
        burn: int = 40,
        draws: int = 1000,
        seed: int = 0,
        priors: Sequence[Mapping] | None = None,
        roi_prior: str = DEFAULT_ROI_PRIOR,
        saturation_spread: float | None = SATURATION_SPREAD,
        roi_mu: float = ROI_LOGNORMAL[0],
        roi_sigma: float = ROI_LOGNORMAL[1],
    ):
        self.grid: OptionGrid = option_grid(saturation)
        if max_lag is not None and (not isinstance(max_lag, int) or max_lag < 1):
            raise EngineError("max_lag must be a whole number >= 1")
        if not 0 <= holdout < 0.5:
            raise EngineError("holdout must be a share of periods in [0, 0.5)")
        if chains < 1 or burn < 0 or draws < chains:
            raise EngineError("chains >= 1, burn >= 0 and draws >= chains are needed")
        self.saturation = saturation
        self.max_lag = max_lag
        self.holdout = float(holdout)
        self.chains = int(chains)
        self.burn = int(burn)
        self.draws = int(draws)
        self.seed = int(seed)
        self.priors = list(priors or [])
        if roi_prior not in ROI_PRIORS:
            raise EngineError(f"roi_prior must be one of {', '.join(ROI_PRIORS)}")
        self.roi_prior = roi_prior
        try:
            self.ladder = lognormal_ladder(float(roi_mu), float(roi_sigma))
        except (TypeError, ValueError) as error:
            raise EngineError(f"roi_mu, roi_sigma: {error}") from None
        self.roi_mu, self.roi_sigma = float(roi_mu), float(roi_sigma)
        if saturation_spread is not None and not saturation_spread > 0:
            raise EngineError("saturation_spread must be > 0 (or None: a uniform grid)")
        self.saturation_spread = saturation_spread
        self.data: MMMData | None = None
        self.fit_seconds: float | None = None

    # -- preparation shared by fit and from_dict ------------------------------------------
    def prepare(self, data: MMMData) -> MarketingMixModel:
        """Check `data` can be fitted (EngineError naming the problem if not) and build the
        regressors; `fit` calls it, a caller may call it first to refuse bad data early."""
        self.data = data
        periods = data.periods
        self.holdout_periods = round(self.holdout * periods) if self.holdout > 0 else 0
        if self.holdout > 0:
            self.holdout_periods = max(self.holdout_periods, 1)
        self.fit_rows = periods - self.holdout_periods
        self.roi_priors = parse_priors(self.priors, data.channels)
        self.roi_prior_used = resolve_roi_prior(self.roi_prior, data.kpi)
        self.base: BaseDesign = base_design(
            data.dates, data.frequency, data.control_values, data.controls, max(self.fit_rows, 2)
        )
        q, channels = self.base.matrix.shape[1], len(data.channels)
        parameters = q + channels * (1 + self.grid.dimensions)
        minimum = parameters + 2 + self.holdout_periods
        if periods < minimum:
            raise TooFewPeriodsError(periods, minimum, parameters)
        fitted = slice(0, self.fit_rows)
        self.y_scale = float(data.y[fitted].mean())
        if self.y_scale <= 0:
            raise EngineError(f"column {data.kpi!r}: the KPI is zero in every fitted period")
        self.spend_scale = data.spend[fitted].mean(axis=0)
        for channel, scale in zip(data.channels, self.spend_scale, strict=True):
            if scale <= 0:
                raise EngineError(
                    f"column {channel!r}: the channel never spends before the holdout periods"
                )
        self.media, self.elasticity = media_terms(
            data.spend, self.spend_scale, self.grid, max_lag=self.max_lag
        )
        return self

    def _reference_noise(self, y: np.ndarray) -> float:
        """Residual variance of a ridge fit at middle options: the priors' noise scale."""
        middle = np.argmin(
            np.abs(self.grid.theta - 0.3) + np.abs(np.log(self.grid.k)) + np.abs(self.grid.n - 1.6)
        )
        design = np.column_stack(
            [self.base.matrix[: self.fit_rows], self.media[:, middle, : self.fit_rows].T]
        )
        ridge = 1e-3 * np.eye(design.shape[1])
        coef = np.linalg.solve(design.T @ design + ridge, design.T @ y)
        residual = y - design @ coef
        dof = max(len(y) - design.shape[1], 1)
        return float(max(residual @ residual / dof, 1e-6 * np.var(y) + 1e-12))

    def tables(self, y: np.ndarray) -> Tables:
        """The sampler's sufficient statistics and priors for the fitted rows' scaled KPI."""
        noise = self._reference_noise(y)
        base_lam0 = np.array([noise / PRIOR_SD[block] ** 2 for block in self.base.blocks])
        spend_total = self.data.spend[: self.fit_rows].sum(axis=0)
        media_total = self.media[:, :, : self.fit_rows].sum(axis=2)
        # ROI = beta * y_scale * sum(media) / sum(spend) is linear in beta: an ROI prior is a
        # normal prior on beta for each option. By default ROI ~ normal(centre, scale)
        # truncated at zero, centre and scale shared by the channels and learnt (the
        # sampler's grids), in units of the KPI per unit of total spend (the ROI if every
        # sale were paid for): m0 and lam0 hold centre 1 and scale 1.
        # The "lognormal" prior's ladder is in absolute ROI units instead (unit 1).
        per_roi = spend_total[:, None] / (self.y_scale * np.maximum(media_total, 1e-12))
        roi_scale = ROI_SCALE * self.y_scale * self.fit_rows / spend_total.sum()
        if self.roi_prior_used == "lognormal":
            roi_scale = 1.0
        m0 = roi_scale * per_roi
        lam0 = noise / (roi_scale * per_roi) ** 2
        scaled = np.ones(len(self.data.channels), dtype=bool)
        for prior in self.roi_priors:
            c = self.data.channels.index(prior.channel)
            m0[c] = prior.roi_mean * per_roi[c]
            lam0[c] = noise / (prior.roi_sd * per_roi[c]) ** 2
            scaled[c] = False
        return build_tables(
            self.base.matrix[: self.fit_rows],
            self.media[:, :, : self.fit_rows],
            y,
            base_lam0,
            lam0,
            m0,
            scaled,
            noise,
            saturation_prior(self.grid, self.saturation_spread),
        )

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self, data: MMMData, progress: Callable[[float], None] | None = None
    ) -> MarketingMixModel:
        """Learn the posterior from `data`; `progress(fraction)` is called along the way."""
        started = time.perf_counter()
        self.prepare(data)
        y = data.y[: self.fit_rows] / self.y_scale
        tables = self.tables(y)
        rng = np.random.default_rng(self.seed)
        keep = -(-self.draws // self.chains)
        if self.roi_prior_used == "ratio":
            options, scale, centre = gibbs_ladder(
                tables, self.chains, self.burn, keep, rng, progress
            )
        elif self.roi_prior_used == "lognormal":
            options, scale, centre = gibbs_ladder(
                tables, self.chains, self.burn, keep, rng, progress, *self.ladder
            )
        else:
            centres = CENTRES if self.roi_prior_used == "level" else np.zeros(1)
            options, scale, centre = gibbs(
                tables, self.chains, self.burn, keep, rng, progress, centres
            )
        self.options, self.prior_scale = options[: self.draws], scale[: self.draws]
        self.prior_centre = centre[: self.draws]
        self.coefficients, self.sigma2 = coefficient_draws(
            tables, self.options, self.prior_scale, rng, self.prior_centre
        )
        self.fit_seconds = time.perf_counter() - started
        return self

    @property
    def fitted(self) -> bool:
        return getattr(self, "coefficients", None) is not None

    # -- posterior quantities per draw --------------------------------------------------------
    def channel_contributions(self, channel: int) -> np.ndarray:
        """Contribution of one channel per draw and period, in KPI units: (D, T)."""
        q = self.base.matrix.shape[1]
        effect = self.coefficients[:, q + channel] * self.y_scale
        return effect[:, None] * self.media[channel, self.options[:, channel]]

    def channel_elasticity(self, channel: int) -> np.ndarray:
        """Sum over periods of effect * level * saturation'(level) per draw: (D,)."""
        q = self.base.matrix.shape[1]
        effect = self.coefficients[:, q + channel] * self.y_scale
        return effect * self.elasticity[channel, self.options[:, channel]].sum(axis=1)

    def base_components(self) -> dict[str, np.ndarray]:
        """Posterior mean of each baseline block over the periods, in KPI units."""
        q = self.base.matrix.shape[1]
        mean = self.coefficients[:, :q].mean(axis=0) * self.y_scale
        blocks = np.array(self.base.blocks)
        return {
            block: self.base.matrix[:, blocks == block] @ mean[blocks == block]
            for block in ("baseline", "trend", "seasonality", "controls")
        }

    def predict_draws(self) -> np.ndarray:
        """Expected KPI per draw and period, noise excluded: (D, T)."""
        q = self.base.matrix.shape[1]
        total = (self.coefficients[:, :q] @ self.base.matrix.T) * self.y_scale
        for channel in range(len(self.data.channels)):
            total += self.channel_contributions(channel)
        return total

    # -- storage -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fitted model as plain JSON-able data (settings, data, posterior draws)."""
        if not self.fitted:
            raise EngineError("the model is not fitted")
        return {
            "format": FORMAT_VERSION,
            "settings": {
                "saturation": self.saturation,
                "max_lag": self.max_lag,
                "holdout": self.holdout,
                "chains": self.chains,
                "burn": self.burn,
                "draws": self.draws,
                "seed": self.seed,
                "priors": [dict(prior) for prior in self.priors],
                "roi_prior": self.roi_prior,
                "saturation_spread": self.saturation_spread,
                "roi_mu": self.roi_mu,
                "roi_sigma": self.roi_sigma,
            },
            "data": self.data.to_dict(),
            "posterior": {
                "options": self.options.tolist(),
                "coefficients": self.coefficients.tolist(),
                "sigma2": self.sigma2.tolist(),
                "prior_scale": self.prior_scale.tolist(),
                "prior_centre": self.prior_centre.tolist(),
            },
            "fit_seconds": self.fit_seconds,
        }

    @classmethod
    def from_dict(cls, stored: Mapping) -> MarketingMixModel:
        """Rebuild a fitted model from `to_dict` output, without refitting."""
        if stored.get("format") != FORMAT_VERSION:
            raise EngineError("the stored model has an unknown format")
        # Models stored before the saturation prior were fitted with a uniform grid, those
        # stored before the ROI prior's choice with the prior at zero.
        model = cls(**{"saturation_spread": None, "roi_prior": "zero", **stored["settings"]})
        model.prepare(MMMData.from_dict(stored["data"]))
        posterior = stored["posterior"]
        model.options = np.asarray(posterior["options"], dtype=int)
        model.coefficients = np.asarray(posterior["coefficients"], dtype=float)
        model.sigma2 = np.asarray(posterior["sigma2"], dtype=float)
        model.prior_scale = np.asarray(posterior["prior_scale"], dtype=float)
        # Models stored before the shared prior had a centre were fitted with centre 0.
        centre = posterior.get("prior_centre", np.zeros_like(model.prior_scale))
        model.prior_centre = np.asarray(centre, dtype=float)
        model.fit_seconds = stored.get("fit_seconds")
        return model
