"""The allocator's features against scipy's SLSQP on the same problems, at 1,000 channels.

Rows (each on several seeds; the problems are random, nothing is tuned on them):
- logistic: fixed budget over logistic curves (PyMC-Marketing's default saturation);
- groups: the same with 10 groups of 50 channels, half capped at a share of the budget,
  half held above an absolute minimum;
- draws: the posterior-mean optimum over 200 draws of every channel's logistic curve;
- flighting: a total budget split over periods and channels at once, geometric adstock
  carried over (an initial stock too), per-period minimum and maximum.
SLSQP gets analytic gradients, starts from the even split clipped to the bounds, and is
capped in time (default 20 s, checked between its iterations): a capped run reports the
best point it reached. "gap" is ours minus SLSQP's objective (>= 0: ours is as good or
better); "viol" is SLSQP's largest constraint violation (ours: 0 up to rounding).
PyMC-Marketing's BudgetOptimizer on the same kind of known logistic curves is
`python -m benchmarks.budget_optimizer_peer` (run with a Python where pymc-marketing is
importable: its model is built from the known parameters there).

    python -m benchmarks.allocator_features [--sizes 1000] [--seeds 1 2 3] [--cap 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from engine.allocator import solve_budget
from engine.draws import DrawMeanCurves, allocate_on_draws
from engine.flighting import FlightingProblem, plan_flighting
from engine.groups import resolve_groups, solve_grouped
from engine.response import LogisticCurves

DRAWS = 200
PERIODS = 4


def _slsqp_child(problem: Callable, pipe) -> None:
    """SLSQP in a child process: sends each iterate, then its final point and status."""
    objective, gradient, start, bounds, constraints = problem()

    def report(x: np.ndarray) -> None:
        pipe.send(("iterate", np.array(x, copy=True)))

    result = minimize(
        lambda x: -objective(x),
        start,
        jac=lambda x: -gradient(x),
        bounds=bounds,
        constraints=constraints,
        method="SLSQP",
        callback=report,
        options={"maxiter": 1000, "ftol": 1e-10},
    )
    status = f"{result.nit} it" + ("" if result.success else f" ({result.message})")
    pipe.send(("done", result.x, status))


def run_slsqp(problem: Callable, cap: float) -> tuple[np.ndarray, float, str]:
    """SLSQP maximizing the objective of `problem()` (objective, gradient, start, bounds,
    constraints), in a child process stopped after `cap` seconds: a stopped run reports its
    last iterate (the start if it finished none; one iteration of a dense QP over thousands
    of variables can outlast the cap)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_slsqp_child, args=(problem, sender), daemon=True)
    began = time.perf_counter()
    child.start()
    best, iterations, status = problem()[2], 0, None
    while status is None:
        left = cap - (time.perf_counter() - began)
        if left <= 0 or not receiver.poll(left):
            break
        message = receiver.recv()
        if message[0] == "iterate":
            best, iterations = message[1], iterations + 1
        else:
            best, status = message[1], message[2]
    elapsed = time.perf_counter() - began
    if status is None:
        child.kill()
        status = f"stopped at {cap:g} s after {iterations} it"
    child.join()
    return best, elapsed, status


def timed(solve: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    """The answer and the best time of a few runs (one run when a run takes over a second)."""
    began = time.perf_counter()
    answer = solve()
    best = time.perf_counter() - began
    for _ in range(2 if best < 1.0 else 0):
        began = time.perf_counter()
        solve()
        best = min(best, time.perf_counter() - began)
    return answer, best


def budget_problem(size: int, seed: int):
    rng = np.random.default_rng(seed)
    curves = LogisticCurves(rng.uniform(100, 1000, size), rng.uniform(1e-4, 1e-2, size))
    lower = rng.uniform(0, 50, size)
    upper = lower + rng.uniform(100, 1500, size)
    budget = float(lower.sum() + 0.4 * (upper - lower).sum())
    return rng, curves, lower, upper, budget


def budget_constraints(budget: float) -> list[dict]:
    return [{"type": "eq", "fun": lambda x: x.sum() - budget, "jac": lambda x: np.ones(x.size)}]


def logistic_row(size: int, seed: int, cap: float) -> tuple:
    _, curves, lower, upper, budget = budget_problem(size, seed)
    ours, seconds = timed(lambda: solve_budget(curves, budget, lower, upper).spend)
    objective = lambda x: float(curves.response(x).sum())  # noqa: E731
    start = np.clip(np.full(size, budget / size), lower, upper)
    theirs, slsqp_seconds, status = run_slsqp(
        lambda: (
            objective,
            curves.marginal,
            start,
            list(zip(lower, upper, strict=True)),
            budget_constraints(budget),
        ),
        cap,
    )
    violation = abs(theirs.sum() - budget)
    return ours, theirs, objective, seconds, slsqp_seconds, violation, status


def groups_row(size: int, seed: int, cap: float) -> tuple:
    _, curves, lower, upper, budget = budget_problem(size, seed)
    names = [f"c{i}" for i in range(size)]
    width = size // 20
    specs = []
    for g in range(10):
        block = slice(g * width, (g + 1) * width)
        if g % 2 == 0:  # capped below its unconstrained share
            bound = {"max_share": 0.6 * width / size}
        else:  # held above its unconstrained spend: 60% of the way from its min to its max
            floor = lower[block].sum() + 0.6 * (upper[block] - lower[block]).sum()
            bound = {"min": float(floor)}
        specs.append({"name": f"group_{g}", "campaigns": names[block], **bound})
    groups = resolve_groups(specs, names)
    weights = np.ones(size)
    ours, seconds = timed(lambda: solve_grouped(curves, budget, lower, upper, weights, groups)[0])
    low, high = groups.bounds(budget, lower, upper)
    masks = [groups.labels == g for g in range(len(specs))]
    constraints = budget_constraints(budget)
    for mask, top, bottom in zip(masks, high, low, strict=False):
        row = mask.astype(float)
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x, m=mask, t=top: t - x[m].sum(),
                "jac": lambda x, r=row: -r,
            }
        )
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda x, m=mask, b=bottom: x[m].sum() - b,
                "jac": lambda x, r=row: r,
            }
        )
    objective = lambda x: float(curves.response(x).sum())  # noqa: E731
    start = np.clip(np.full(size, budget / size), lower, upper)
    theirs, slsqp_seconds, status = run_slsqp(
        lambda: (
            objective,
            curves.marginal,
            start,
            list(zip(lower, upper, strict=True)),
            constraints,
        ),
        cap,
    )
    sums = np.array([theirs[m].sum() for m in masks])
    violation = max(
        abs(theirs.sum() - budget),
        float(np.max(np.maximum(sums - high[: len(specs)], low[: len(specs)] - sums))),
        0.0,
    )
    return ours, theirs, objective, seconds, slsqp_seconds, violation, status


