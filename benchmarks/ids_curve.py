"""`curve` with an information-directed decision (Russo & Van Roy), paired against `curve`.

`curve` follows the mean (median for S-shaped campaigns) of its draws' exact allocations.
`IdsCurve` keeps the same draws as posterior samples and chooses among candidate next shares:
that decision, and for every draw d the mixtures current + f * (draw d's allocation - current)
for f in `FRACTIONS`, each paced the way the framework paces a proposal (projected onto the
bounds and the `step` box around the previous shares). For a candidate a it estimates

- the expected one-step regret Delta(a) = mean over draws of f_d(best_d) - f_d(a), f_d the
  draw's total value and best_d its own optimum within the same bounds and step box;
- the information gain g(a) = sum over campaigns of 0.5 log(1 + Var_d f_{d,c}(a_c) / noise_c),
  noise_c the campaign's posterior noise variance: what a report at a_c would tell about which
  draw is right (variance-based IDS, each draw standing for its own optimum);

and picks, by the variant's `rule`:

- `ids`: argmin Delta^2 / g (IDS proper, deterministic over the candidates, which already hold
  mixtures of the two actions IDS would randomize between);
- `factor`: the current decision unless a candidate's g / Delta is `factor` times the current
  decision's, then the best such candidate;
- `weighted`: argmin Delta - `weight` * g / (number of campaigns) * mean_d f_d(best_d)
  (information priced in a share of a timestep's value).

Paired runs: both players play the same worlds with the same run seeds; printed are the
means, the mean of the differences in thousandths of efficiency and its standard error over
the worlds. Seeds default to tuning seeds (1000 and above).

    python -m benchmarks.ids_curve [--columns spread400:30 spread100:90 negexp:30 ...]
        [--seeds 48] [--broad-seeds 12] [--params rule=ids]

A column is a distribution of benchmarks.policy_efficiency and a horizon; spread columns are
played at step 0.25, the broad ones at 0.1 (the report's steps).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping

import numpy as np

from benchmarks.policy_efficiency import DISTRIBUTIONS
from benchmarks.real_conditions import parameter
from engine.constraints import effective_step
from engine.framework import Context
from engine.negexp_allocator import allocate_negexp_blend
from engine.params import Choice, Number
from engine.policies.curve import Curve, unit_curve
from engine.simulate import run

FRACTIONS = (0.25, 0.5, 1.0)
RULES = ("ids", "factor", "weighted")


def step_box(
    lower: np.ndarray, upper: np.ndarray, previous: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """The share box a proposal is clipped to: bounds and `step` around `previous`."""
    step = effective_step(lower, upper, previous, step) if step < 1.0 else 1.0
    open_ = upper > 0
    low = np.where(open_, np.maximum(lower, previous - step), 0.0)
    high = np.where(open_, np.maximum(np.minimum(upper, previous + step), low), 0.0)
    return low, high


def project_batch(targets: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Exact Euclidean projections of N targets (N, K) onto {low <= s <= high, sum(s) = 1}.

    sum(clip(t + tau, low, high)) is piecewise linear in tau, sum(low) at its first kink,
    its slope rising by 1 at each low - t and falling by 1 at each high - t: sorting the
    kinks and summing the slopes gives it at every kink, and tau is interpolated, for all
    targets at once (engine.constraints projects one target the same way).
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
    """Candidate shares (1 + F * D, K): the current decision, then its mixtures with each
    draw's allocation (shares (D, K)), every one paced as the framework paces a proposal
    (projected onto the step box `low`..`high`)."""
    mixes = current[None, None, :] + np.asarray(fractions)[:, None, None] * (
        allocations[None, :, :] - current[None, None, :]
    )
    targets = np.concatenate([current[None, :], mixes.reshape(-1, current.size)])
    return project_batch(targets, low, high)


def regret_and_gain(
    shares: np.ndarray,
    alpha: np.ndarray,
    mu: np.ndarray,
    blend: np.ndarray,
    budget: float,
    best: np.ndarray,
    noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected regret (N,), information gain (N,) of N candidate shares (N, K) under D
    drawn curves (D, K), and the draws' optimal values within the box `best` (D,)."""
    values = alpha[None] * unit_curve(shares[:, None, :] * budget, 1.0 / mu[None], blend[None])
    totals = values.sum(axis=2)  # (N, D)
    best = np.maximum(best, totals.max(axis=0))
    regret = (best[None, :] - totals).mean(axis=1)
    gain = 0.5 * np.log1p(values.var(axis=1) / noise[None, :]).sum(axis=1)
    return regret, gain, best


def choose(
    regret: np.ndarray,
    gain: np.ndarray,
    rule: str,
    factor: float,
    weight: float,
    scale: float,
) -> int:
    """The chosen candidate's index (0 is the current decision) under `rule`."""
    tiny = np.finfo(float).tiny
    if rule == "ids":
        return int(np.argmin(regret**2 / np.maximum(gain, tiny)))
    if rule == "factor":
        ratio = gain / np.maximum(regret, tiny * 1e100)
        best = int(np.argmax(ratio))
        return best if ratio[best] > factor * ratio[0] else 0
    return int(np.argmin(regret - weight * scale * gain))


