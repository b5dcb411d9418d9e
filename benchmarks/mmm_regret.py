"""Regret of allocating on a fitted marketing-mix model, and where it comes from.

The product's decision (`/api/optimize/allocate` with a `model_id`: engine.mmm.allocation.
allocate_on_model, the spend maximizing the posterior-mean KPI) is scored against the
allocation on the true curves, both of the current total budget per period with each
channel's spend within given multiples of its mean. Beside it, on the same data set:

- `true levels`: the model's curve shapes rescaled to the true response at the current
  spend (what is left when every channel's effect size is right);
- `true shapes`: the true curves rescaled to the model's response at the current spend
  (what is left when every curve's shape is right: the effect sizes' share);
- `known shapes, least squares`: the true adstock and saturation of every channel given,
  only the effects estimated (non-negative least squares with the same baseline): the
  regret that the data's information about effect sizes leaves even to a model that
  knows the functional form exactly;
- `known shapes, true prior`: the same, with the effects' posterior mean under the
  generator's own prior (ROI log-uniform in 0.4 to 4 or the data set's `roi_range`,
  engine/mmm/synthetic.py) instead of least squares (Gibbs sampling, `prior_mean_effects`),
  the data's Gaussian likelihood being exact for that generator: what even the
  Bayes decision that knows the curves' shapes and the prior they were drawn from leaves;
- `known shapes, wide prior`: the same with the ROI prior ten times wider at both ends (the
  range a hundred times as wide in ratio): how much of that row's edge is knowing the range;
- `model, hedged 1 sd`: the model's decision moved toward only as far as the posterior
  backs it (`hedged_spend`: the expected gain over the current split at least one
  posterior sd of that gain), a hedge against the sets where the decision loses;
- `current split`: keeping the historical mean spend.

Regret is the lift lost (true response) as a share of the optimum's lift. Gain left is
the share of the attainable gain (the optimum's true response over the current split's)
that a decision leaves on the table, the figure PyMC-Marketing's budget optimizer is
quoted with in issue 21 (3 % to 22 %); the current split leaves all of it.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from engine.allocator import allocate_budget
from engine.grid_curves import GridCurves
from engine.mmm.allocation import allocate_on_model, posterior_curves
from engine.mmm.answers import response_draws
from engine.mmm.features import adstock, saturate
from engine.mmm.model import MarketingMixModel
from engine.mmm.synthetic import true_response

GRID_POINTS = 400
BOUNDS = ((0.0, 2.0), (0.5, 1.5))  # spend per channel within these multiples of its mean
HEDGES = (1.0,)  # the hedged decision's confidence (posterior sd of the gain); 0.5, 1.5 tried
RULES = (
    "model",
    *(f"model, hedged {confidence:g} sd" for confidence in HEDGES),
    "true levels",
    "true shapes",
    "known shapes, least squares",
    "known shapes, true prior",
    "known shapes, wide prior",
    "current split",
)
ROI_RANGE = (0.4, 4.0)  # the generator's default: true ROIs log-uniform in this range
WIDENING = 10.0  # the wide prior: log-uniform from the true range's low / 10 to its high x 10
GIBBS_CHAINS, GIBBS_SWEEPS, GIBBS_BURN, GIBBS_GRID = 64, 400, 100, 1000


def concave_envelope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Upper concave envelope of points (x sorted, starting at 0) evaluated at x."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (y[b] - y[a]) * (x[i] - x[a]) <= (y[i] - y[a]) * (x[b] - x[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    return np.interp(x, x[hull], y[hull])


def allocate_on(
    grid: np.ndarray, response: np.ndarray, budget: float, lower: np.ndarray
) -> np.ndarray:
    """Spend per channel maximizing the sum of responses given on grids (C, G)."""
    envelope = np.array([concave_envelope(g, r) for g, r in zip(grid, response, strict=True)])
    envelope = np.maximum.accumulate(envelope, axis=1)
    return allocate_budget(GridCurves(grid, envelope), budget, lower=lower, upper=grid[:, -1])


def known_shape_effects(
    truth: dict, model: MarketingMixModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each channel's effect (C,) with the true adstock and saturation given and the model's
    baseline columns profiled out, on the fitted periods: by non-negative least squares,
    and as the posterior mean with the Gaussian likelihood of those columns
    (`prior_mean_effects`) under the generator's ROI prior (log-uniform in its range), and
    under a prior WIDENING times wider at both ends (what a user who knows only that the
    returns lie within a thousandfold range could assume)."""
    rows = model.fit_rows
    spend = model.data.spend[:rows]
    media = np.empty((rows, spend.shape[1]))
    for c, channel in enumerate(truth["channels"]):
        scale = channel["mean_spend"]
        level = adstock(spend[:, c] / scale, np.array([channel["theta"]]))[0]
        media[:, c] = saturate(level, channel["k"] / scale, channel["n"], channel["family"])[0]
    basis, _ = np.linalg.qr(model.base.matrix[:rows])
    y = model.data.y[:rows]
    media, y = media - basis @ (basis.T @ media), y - basis @ (basis.T @ y)
    nonnegative, _ = nnls(media, y)
    plain, *_ = np.linalg.lstsq(media, y, rcond=None)
    residual = y - media @ plain
    noise = residual @ residual / max(rows - media.shape[1] - basis.shape[1], 1)
    # ROI over the data's periods = effect * (sum of the true media term) / (sum of spend).
    per_effect = np.array([c["contribution"] / c["effect"] / c["spend"] for c in truth["channels"]])
    low, high = truth.get("roi_range", ROI_RANGE)
    precision = media.T @ media / noise
    return (
        nonnegative,
        prior_mean_effects(plain, precision, low / per_effect, high / per_effect),
        prior_mean_effects(
            plain, precision, low / WIDENING / per_effect, high * WIDENING / per_effect
        ),
    )


