"""PyMC-Marketing's MMM on the same synthetic histories, when it is importable.

PyMC-Marketing is not a requirement of Oktopus: `pip install pymc-marketing` (0.19 was
measured) to get this row. Its model: geometric adstock (l_max 8), logistic saturation,
yearly seasonality (order 2), the price control, 2 chains x 1,000 draws after 1,000 tuning
steps. ROI per draw is its channel contribution (original scale) over the data's periods
divided by spend.

Its decision: the fitted model's `optimize_budget` (PyMC-Marketing's `BudgetOptimizer`,
SLSQP on the posterior-mean response) allocates the current total budget per period over
DECISION_PERIODS periods with each channel's spend within the same multiples of its mean
spend as ours (benchmarks/mmm_regret.py's BOUNDS); the spend it returns per period is
scored on the true curves like ours (regret and gain left).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from benchmarks.mmm_regret import BOUNDS, decision_score
from engine.mmm.synthetic import generate

DECISION_PERIODS = 8  # periods the optimizer plans the same per-period split over


def _decisions(model, data_set: dict, names: list[str]) -> dict:
    """{bounds: {"regret", "gain left", "converged"}} of PyMC-Marketing's optimizer on the
    fitted model, scored on the true curves."""
    truth = data_set["truth"]
    current = np.array([channel["mean_spend"] for channel in truth["channels"]])
    answer = {}
    for low, high in BOUNDS:
        bounds = {
            name: (low * spend, high * spend) for name, spend in zip(names, current, strict=True)
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            allocation, result = model.optimize_budget(
                budget=float(current.sum()),
                num_periods=DECISION_PERIODS,
                budget_bounds=bounds,
                return_if_fail=True,
            )
        spend = np.array([float(allocation.sel(channel=name)) for name in names])
        score = decision_score(truth, current, spend, low, high)
        answer[(low, high)] = {**score, "converged": bool(result.success)}
    return answer


def _fit_one(
    seed: int, channels: int | None, decide: bool = False
) -> tuple[list[bool], list[float], float, dict | None]:
    import pandas as pd
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    data_set = generate(seed, channels=channels)
    truth = data_set["truth"]["channels"]
    names = [channel["channel"] for channel in truth]
    frame = pd.DataFrame(data_set["rows"])
    frame["date"] = pd.to_datetime(frame["date"])
    model = MMM(
        adstock=GeometricAdstock(l_max=8),
        saturation=LogisticSaturation(),
        date_column="date",
        channel_columns=names,
        control_columns=["price"],
        yearly_seasonality=2,
    )
    started = time.perf_counter()
    model.fit(
        frame[["date", *names, "price"]],
        frame["revenue"],
        chains=2,
        draws=1000,
        tune=1000,
        cores=2,
        random_seed=seed,
        progressbar=False,
    )
    seconds = time.perf_counter() - started
    contribution = model.compute_channel_contribution_original_scale()
    totals = contribution.sum(dim="date").stack(sample=("chain", "draw"))
    inside, errors = [], []
    for channel in truth:
        roi = totals.sel(channel=channel["channel"]).values / channel["spend"]
        low, high = np.percentile(roi, [5, 95])
        inside.append(bool(low <= channel["roi"] <= high))
        errors.append(abs(float(roi.mean()) - channel["roi"]) / channel["roi"])
    return inside, errors, seconds, _decisions(model, data_set, names) if decide else None


def pymc_row(seeds: list[int], ours: list[dict], channels: int | None = None) -> str:
    """PyMC-Marketing on `seeds` (data sets of `channels` channels, else 3 to 10), one line
    per data set as it ends (its fits are long), then the totals with ours on the same sets
    beside them; when ours carry regrets, PyMC-Marketing's optimizer is run on its fitted
    model too and its regret and gain left printed beside ours, per data set and bound."""
    try:
        import pymc_marketing  # noqa: F401
    except ImportError:
        return f"{'PyMC-Marketing MMM':<34} skipped: not installed (pip install pymc-marketing)"
    inside, errors, seconds, decided = [], [], [], []
    for index, seed in enumerate(seeds):
        decide = ours[index]["regret"] is not None
        try:
            covered, error, elapsed, decisions = _fit_one(seed, channels, decide)
        except Exception as problem:  # a peer library's failure is reported, not raised
            return f"{'PyMC-Marketing MMM':<34} failed on seed {seed}: {problem!r}"[:300]
        inside += covered
        errors += error
        seconds.append(elapsed)
        decided.append(decisions)
        mine = ours[index]
        print(
            f"  seed {seed}: PyMC-Marketing {np.mean(covered):.0%} inside, median ROI error "
            f"{np.median(error):.1%}, {elapsed:.0f} s; Oktopus {np.mean(mine['inside']):.0%}, "
            f"{np.median(mine['error']):.1%}, {mine['seconds']:.1f} s",
            flush=True,
        )
    if decided and decided[0] is not None:
        print(decision_rows(seeds, decided, ours))
    mine = ours[: len(seeds)]
    our_inside = np.concatenate([r["inside"] for r in mine])
    our_error = np.concatenate([r["error"] for r in mine])
    our_seconds = np.median([r["seconds"] for r in mine])
    return (
        f"{'PyMC-Marketing MMM (' + str(len(seeds)) + ' sets)':<34} {np.mean(inside):>12.1%} "
        f"{np.median(errors):>17.1%} {np.median(seconds):>15.2f}\n"
        f"{'Oktopus MMM, same ' + str(len(seeds)) + ' sets':<34} {our_inside.mean():>12.1%} "
        f"{np.median(our_error):>17.1%} {our_seconds:>15.2f}"
    )


def decision_rows(seeds: list[int], decided: list[dict], ours: list[dict]) -> str:
    """Regret and gain left of PyMC-Marketing's optimizer on its fitted model beside the
    product's decision on ours, per data set and spend bound."""
    lines = [
        f"  {'seed':>6} {'bounds (x mean)':>16} {'PyMC regret':>12} {'PyMC gain left':>15} "
        f"{'converged':>10} {'Oktopus regret':>15} {'Oktopus gain left':>18}"
    ]
    for seed, theirs, mine in zip(seeds, decided, ours, strict=False):
        for bounds in BOUNDS:
            peer, own = theirs[bounds], mine["regret"][bounds]["model"]
            lines.append(
                f"  {seed:>6} {f'{bounds[0]:g} to {bounds[1]:g}':>16} {peer['regret']:>12.2%} "
                f"{peer['gain left']:>15.2%} {peer['converged']!s:>10} "
                f"{own['regret']:>15.2%} {own['gain left']:>18.2%}"
            )
    return "\n".join(lines)