def posterior_noise(post: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each campaign's noise variance (K,) in squared value units, over its grid posterior."""
    per_grid = post["scale"] / post["shape"][:, None]
    return np.maximum((post["grid"] * per_grid).sum(axis=1), 1e-12) * post["value_unit"] ** 2


class IdsCurve(Curve):
    """`curve` whose move is chosen by its value of information against its expected cost."""

    name = "curve_ids"
    param_specs = {
        **Curve.param_specs,
        "rule": Choice("ids", RULES),
        "factor": Number(2.0, 1.0),
        "weight": Number(0.01, 0.0),
        "eval_draws": Number(32, 0, 256, integer=True),
    }

    def __init__(self, params: Mapping | None = None) -> None:
        super().__init__(params)
        self.last: dict[str, float] = {}

    def propose(self, context: Context, rng: np.random.Generator) -> np.ndarray:
        post = self.posterior(context)
        if post["value_cells"] == 0:
            return context.previous
        budget = context.budget
        lower, upper = context.lower, context.upper
        alpha, mu, blend = self.sample_curves(post, rng, self.params["draws"])
        spend = allocate_negexp_blend(alpha, mu, blend, budget, lower * budget, upper * budget)
        s_shaped = (blend > 0).mean(axis=0) >= 0.5
        current = np.where(s_shaped, np.median(spend, axis=0), spend.mean(axis=0))
        if current.sum() <= 0:
            current = spend.mean(axis=0)
        current = current / current.sum()
        step, previous = context.settings["step"], context.previous
        low, high = step_box(lower, upper, previous, step)
        shares = candidates(current, spend / budget, low, high)
        if self.params["eval_draws"]:
            # Fresh draws judge the candidates: on the draws that made them, each draw's own
            # allocation would score its own draw's optimum, a bias toward following one draw.
            alpha, mu, blend = self.sample_curves(post, rng, self.params["eval_draws"])
        boxed = allocate_negexp_blend(alpha, mu, blend, budget, low * budget, high * budget)
        best = (alpha * unit_curve(boxed, 1.0 / mu, blend)).sum(axis=1)
        regret, gain, best = regret_and_gain(
            shares, alpha, mu, blend, budget, best, posterior_noise(post)
        )
        scale = float(best.mean()) / max(context.n_campaigns, 1)
        index = choose(
            regret, gain, self.params["rule"], self.params["factor"], self.params["weight"], scale
        )
        self.last = {
            "index": index,
            "regret0": float(regret[0]),
            "gain0": float(gain[0]),
            "regret": float(regret[index]),
            "gain": float(gain[index]),
        }
        return shares[index]


def column_of(text: str) -> tuple[str, int]:
    """`distribution:horizon` as a pair."""
    name, _, horizon = text.partition(":")
    if name not in DISTRIBUTIONS or not horizon.isdigit():
        raise argparse.ArgumentTypeError(f"expected distribution:horizon, got {text!r}")
    return name, int(horizon)


def paired(
    name: str, horizon: int, seeds: list[int], params: dict[str, object]
) -> tuple[np.ndarray, np.ndarray]:
    """`curve`'s and the variant's efficiencies on each seed's world of one column."""
    step = 0.25 if name.startswith("spread") else 0.1
    ours, base = [], []
    for seed in seeds:
        world = DISTRIBUTIONS[name](seed, horizon)
        base.append(run(Curve(), world, seed, step=step).efficiency)
        ours.append(run(IdsCurve(params), world, seed, step=step).efficiency)
    return np.array(ours), np.array(base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--columns",
        type=column_of,
        nargs="+",
        default=[
            column_of(c)
            for c in (
                "spread400:30",
                "spread100:30",
                "spread400:90",
                "spread100:90",
                "negexp:30",
                "hill:30",
                "mixed:30",
            )
        ],
    )
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=48, help="worlds per spread column")
    parser.add_argument("--broad-seeds", type=int, default=12, help="worlds per other column")
    parser.add_argument("--params", type=parameter, nargs="*", default=[])
    parser.add_argument("--rule", choices=RULES, default="ids")
    args = parser.parse_args(argv)
    params: dict[str, object] = {**dict(args.params), "rule": args.rule}
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"curve_ids {params} against curve; load average {load}")
    print(f"{'column':<14}{'worlds':>7}{'curve':>9}{'ids':>9}{'diff e-3':>10}{'(s.e.)':>8}")
    started = time.perf_counter()
    for name, horizon in args.columns:
        count = args.seeds if name.startswith("spread") else args.broad_seeds
        seeds = list(range(args.first_seed, args.first_seed + count))
        ours, base = paired(name, horizon, seeds, params)
        lead = 1000 * (ours - base)
        error = lead.std(ddof=1) / np.sqrt(lead.size) if lead.size > 1 else float("nan")
        print(
            f"{name + ':' + str(horizon):<14}{lead.size:>7}{base.mean():>9.4f}{ours.mean():>9.4f}"
            f"{lead.mean():>+10.1f}{error:>8.1f}",
            flush=True,
        )
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
