"""PyMC-Marketing's BudgetOptimizer against the exact allocator, on the same known curves.

Each problem: C channels with known logistic curves beta * (1 - exp(-lam x)) / (1 + exp(-lam
x)) (PyMC-Marketing's default saturation, no adstock), one period, a fixed budget, spend per
channel within [0, budget]. PyMC-Marketing gets them as a PyMC model whose posterior is the
known parameters (one draw, `CustomModelWrapper`), and its `BudgetOptimizer.allocate_budget`
(scipy's SLSQP on the PyTensor-compiled objective and gradient; its time includes building
the optimizer, which compiles them) runs in a child process stopped after `--cap` seconds.
It plans two identical periods (one would change the model's data type); the objective is
twice one period's and the optimum the same. Ours: `engine.allocator.solve_budget` on
`LogisticCurves`.
"gap" is our objective minus PyMC-Marketing's (>= 0: ours as good or better).

PyMC-Marketing is not a requirement of Oktopus: run this script with a Python that has it
(`pip install pymc-marketing`; 0.19.2 was measured); without it the script says so and exits.

    python -m benchmarks.budget_optimizer_peer [--sizes 10 100 1000] [--seeds 1 2] [--cap 60]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import subprocess
import time

import numpy as np

from engine.allocator import solve_budget
from engine.response import LogisticCurves


def problem(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Logistic curves (beta, lam) and a budget of about half their saturation spends."""
    rng = np.random.default_rng(seed)
    beta = rng.lognormal(np.log(1000.0), 0.8, size)
    lam = 1.0 / rng.lognormal(np.log(500.0), 0.8, size)
    return beta, lam, float(0.5 * (1.0 / lam).sum())


def _pymc_child(beta: np.ndarray, lam: np.ndarray, budget: float, pipe) -> None:
    """PyMC-Marketing's allocation in a child process: sends (spend, seconds, status)."""
    import arviz as az
    import pymc as pm
    import pymc.dims as pmd
    import pytensor.xtensor as ptx
    import xarray as xr
    from pymc_marketing.mmm.budget_optimizer import BudgetOptimizer, CustomModelWrapper

    channels = [f"c{i}" for i in range(beta.size)]
    # The optimizer replaces `channel_data` by a labelled (xtensor) variable, so the model is
    # written with pymc.dims; two dates, as a length-1 axis would change the variable's type.
    coords = {"date": np.arange(2), "channel": channels}
    with pm.Model(coords=coords) as model:
        zeros = xr.DataArray(np.zeros((2, beta.size)), dims=("date", "channel"))
        data = pmd.Data("channel_data", zeros)
        height = pmd.HalfNormal("beta", 1.0, dims="channel")
        rate = pmd.HalfNormal("lam", 1.0, dims="channel")
        decay = ptx.math.exp(-rate * data)
        contribution = height * (1 - decay) / (1 + decay)
        pmd.Deterministic("channel_contribution", contribution)
        pmd.Deterministic("total_contribution", contribution.sum())
    posterior = {"beta": beta[None, None, :], "lam": lam[None, None, :]}
    idata = az.from_dict(posterior=posterior, coords={"channel": channels}, dims={
        "beta": ["channel"], "lam": ["channel"]
    })  # fmt: skip
    wrapper = CustomModelWrapper(base_model=model, idata=idata, channels=channels)
    started = time.perf_counter()
    try:
        optimizer = BudgetOptimizer(model=wrapper, num_periods=2)
        allocation, result = optimizer.allocate_budget(total_budget=budget, return_if_fail=True)
    except Exception as problem:  # a peer library's failure is reported, not raised
        pipe.send((None, time.perf_counter() - started, f"failed: {problem!r}"))
        return
    seconds = time.perf_counter() - started
    status = f"{result.nit} it" + ("" if result.success else f" ({result.message})")
    pipe.send((np.asarray(allocation.values, dtype=float).ravel(), seconds, status))


def pymc_allocation(
    beta: np.ndarray, lam: np.ndarray, budget: float, cap: float
) -> tuple[np.ndarray | None, float, str]:
    """PyMC-Marketing's spend, its seconds (model build and optimization) and status, or
    None when it did not finish within `cap` seconds."""
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(
        target=_pymc_child, args=(beta, lam, budget, send)
    )
    started = time.perf_counter()
    child.start()
    finished = receive.poll(cap)
    if not finished:
        child.terminate()
        child.join()
        return None, time.perf_counter() - started, f"stopped at {cap:g} s"
    spend, seconds, status = receive.recv()
    child.join()
    return spend, seconds, status


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.budget_optimizer_peer", description=__doc__
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cap", type=float, default=60.0, help="seconds per PyMC-Marketing run")
    args = parser.parse_args(argv)
    print("PyMC-Marketing's BudgetOptimizer against the exact allocator, known logistic curves")
    if importlib.util.find_spec("pymc_marketing") is None:
        print("pymc-marketing is not importable: pip install pymc-marketing to run this peer")
        return 0
    print(f"load before: {load()} ({os.cpu_count()} cores)", flush=True)
    print(
        f"\n{'channels':>8} {'seed':>4} {'ours ms':>9} {'PyMC-Marketing s':>17} "
        f"{'status':<28} {'gap (relative)':>15}"
    )
    for size in args.sizes:
        for seed in args.seeds:
            beta, lam, budget = problem(size, seed)
            curves = LogisticCurves(beta, lam)
            started = time.perf_counter()
            ours = solve_budget(curves, budget).spend
            ours_ms = 1e3 * (time.perf_counter() - started)
            spend, seconds, status = pymc_allocation(beta, lam, budget, args.cap)
            if spend is None:
                gap = "-"
            else:
                theirs = curves.true_response(np.clip(spend, 0.0, None)).sum()
                best = curves.true_response(ours).sum()
                gap = f"{(best - theirs) / best:+.2e}"
                status += f", total {spend.sum() / budget - 1:+.1e}"
            print(
                f"{size:>8} {seed:>4} {ours_ms:>9.2f} {seconds:>17.1f} {status[:28]:<28} {gap:>15}",
                flush=True,
            )
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