def prior_mean_effects(
    center: np.ndarray,
    precision: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """Posterior mean of effects b (C,) whose likelihood is normal around `center` with
    `precision` (C, C) and whose prior is log-uniform in [low, high] per channel.

    Gibbs sampling, GIBBS_CHAINS chains at once: each effect's conditional is its normal
    conditional times the prior, which is flat in log b, so it is drawn exactly enough from
    a fine grid in log b (GIBBS_GRID points over the prior's range, uniform within a cell).
    Importance sampling from the normal, used before, had an effective sample size under
    30 on most sets of eight or more channels, and fell back to least squares on some."""
    rng = np.random.default_rng(seed)
    count = center.size
    log_grid = np.linspace(np.log(low), np.log(high), GIBBS_GRID)  # (G, C)
    cell = (np.log(high) - np.log(low)) / (GIBBS_GRID - 1)
    effects = np.exp(rng.uniform(np.log(low), np.log(high), (GIBBS_CHAINS, count)))
    total = np.zeros(count)
    for sweep in range(GIBBS_SWEEPS):
        for c in range(count):
            offset = effects - center
            others = offset @ precision[c] - precision[c, c] * offset[:, c]
            mean = center[c] - others / precision[c, c]
            values = np.exp(log_grid[:, c])
            log_weight = -0.5 * precision[c, c] * (values[None, :] - mean[:, None]) ** 2
            weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
            cumulative = np.cumsum(weight, axis=1)
            pick = rng.uniform(size=GIBBS_CHAINS) * cumulative[:, -1]
            index = np.minimum((cumulative < pick[:, None]).sum(axis=1), GIBBS_GRID - 1)
            jitter = rng.uniform(-0.5, 0.5, GIBBS_CHAINS) * cell[c]
            log_value = np.clip(log_grid[index, c] + jitter, np.log(low[c]), np.log(high[c]))
            effects[:, c] = np.exp(log_value)
        if sweep >= GIBBS_BURN:
            total += effects.sum(axis=0)
    return total / (GIBBS_CHAINS * (GIBBS_SWEEPS - GIBBS_BURN))


def true_optimum(
    truth: dict, current: np.ndarray, low: float, high: float
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Spend grids (C, GRID_POINTS) up to `high` times the current split, the true curves
    on them, the true optimum's response and its gain over the current split, spend per
    channel within `low` and `high` times the current split's."""
    budget = float(current.sum())
    grid = np.linspace(0.0, 1.0, GRID_POINTS)[None, :] * (high * current)[:, None]
    true_curve = np.stack([true_response(truth, grid[:, i]) for i in range(GRID_POINTS)], 1)
    best = true_response(truth, allocate_on(grid, true_curve, budget, low * current)).sum()
    return grid, true_curve, best, best - true_response(truth, current).sum()


def decision_score(
    truth: dict, current: np.ndarray, spend: np.ndarray, low: float, high: float
) -> dict:
    """{"regret", "gain left"} of one allocation `spend` (C,) on the true curves (for a
    decision made elsewhere, e.g. by PyMC-Marketing's optimizer)."""
    _, _, best, gain = true_optimum(truth, current, low, high)
    lost = best - true_response(truth, spend).sum()
    return {"regret": lost / best, "gain left": lost / gain if gain > 0 else float("nan")}


def hedged_spend(
    model: MarketingMixModel,
    spend: np.ndarray,
    current: np.ndarray,
    confidence: float = 1.0,
    steps: int = 20,
) -> tuple[np.ndarray, float]:
    """Move from `current` toward the model's allocation `spend` only as far as the
    posterior backs it: the largest share s of the way (on a grid of `steps`) at which the
    expected gain over the current split is at least `confidence` posterior standard
    deviations of that gain; 0 (keep the current split) when no share is. Both ends spend
    the same budget within the same bounds, so every point between them does too.
    Answers the spend and the share."""
    curves = posterior_curves(model)
    current = np.asarray(current, dtype=float)
    shares = np.linspace(0.0, 1.0, steps + 1)[1:]
    points = current[None, :] + shares[:, None] * (np.asarray(spend) - current)[None, :]
    base = curves.per_draw("true_response", current).sum(axis=-1)
    gains = curves.per_draw("true_response", points).sum(axis=-1) - base[None, :]
    backed = gains.mean(axis=1) >= confidence * gains.std(axis=1)
    if not backed.any():
        return current.copy(), 0.0
    last = int(np.flatnonzero(backed)[-1])
    return points[last], float(shares[last])


def regrets(truth: dict, model: MarketingMixModel, current: np.ndarray) -> dict:
    """{bounds: {rule: {"regret", "gain left"}}} for every spend bound and rule of RULES:
    the lift lost as a share of the optimum's response, and as a share of the gain the
    optimum makes over the current split (nan when that gain is zero)."""
    budget = float(current.sum())
    channels = current.size
    true_effect = np.array([channel["effect"] for channel in truth["channels"]])
    fitted_effect, bayes_effect, wide_effect = known_shape_effects(truth, model)
    answer = {}
    for low, high in BOUNDS:
        lower, upper = low * current, high * current
        grid, true_curve, best, gain = true_optimum(truth, current, low, high)
        model_curve = np.array(
            [response_draws(model, c, grid[c]).mean(axis=0) for c in range(channels)]
        )
        at = {
            name: np.array([np.interp(current[c], grid[c], curve[c]) for c in range(channels)])
            for name, curve in (("true", true_curve), ("model", model_curve))
        }
        decided = allocate_on_model(model, budget, lower=lower, upper=upper)
        spends = {
            "model": np.array([row["spend"] for row in decided["allocation"]]),
            "true levels": allocate_on(
                grid, model_curve * (at["true"] / np.maximum(at["model"], 1e-300))[:, None],
                budget, lower,
            ),
            "true shapes": allocate_on(
                grid, true_curve * (at["model"] / np.maximum(at["true"], 1e-300))[:, None],
                budget, lower,
            ),
            "known shapes, least squares": allocate_on(
                grid, true_curve * (fitted_effect / true_effect)[:, None], budget, lower
            ),
            "known shapes, true prior": allocate_on(
                grid, true_curve * (bayes_effect / true_effect)[:, None], budget, lower
            ),
            "known shapes, wide prior": allocate_on(
                grid, true_curve * (wide_effect / true_effect)[:, None], budget, lower
            ),
            "current split": current,
        }  # fmt: skip
        for confidence in HEDGES:
            spends[f"model, hedged {confidence:g} sd"] = hedged_spend(
                model, spends["model"], current, confidence
            )[0]
        answer[(low, high)] = {}
        for rule, spend in spends.items():
            lost = best - true_response(truth, spend).sum()
            answer[(low, high)][rule] = {
                "regret": lost / best,
                "gain left": lost / gain if gain > 0 else float("nan"),
            }
    return answer


def regret_table(results: list[dict]) -> str:
    """Median, mean (with its standard error over the data sets), p90 and max regret, and
    median and p90 gain left, of every rule and bound
    over the data sets' results (gain left over the data sets with a gain to make), and on
    how many data sets the model's decision did worse than the current split."""
    lines = [
        f"{'decision':<30} {'spend bounds (x mean)':>22} {'regret median':>14} {'mean':>16} "
        f"{'regret p90':>11} {'regret max':>11} {'gain left median':>17} {'gain left p90':>14}"
    ]
    for rule in RULES:
        for bounds in BOUNDS:
            lost = np.array([result[bounds][rule]["regret"] for result in results])
            left = np.array([result[bounds][rule]["gain left"] for result in results])
            left = left[np.isfinite(left)]
            median_left, p90_left = (
                (f"{np.median(left):.2%}", f"{np.percentile(left, 90):.2%}")
                if left.size
                else ("n/a", "n/a")
            )
            lines.append(
                f"{rule:<30} {f'{bounds[0]:g} to {bounds[1]:g}':>22} {np.median(lost):>14.2%} "
                f"{f'{lost.mean():.2%} ± {lost.std(ddof=1) / np.sqrt(lost.size):.2%}':>16} "
                f"{np.percentile(lost, 90):>11.2%} {lost.max():>11.2%} {median_left:>17} "
                f"{p90_left:>14}"
            )
    worse = [
        sum(result[bounds]["model"]["gain left"] > 1 for result in results) for bounds in BOUNDS
    ]
    lines.append(
        "the model's decision below the current split (gain left over 100%): "
        + ", ".join(
            f"{count} of {len(results)} data sets ({low:g} to {high:g})"
            for count, (low, high) in zip(worse, BOUNDS, strict=True)
        )
    )
    return "\n".join(lines)
