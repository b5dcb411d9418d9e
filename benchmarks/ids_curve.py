"""`curve` with an information-directed decision (Russo & Van Roy), paired against its mean rule.

The baseline is `curve` with `decision` "mean" (the default before the information-directed
decision became it): it follows the mean (median for S-shaped campaigns) of its draws' exact
allocations.
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
        [--seeds 48] [--broad-seeds 12] [--first-seed 1000] [--rule ids] [--params factor=2]
    python -m benchmarks.ids_curve --engine    # the engine's `curve` with `decision` "ids"

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
from engine.context import Context
from engine.negexp_allocator import allocate_negexp_blend
from engine.params import Choice, Number
from engine.policies.curve import Curve
from engine.policies.curve_decision import (
    candidates,
    draws_decision,
    posterior_noise,
    regret_and_gain,
    step_box,
)
from engine.policies.curve_family import unit_curve
from engine.simulate import run

RULES = ("ids", "factor", "weighted")


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
        current, allocations = draws_decision(alpha, mu, blend, budget, lower, upper)
        step, previous = context.settings["step"], context.previous
        low, high = step_box(lower, upper, previous, step)
        shares = candidates(current, allocations, low, high)
        if self.params["eval_draws"]:
            # Fresh draws judge the candidates: on the draws that made them, each draw's own
            # allocation would score its own draw's optimum, a bias toward following one draw.
            alpha, mu, blend = self.sample_curves(post, rng, self.params["eval_draws"])
        boxed = allocate_negexp_blend(alpha, mu, blend, budget, low * budget, high * budget)
        best = (alpha * unit_curve(boxed, 1.0 / mu, blend)).sum(axis=1)
        regret, gain, best = regret_and_gain(
            shares, (alpha, mu, blend), budget, best, posterior_noise(post)
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


MEAN_RULE = {"decision": "mean"}
"""The baseline every variant is paired against."""


def variant(params: dict[str, object], engine: bool) -> Curve:
    """The player paired against the mean rule: the engine's `curve` with `decision` "ids" (and
    `params`), or this module's `IdsCurve` with `params`."""
    return Curve({**params, "decision": "ids"}) if engine else IdsCurve(params)


def paired(
    name: str, horizon: int, seeds: list[int], params: dict[str, object], engine: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The mean rule's and the variant's efficiencies on each seed's world of one column."""
    step = 0.25 if name.startswith("spread") else 0.1
    ours, base = [], []
    for seed in seeds:
        world = DISTRIBUTIONS[name](seed, horizon)
        base.append(run(Curve(MEAN_RULE), world, seed, step=step).efficiency)
        ours.append(run(variant(params, engine), world, seed, step=step).efficiency)
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
    parser.add_argument(
        "--engine", action="store_true", help="pair curve with decision 'ids' (--params: curve's)"
    )
    args = parser.parse_args(argv)
    params: dict[str, object] = dict(args.params)
    if not args.engine:
        params["rule"] = args.rule
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    player = "curve decision=ids" if args.engine else "curve_ids"
    print(f"{player} {params} against curve {MEAN_RULE}; load average {load}")
    print(
        f"{'column':<14}{'worlds':>7}{'curve':>9}{'(worst)':>9}{'ids':>9}{'(worst)':>9}"
        f"{'diff e-3':>10}{'(s.e.)':>8}"
    )
    started = time.perf_counter()
    for name, horizon in args.columns:
        count = args.seeds if name.startswith("spread") else args.broad_seeds
        seeds = list(range(args.first_seed, args.first_seed + count))
        ours, base = paired(name, horizon, seeds, params, args.engine)
        lead = 1000 * (ours - base)
        error = lead.std(ddof=1) / np.sqrt(lead.size) if lead.size > 1 else float("nan")
        print(
            f"{name + ':' + str(horizon):<14}{lead.size:>7}{base.mean():>9.4f}"
            f"{base.min():>9.3f}{ours.mean():>9.4f}{ours.min():>9.3f}"
            f"{lead.mean():>+10.1f}{error:>8.1f}",
            flush=True,
        )
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
