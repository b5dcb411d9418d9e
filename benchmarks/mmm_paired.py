"""Paired comparison of model settings fitted on the same synthetic data sets.

`benchmarks/mmm_recovery.py --roi-prior zero lognormal` fits every data set once per ROI
prior; this module prints, per prior, the decision's regret (median and mean within each
spend bound), the median gain left, the number of sets where the decision fell below the
current split, the 90 % interval coverage and the median ROI error, and the change of the
mean regret against the first prior, paired per data set: mean change ± its standard error
(and on how many sets it was better / worse).
"""

from __future__ import annotations

import numpy as np

from benchmarks.mmm_regret import BOUNDS


def _regret(results: list[dict], bounds: tuple[float, float]) -> np.ndarray:
    return np.array([r["regret"][bounds]["model"]["regret"] for r in results])


def _left(results: list[dict], bounds: tuple[float, float]) -> np.ndarray:
    return np.array([r["regret"][bounds]["model"]["gain left"] for r in results])


def paired_change(base: np.ndarray, other: np.ndarray) -> str:
    """Mean of other - base in points ± its standard error, and sets better / worse."""
    change = 100 * (other - base)
    error = change.std(ddof=1) / np.sqrt(change.size) if change.size > 1 else float("nan")
    return (
        f"{change.mean():+.2f} ± {error:.2f} "
        f"({int(np.sum(change < 0))} better, {int(np.sum(change > 0))} worse)"
    )


def paired_table(by_prior: dict[str, list[dict]]) -> str:
    """One block per spend bound: a row per prior, the paired change against the first."""
    names = list(by_prior)
    base = by_prior[names[0]]
    lines = []
    for bounds in BOUNDS:
        lines.append(f"\nspend within {bounds[0]:g} to {bounds[1]:g} x mean, the same data sets")
        lines.append(
            f"{'ROI prior':<10} {'regret median':>13} {'mean':>7} {'gain left median':>16} "
            f"{'below split':>11} {'coverage':>9} {'ROI error':>9}  change of mean regret "
            f"vs {names[0]} (points)"
        )
        for name in names:
            results = by_prior[name]
            regret, left = _regret(results, bounds), _left(results, bounds)
            inside = np.concatenate([r["inside"] for r in results])
            error = np.concatenate([r["error"] for r in results])
            finite = left[np.isfinite(left)]
            change = "" if name == names[0] else paired_change(_regret(base, bounds), regret)
            lines.append(
                f"{name:<10} {np.median(regret):>13.2%} {regret.mean():>7.2%} "
                f"{np.median(finite) if finite.size else float('nan'):>16.1%} "
                f"{int(np.sum(left > 1)):>5} of {len(results):<3} {inside.mean():>9.1%} "
                f"{np.median(error):>9.1%}  {change}"
            )
    return "\n".join(lines)
