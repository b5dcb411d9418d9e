"""Where the model's decision loses against the current split, and whether its posterior said so.

On synthetic histories with known truth (engine/mmm/synthetic.py, 104 weeks), for each
data set: the product's decision (engine.mmm.allocation.allocate_on_model) of the current
budget per period within 0-2 and 0.5-1.5 times each channel's mean spend; the posterior of
its total gain over the current split (mean, sd, probability of a loss) against the true
gain; and each channel's change in response against the 90 % band of the model's, flagged
when the truth lies outside it. Then, over all channels, the calibration of the loss of
halving a channel's spend: the share of true losses inside the model's 90 % band, above
it and below it, and the median ratio of the model's loss (and marginal return at the
current spend) to the true one.

    python -m benchmarks.mmm_losses [--first-seed 0] [--datasets 30] [--channels 5] [--show 9 19]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.mmm_regret import BOUNDS
from engine.mmm import MarketingMixModel, load_rows
from engine.mmm.allocation import allocate_on_model
from engine.mmm.answers import response_draws
from engine.mmm.synthetic import generate, true_response


def at(model: MarketingMixModel, spend: np.ndarray) -> np.ndarray:
    """Each channel's steady-state response per draw at spend (C,): (C, D)."""
    return np.array([response_draws(model, c, spend[c : c + 1])[:, 0] for c in range(spend.size)])


def decision_losses(seed: int, model: MarketingMixModel, truth: dict, current: np.ndarray) -> str:
    """The decision's posterior and true gains, channel by channel, for each bound."""
    lines = []
    base, true_base = at(model, current), true_response(truth, current)
    for low, high in BOUNDS:
        decided = allocate_on_model(
            model, float(current.sum()), lower=low * current, upper=high * current
        )
        spend = np.array([row["spend"] for row in decided["allocation"]])
        change, true_change = at(model, spend) - base, true_response(truth, spend) - true_base
        gain = change.sum(axis=0)
        lines.append(
            f"seed {seed}, bounds {low:g}-{high:g}: posterior gain {gain.mean():,.0f} "
            f"(sd {gain.std():,.0f}, P(loss) {np.mean(gain < 0):.2f}), true gain "
            f"{true_change.sum():,.0f}"
        )
        for c, channel in enumerate(truth["channels"]):
            band = np.percentile(change[c], [5, 95])
            outside = "" if band[0] <= true_change[c] <= band[1] else "  outside the band"
            lines.append(
                f"  {channel['channel']:<10} spend {current[c]:>9,.0f} -> {spend[c]:>9,.0f}: "
                f"model {change[c].mean():>9,.0f} [{band[0]:>9,.0f}, {band[1]:>9,.0f}], "
                f"true {true_change[c]:>9,.0f}{outside}"
            )
    return "\n".join(lines)


def halving(model: MarketingMixModel, truth: dict, current: np.ndarray) -> np.ndarray:
    """Per channel (C, 5): log ratio of model to true marginal return at the current spend,
    log ratio of model to true loss of halving the spend, and whether the true loss lies
    inside, above or below the model's 90 % band."""
    rows = []
    for c in range(current.size):
        step = 0.05 * current[c]
        points = np.array([current[c] - step, current[c] + step, 0.5 * current[c], current[c]])
        draws = response_draws(model, c, points)
        spend = np.zeros((current.size, points.size))
        spend[c] = points
        true = true_response(truth, spend)[c]
        loss, true_loss = draws[:, 3] - draws[:, 2], true[3] - true[2]
        low, high = np.percentile(loss, [5, 95])
        rows.append(
            (
                np.log((draws[:, 1] - draws[:, 0]).mean() / (true[1] - true[0])),
                np.log(loss.mean() / true_loss),
                low <= true_loss <= high,
                true_loss > high,
                true_loss < low,
            )
        )
    return np.array(rows, dtype=float)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mmm_losses", description=__doc__)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--datasets", type=int, default=30)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--show", type=int, nargs="*", default=(), help="seeds to detail")
    args = parser.parse_args(argv)
    calibration = []
    for seed in range(args.first_seed, args.first_seed + args.datasets):
        data_set = generate(seed, channels=args.channels)
        data = load_rows(data_set["rows"], controls=["price"])
        model = MarketingMixModel(seed=seed).fit(data)
        current = data.spend.mean(axis=0)
        calibration.append(halving(model, data_set["truth"], current))
        if seed in args.show:
            print(decision_losses(seed, model, data_set["truth"], current), flush=True)
    rows = np.concatenate(calibration)
    print(
        f"\n{len(rows)} channels of seeds {args.first_seed}-{args.first_seed + args.datasets - 1}"
        f": loss of halving a channel's spend inside the model's 90 % band {rows[:, 2].mean():.1%}"
        f", above it {rows[:, 3].mean():.1%}, below it {rows[:, 4].mean():.1%}; median "
        f"model/true loss {np.exp(np.median(rows[:, 1])):.2f}, marginal return at the current "
        f"spend {np.exp(np.median(rows[:, 0])):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
