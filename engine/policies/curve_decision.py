"""How `curve` turns its posterior draws into a move: their allocations' mean, or an
information-directed choice (Russo & Van Roy, 2014 and 2018; `decision` "ids").

`draws_decision` follows the mean (or, for campaigns drawn mostly as S-curves, the median) of
the draws' exact allocations. On advertisers whose campaigns saturate at widely spread spends
that settles each campaign's spend in a narrow band, where its curvature does not show, and
the scales are learnt too slowly; random probes cost more than they taught.
Information-directed sampling instead weighs each possible move by what it would teach
against what it is expected to cost, with both read off posterior draws:

- candidates: the current decision, and for every draw d its mixtures with that draw's
  allocation, current + f * (allocation_d - current) for f in `FRACTIONS`, each projected
  onto the bounds and the step box around the previous shares, as the framework paces any
  proposal (a move is only worth what the step lets it reach);
- expected regret Delta(a): the mean over fresh draws of f_d(best_d) - f_d(a), f_d a draw's
  total value and best_d its own optimum within the same step box (fresh draws, because on
  the draws that made the candidates each draw's own allocation scores its own optimum);
- information gain g(a): the sum over campaigns of 0.5 log(1 + Var_d f_{d,c}(a_c) / noise_c),
  how far the draws disagree about what a report at that spend would say, against the
  campaign's posterior noise (variance-based IDS: each draw stands for its own optimum);

and the move is the candidate minimizing Delta^2 / g. Pure numpy, vectorized over candidates,
draws and campaigns.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from engine.constraints import effective_step
from engine.negexp_allocator import allocate_negexp, allocate_negexp_blend
from engine.policies.curve_family import unit_curve

FRACTIONS = (0.25, 0.5, 1.0)
EVAL_DRAWS = 32
"""Fresh posterior draws that judge the candidates."""


def draws_decision(
    alpha: np.ndarray,
    mu: np.ndarray,
    blend: np.ndarray,
    budget: float,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Shares following the draws' exact allocations, and those allocations' shares (D, K).

    S-curve draws fund a campaign fully or not at all; their mean would sit on the
    convex stretch in between, where it returns least, so a campaign drawn mostly as an
    S-curve follows the median of its draws. The others keep their mean: with many
    campaigns the median of each would leave most of them at 0.
    """
    if not blend.any():
        spend = allocate_negexp(alpha, mu, budget, lower * budget, upper * budget)
        return spend.mean(axis=0) / budget, spend / budget
    spend = allocate_negexp_blend(alpha, mu, blend, budget, lower * budget, upper * budget)
    s_shaped = (blend > 0).mean(axis=0) >= 0.5
    middle = np.where(s_shaped, np.median(spend, axis=0), spend.mean(axis=0))
    if middle.sum() <= 0:
        return spend.mean(axis=0) / budget, spend / budget
    return middle / middle.sum(), spend / budget


