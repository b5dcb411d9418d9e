"""The exact KKT allocator against scipy's SLSQP on the same bounded budget problems.

Each problem: K concave response curves (negative-exponential, or Michaelis-Menten),
random per-campaign lower and upper spend bounds, and a budget between their sums.
SLSQP (the approach of the marketing budget allocation study and Robyn's allocator) gets
analytic gradients and starts from the even split clipped to the bounds. Its time is capped
(default 20 s, through a callback that stops it): a capped run reports the best point it
reached. Every objective is the sum of responses at the returned spend; "gap" is exact minus
SLSQP (>= 0 means the exact allocator is as good or better).

    python -m benchmarks.allocator_vs_slsqp [--sizes 5 20 100 300 1000] [--cap 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize

from engine.allocator import allocate_budget
from engine.response import MichaelisMentenCurves, NegExpCurves, ResponseCurves


def make_problem(
    family: str, size: int, seed: int
) -> tuple[ResponseCurves, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    if family == "negexp":
        curves = NegExpCurves(rng.uniform(100, 1000, size), rng.uniform(1e-4, 1e-2, size))
    else:
        curves = MichaelisMentenCurves(rng.uniform(100, 1000, size), rng.uniform(50, 2000, size))
    lower = rng.uniform(0, 50, size)
    upper = lower + rng.uniform(100, 1500, size)
    budget = float(lower.sum() + 0.4 * (upper - lower).sum())
    return curves, lower, upper, budget


def time_exact(curves, lower, upper, budget) -> tuple[np.ndarray, float]:
    spend = allocate_budget(curves, budget, lower, upper)
    runs = max(3, int(0.2 / max(_once(curves, lower, upper, budget), 1e-6)))
    best = min(_once(curves, lower, upper, budget) for _ in range(min(runs, 200)))
    return spend, best


def _once(curves, lower, upper, budget) -> float:
    start = time.perf_counter()
    allocate_budget(curves, budget, lower, upper)
    return time.perf_counter() - start


def run_slsqp(curves, lower, upper, budget, cap: float) -> tuple[np.ndarray, float, str]:
    size = curves.size
    start_point = np.clip(np.full(size, budget / size), lower, upper)
    best = {"x": start_point}
    began = time.perf_counter()

    def stop_when_late(x: np.ndarray) -> None:
        best["x"] = np.array(x, copy=True)
        if time.perf_counter() - began > cap:
            raise StopIteration

    result = minimize(
        lambda x: -curves.response(x).sum(),
        start_point,
        jac=lambda x: -curves.marginal(x),
        bounds=list(zip(lower, upper, strict=True)),
        constraints=[
            {"type": "eq", "fun": lambda x: x.sum() - budget, "jac": lambda x: np.ones(size)}
        ],
        method="SLSQP",
        callback=stop_when_late,
        options={"maxiter": 1000, "ftol": 1e-10},
    )
    elapsed = time.perf_counter() - began
    capped = "StopIteration" in str(result.message)
    spend = best["x"] if capped else result.x
    status = f"capped at {cap:g} s after {result.nit} it" if capped else f"{result.nit} it"
    return spend, elapsed, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 100, 300, 1000])
    parser.add_argument("--cap", type=float, default=20.0, help="SLSQP time cap in seconds")
    args = parser.parse_args()
    header = (
        f"{'family':<7} {'K':>5} {'exact ms':>9} {'SLSQP s':>9} {'speed-up':>9} "
        f"{'exact objective':>16} {'SLSQP objective':>16} {'gap':>10} {'budget err':>10}  SLSQP"
    )
    print(header)
    print("-" * len(header))
    for family in ("negexp", "mm"):
        for size in args.sizes:
            curves, lower, upper, budget = make_problem(family, size, seed=size)
            exact, exact_seconds = time_exact(curves, lower, upper, budget)
            reference, slsqp_seconds, status = run_slsqp(curves, lower, upper, budget, args.cap)
            exact_value = float(curves.response(exact).sum())
            reference_value = float(curves.response(reference).sum())
            budget_error = abs(float(reference.sum()) - budget)
            print(
                f"{family:<7} {size:>5} {exact_seconds * 1e3:>9.3f} {slsqp_seconds:>9.3f} "
                f"{slsqp_seconds / exact_seconds:>9.0f} {exact_value:>16.4f} "
                f"{reference_value:>16.4f} {exact_value - reference_value:>10.2e} "
                f"{budget_error:>10.2e}  {status}"
            )
    print("exact: best of repeated runs; budget err: |sum(SLSQP spend) - budget| (exact: 0).")


if __name__ == "__main__":
    main()
