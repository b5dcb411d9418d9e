"""PyMC-Marketing's MMM on the same synthetic histories, when it is importable.

PyMC-Marketing is not a requirement of Oktopus: `pip install pymc-marketing` (0.19 was
measured) to get this row. Its model: geometric adstock (l_max 8), logistic saturation,
yearly seasonality (order 2), the price control, 2 chains x 1,000 draws after 1,000 tuning
steps. ROI per draw is its channel contribution (original scale) over the data's periods
divided by spend.
"""

from __future__ import annotations

import time

import numpy as np

from engine.mmm.synthetic import generate


def _fit_one(seed: int, channels: int | None) -> tuple[list[bool], list[float], float]:
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
    return inside, errors, seconds


def pymc_row(seeds: list[int], ours: list[dict], channels: int | None = None) -> str:
    """PyMC-Marketing on `seeds` (data sets of `channels` channels, else 3 to 10), one line
    per data set as it ends (its fits are long), then the totals with ours on the same sets
    beside them."""
    try:
        import pymc_marketing  # noqa: F401
    except ImportError:
        return f"{'PyMC-Marketing MMM':<34} skipped: not installed (pip install pymc-marketing)"
    inside, errors, seconds = [], [], []
    for index, seed in enumerate(seeds):
        try:
            covered, error, elapsed = _fit_one(seed, channels)
        except Exception as problem:  # a peer library's failure is reported, not raised
            return f"{'PyMC-Marketing MMM':<34} failed on seed {seed}: {problem!r}"[:300]
        inside += covered
        errors += error
        seconds.append(elapsed)
        mine = ours[index]
        print(
            f"  seed {seed}: PyMC-Marketing {np.mean(covered):.0%} inside, median ROI error "
            f"{np.median(error):.1%}, {elapsed:.0f} s; Oktopus {np.mean(mine['inside']):.0%}, "
            f"{np.median(mine['error']):.1%}, {mine['seconds']:.1f} s",
            flush=True,
        )
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