def step_box(
    lower: np.ndarray, upper: np.ndarray, previous: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """The shares a proposal can reach: the bounds and `step` around `previous`, the step
    widened as the framework widens it when the bounds moved (engine.constraints)."""
    step = effective_step(lower, upper, previous, step) if step < 1.0 else 1.0
    open_ = upper > 0
    low = np.where(open_, np.maximum(lower, previous - step), 0.0)
    high = np.where(open_, np.maximum(np.minimum(upper, previous + step), low), 0.0)
    return low, high


def project_batch(targets: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Exact Euclidean projections of N targets (N, K) onto {low <= s <= high, sum(s) = 1}.

    sum(clip(t + tau, low, high)) is piecewise linear in tau, sum(low) at its first kink, its
    slope rising by 1 at each low - t and falling by 1 at each high - t: sorting the kinks
    and summing the slopes gives it at every kink, and tau is interpolated, for all targets
    at once (engine.constraints projects one target the same way).
    """
    n_targets, n_campaigns = targets.shape
    kinks = np.concatenate([low[None, :] - targets, high[None, :] - targets], axis=1)
    steps = np.repeat([1.0, -1.0], n_campaigns)
    order = np.argsort(kinks, axis=1, kind="stable")
    kinks = np.take_along_axis(kinks, order, axis=1)
    slopes = np.cumsum(steps[order], axis=1)[:, :-1]
    rises = np.cumsum(slopes * np.diff(kinks, axis=1), axis=1)
    totals = low.sum() + np.concatenate([np.zeros((n_targets, 1)), rises], axis=1)
    piece = np.clip((totals < 1.0).sum(axis=1) - 1, 0, 2 * n_campaigns - 2)
    rows = np.arange(n_targets)
    left, right = totals[rows, piece], totals[rows, piece + 1]
    width = kinks[rows, piece + 1] - kinks[rows, piece]
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = kinks[rows, piece] + np.clip((1.0 - left) / (right - left), 0.0, 1.0) * width
    tau = np.where(np.isfinite(tau), tau, kinks[rows, piece])
    shares = np.clip(targets + tau[:, None], low, high)
    return shares / shares.sum(axis=1, keepdims=True)


def candidates(
    current: np.ndarray,
    allocations: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    fractions: tuple[float, ...] = FRACTIONS,
) -> np.ndarray:
    """Candidate shares (1 + F * D, K): the current decision (K,), then its mixtures with each
    draw's allocation (shares (D, K)), each projected onto the step box `low`..`high`."""
    mixes = current[None, None, :] + np.asarray(fractions)[:, None, None] * (
        allocations[None, :, :] - current[None, None, :]
    )
    targets = np.concatenate([current[None, :], mixes.reshape(-1, current.size)])
    return project_batch(targets, low, high)


def regret_and_gain(
    shares: np.ndarray,
    draws: tuple[np.ndarray, np.ndarray, np.ndarray],
    budget: float,
    best: np.ndarray,
    noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected regret (N,) and information gain (N,) of N candidate shares (N, K) under D
    drawn curves (alpha, mu, blend, each (D, K)), given each draw's optimal value `best` (D,)
    and each campaign's noise variance (K,); and `best` raised to any candidate above it."""
    alpha, mu, blend = draws
    values = alpha[None] * unit_curve(shares[:, None, :] * budget, 1.0 / mu[None], blend[None])
    totals = values.sum(axis=2)  # (N, D)
    best = np.maximum(best, totals.max(axis=0))
    regret = (best[None, :] - totals).mean(axis=1)
    gain = 0.5 * np.log1p(values.var(axis=1) / noise[None, :]).sum(axis=1)
    return regret, gain, best


def posterior_noise(post: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each campaign's noise variance (K,) in squared value units, over its grid posterior
    (`Curve.posterior`'s Normal-inverse-gamma scale over shape, grid-weighted)."""
    per_grid = post["scale"] / post["shape"][:, None]
    return np.maximum((post["grid"] * per_grid).sum(axis=1), 1e-12) * post["value_unit"] ** 2


def ids_index(regret: np.ndarray, gain: np.ndarray) -> int:
    """The candidate minimizing the information ratio Delta^2 / g (no gain: no preference
    over regret alone)."""
    return int(np.argmin(regret**2 / np.maximum(gain, np.finfo(float).tiny)))


def information_directed(
    current: np.ndarray,
    allocations: np.ndarray,
    draws: tuple[np.ndarray, np.ndarray, np.ndarray],
    noise: np.ndarray,
    budget: float,
    bounds: tuple[np.ndarray, np.ndarray],
    previous: np.ndarray,
    step: float,
) -> np.ndarray:
    """The candidate shares (K,) of least information ratio.

    `current` is the decision without it (shares), `allocations` (D, K) the shares of the
    draws that made it, `draws` fresh draws (alpha, mu, blend) judging the candidates,
    `bounds` the share bounds (lower, upper) of the coming timestep, `previous` its shares
    before and `step` the framework's pace.
    """
    low, high = step_box(*bounds, previous, step)
    shares = candidates(current, allocations, low, high)
    alpha, mu, blend = draws
    boxed = allocate_negexp_blend(alpha, mu, blend, budget, low * budget, high * budget)
    best = (alpha * unit_curve(boxed, 1.0 / mu, blend)).sum(axis=1)
    regret, gain, _ = regret_and_gain(shares, draws, budget, best, noise)
    return shares[ids_index(regret, gain)]
