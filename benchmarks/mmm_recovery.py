"""Recovery of known channel effects by the marketing-mix model, against naive crediting.

On synthetic weekly histories with known truth (engine/mmm/synthetic.py: 104 weeks, 3 to
10 channels, trend, yearly seasonality, a price control, noise 5% to 20%, correlated
pairs), seeds 1000 and up (the model's settings were tuned on seeds 0 to 99 only):

- calibration: share of true channel ROIs inside the model's 90% interval;
- median absolute ROI error (relative to the true ROI), of the model's posterior mean and
  of today's spend-share crediting (engine.datasets: each period's KPI credited to the
  channels in proportion to their spend);
- regret of allocating the current total budget per period on the model (the product's
  decision, engine.mmm.allocation.allocate_on_model) instead of on the true curves, spend
  per channel within 0 and 2 (or 0.5 and 1.5) times its mean, as a share of the
  optimum's lift and of the gain the optimum makes over the current split (gain left,
  the figure issue 21 quotes for PyMC-Marketing's optimizer), beside the rules of
  benchmarks/mmm_regret.py that say where it comes from (effect sizes or curve shapes)
  and what the data allow;
- fit times: 104 weeks x 10 channels, and three years of daily data x 20 channels;
- PyMC-Marketing's MMM on the first data sets when it is importable
  (`pip install pymc-marketing`, not a requirement of Oktopus; the row is skipped otherwise).

`--channels 5 --no-regret` gives the setting of the PyMC-Marketing comparison (104 weeks,
five channels, a price control) on many data sets. Several `--roi-prior` values fit every
data set once per prior and add a paired comparison (benchmarks/mmm_paired.py);
`--roi-range LOW HIGH` draws the true ROIs log-uniform in another range.

    python -m benchmarks.mmm_recovery [--datasets 50] [--quick] [--pymc 3] [--channels 5]
        [--first-seed 1000] [--roi-prior zero|level|ratio|lognormal ...]
        [--saturation-spread 0.8] [--roi-range 0.4 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

import numpy as np

from benchmarks.mmm_paired import paired_table
from benchmarks.mmm_regret import regret_table, regrets
from engine.datasets import parse_rows
from engine.mmm import MarketingMixModel, load_rows
from engine.mmm.model import ROI_PRIORS
from engine.mmm.synthetic import generate

FIRST_SEED = 1000
SETTINGS: dict = {}
DATA: dict = {}  # options of the generator (roi_range)


def naive_roi(rows: list[dict], channels: list[str]) -> np.ndarray:
    """ROI of spend-share crediting, the way Oktopus read wide data before the model."""
    plain = [{key: row[key] for key in ("date", "revenue", *channels)} for row in rows]
    dataset = parse_rows(plain)
    by_name = {series.name: series for series in dataset.campaigns}
    return np.array([by_name[c].response.sum() / by_name[c].spend.sum() for c in channels])


def score(
    seed: int,
    draws: int,
    channels: int | None = None,
    regret: bool = True,
    settings: dict | None = None,
) -> dict:
    """Fit one synthetic data set (`channels` channels, else 3 to 10) and score ROI
    recovery, naive crediting and (when `regret`) the regret of allocating on the model."""
    data_set = generate(seed, channels=channels, **DATA)
    truth = data_set["truth"]["channels"]
    names = [channel["channel"] for channel in truth]
    data = load_rows(data_set["rows"], controls=["price"])
    model = MarketingMixModel(seed=seed, draws=draws, **(settings or SETTINGS)).fit(data)
    true = np.array([channel["roi"] for channel in truth])
    inside, estimate = [], []
    for c in range(len(names)):
        roi = model.channel_contributions(c).sum(axis=1) / data.spend[:, c].sum()
        low, high = np.percentile(roi, [5, 95])
        inside.append(low <= true[c] <= high)
        estimate.append(roi.mean())
    regret = regrets(data_set["truth"], model, data.spend.mean(axis=0)) if regret else None
    return {
        "channels": len(names),
        "inside": inside,
        "error": list(np.abs(np.array(estimate) - true) / true),
        "naive_error": list(np.abs(naive_roi(data_set["rows"], names) - true) / true),
        "regret": regret,
        "seconds": model.fit_seconds,
    }


def timing(periods: int, channels: int, frequency: str, draws: int) -> str:
    """Wall and CPU seconds to fit one synthetic history of the given size (the CPU time
    does not grow with other processes' load; the wall time does)."""
    data_set = generate(FIRST_SEED + 999, periods=periods, channels=channels, frequency=frequency)
    data = load_rows(data_set["rows"], controls=["price"])
    started = time.process_time()
    model = MarketingMixModel(seed=1, draws=draws, **SETTINGS).fit(data)
    return f"{model.fit_seconds:.2f} s wall, {time.process_time() - started:.2f} s CPU"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mmm_recovery", description=__doc__)
    parser.add_argument("--datasets", type=int, help="data sets (default 50, 8 with --quick)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="8 data sets, no daily timing")
    parser.add_argument("--pymc", type=int, default=3, help="data sets for PyMC-Marketing")
    parser.add_argument(
        "--channels", type=int, help="channels of every data set (default: 3 to 10 at random)"
    )
    parser.add_argument("--no-regret", action="store_true", help="skip the regret table")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=FIRST_SEED,
        help="seed of the first data set (1000 and up are held out; 0-99 are for tuning)",
    )
    parser.add_argument(
        "--roi-prior",
        choices=ROI_PRIORS,
        nargs="+",
        help="the model's ROI prior (default: the model's); several: each on the same sets",
    )
    parser.add_argument(
        "--roi-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="true ROIs log-uniform in LOW-HIGH (default: the generator's 0.4-4)",
    )
    parser.add_argument(
        "--saturation-spread",
        type=float,
        help="log-scale sd of the prior on each channel's saturation point (default: the "
        "model's; 0: a uniform grid)",
    )
    args = parser.parse_args(argv)
    first = args.first_seed
    priors = args.roi_prior or [None]
    if priors[0]:
        SETTINGS["roi_prior"] = priors[0]
    if args.roi_range:
        if not 0 < args.roi_range[0] < args.roi_range[1]:
            parser.error("--roi-range needs 0 < LOW < HIGH")
        DATA["roi_range"] = tuple(args.roi_range)
    if args.saturation_spread is not None:
        SETTINGS["saturation_spread"] = args.saturation_spread or None
    count = args.datasets or (8 if args.quick else 50)
    if count < 1:
        parser.error("--datasets must be at least 1")
    print(f"load before: {load()} ({os.cpu_count()} cores)", flush=True)
    by_prior: dict[str, list[dict]] = {prior or "default": [] for prior in priors}
    for index in range(count):
        for prior in priors:
            settings = {**SETTINGS, **({"roi_prior": prior} if prior else {})}
            by_prior[prior or "default"].append(
                score(first + index, args.draws, args.channels, not args.no_regret, settings)
            )
    results = next(iter(by_prior.values()))
    inside = np.concatenate([r["inside"] for r in results])
    error = np.concatenate([r["error"] for r in results])
    naive = np.concatenate([r["naive_error"] for r in results])
    seconds = np.array([r["seconds"] for r in results])
    ten = seconds[np.array([r["channels"] for r in results]) == 10]
    print(
        f"\n{count} synthetic data sets (seeds {first}-{first + count - 1}), "
        f"{inside.size} channels, 104 weeks, {args.draws} posterior draws, settings "
        f"{SETTINGS or 'the defaults'}, data {DATA or 'the defaults'}\n"
    )
    print(f"{'method':<34} {'90% coverage':>12} {'median ROI error':>17} {'fit s (median)':>15}")
    print(
        f"{'Oktopus MMM (engine.mmm)':<34} {inside.mean():>12.1%} {np.median(error):>17.1%} "
        f"{np.median(seconds):>15.2f}"
    )
    print(f"{'spend-share crediting (naive)':<34} {'-':>12} {np.median(naive):>17.1%} {'-':>15}")
    if results[0]["regret"] is not None:
        print(
            "\nregret of allocating the current budget per period on the model (the product's "
            "decision: the posterior-mean KPI's maximum)\nagainst the true curves, as a share "
            "of the optimum's lift, and as a share of the optimum's gain over the current "
            "split\n(gain left); the other rows say where it comes from "
            "(benchmarks/mmm_regret.py)\n"
        )
        print(regret_table([r["regret"] for r in results]))
        if len(by_prior) > 1:
            print(paired_table(by_prior))
    among = (
        f" (median over the {ten.size} ten-channel sets above: {np.median(ten):.2f} s)"
        if ten.size
        else ""
    )
    print(f"\nfit time, 104 weeks x 10 channels: {timing(104, 10, 'weekly', args.draws)}{among}")
    first_settings = dict(SETTINGS)
    for prior in priors[1:]:
        SETTINGS["roi_prior"] = prior
        print(f"  with roi_prior {prior}: {timing(104, 10, 'weekly', args.draws)}")
    SETTINGS.clear()
    SETTINGS.update(first_settings)
    if not args.quick:
        daily = timing(3 * 365, 20, "daily", args.draws)
        print(f"fit time, 3 years daily x 20 channels: {daily}")
    if args.pymc > 0:
        from benchmarks.mmm_peer import pymc_row

        print(
            "\nthe same data sets, against PyMC-Marketing (its fits are slow: the first few only)"
        )
        print(
            f"{'method':<34} {'90% coverage':>12} {'median ROI error':>17} {'fit s (median)':>15}"
        )
        seeds = [first + i for i in range(min(args.pymc, count))]
        print(pymc_row(seeds, results, args.channels))
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