def draws_row(size: int, seed: int, cap: float) -> tuple:
    rng, _, lower, upper, budget = budget_problem(size, seed)
    params = {
        "beta": rng.uniform(100, 1000, size) * rng.lognormal(0, 0.3, (DRAWS, size)),
        "lam": rng.uniform(1e-4, 1e-2, size) * rng.lognormal(0, 0.3, (DRAWS, size)),
    }
    ours, seconds = timed(
        lambda: allocate_on_draws("logistic", params, budget, lower, upper)["spend"]
    )
    mean = DrawMeanCurves("logistic", params)
    objective = lambda x: float(mean.response(x).sum())  # noqa: E731
    start = np.clip(np.full(size, budget / size), lower, upper)
    theirs, slsqp_seconds, status = run_slsqp(
        lambda: (
            objective,
            mean.marginal,
            start,
            list(zip(lower, upper, strict=True)),
            budget_constraints(budget),
        ),
        cap,
    )
    return ours, theirs, objective, seconds, slsqp_seconds, abs(theirs.sum() - budget), status


def flighting_row(size: int, seed: int, cap: float) -> tuple:
    rng, curves, _, upper, _ = budget_problem(size, seed)
    total = float(PERIODS * 0.4 * upper.sum())
    problem = FlightingProblem(
        curves,
        total,
        PERIODS,
        theta=rng.uniform(0.0, 0.8, size),
        upper=upper,
        period_min=np.full(PERIODS, 0.15 * total),
        period_max=np.full(PERIODS, 0.35 * total),
        initial_stock=rng.uniform(0, 500, size),
    )
    shape = (PERIODS, size)
    ours, seconds = timed(lambda: plan_flighting(problem).spend.ravel())
    objective = lambda x: problem.objective(x.reshape(shape))  # noqa: E731
    gradient = lambda x: problem.gradient(x.reshape(shape)).ravel()  # noqa: E731
    rows = np.kron(np.eye(PERIODS), np.ones(size))
    constraints = [
        *budget_constraints(total),
        {"type": "ineq", "fun": lambda x: problem.period_high - rows @ x, "jac": lambda x: -rows},
        {"type": "ineq", "fun": lambda x: rows @ x - problem.period_low, "jac": lambda x: rows},
    ]
    start = np.clip(np.full(size * PERIODS, total / (size * PERIODS)), problem.low, problem.high)
    theirs, slsqp_seconds, status = run_slsqp(
        lambda: (
            objective,
            gradient,
            start,
            list(zip(problem.low, problem.high, strict=True)),
            constraints,
        ),
        cap,
    )
    sums = rows @ theirs
    violation = max(
        abs(theirs.sum() - total),
        float(np.max(np.maximum(sums - problem.period_high, problem.period_low - sums))),
        0.0,
    )
    return ours, theirs, objective, seconds, slsqp_seconds, violation, status


ROWS = {
    "logistic": logistic_row,
    "groups": groups_row,
    "draws": draws_row,
    "flighting": flighting_row,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cap", type=float, default=20.0, help="SLSQP time cap in seconds")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    header = (
        f"{'feature':<10} {'K':>5} {'seed':>4} {'ours ms':>9} {'SLSQP s':>8} {'speed-up':>8} "
        f"{'ours objective':>15} {'SLSQP objective':>15} {'gap':>10} {'rel gap':>9} "
        f"{'viol':>8}  SLSQP"
    )
    print(header)
    print("-" * len(header))
    for feature in args.rows:
        for size in args.sizes:
            for seed in args.seeds:
                ours, theirs, objective, seconds, slsqp_seconds, violation, status = ROWS[feature](
                    size, seed, args.cap
                )
                mine, reference = objective(ours), objective(theirs)
                print(
                    f"{feature:<10} {size:>5} {seed:>4} {seconds * 1e3:>9.1f} "
                    f"{slsqp_seconds:>8.2f} {slsqp_seconds / seconds:>8.0f} {mine:>15.3f} "
                    f"{reference:>15.3f} {mine - reference:>10.2e} "
                    f"{(mine - reference) / abs(reference):>9.1e} {violation:>8.1e}  {status}",
                    flush=True,
                )
    print(f"draws: {DRAWS} per channel; flighting: {PERIODS} periods (K x {PERIODS} spends).")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        "PyMC-Marketing's BudgetOptimizer on known logistic curves: "
        "python -m benchmarks.budget_optimizer_peer"
        + ("" if importlib.util.find_spec("pymc_marketing") else " (pip install pymc-marketing)")
    )


if __name__ == "__main__":
    main()
