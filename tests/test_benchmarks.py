"""The benchmark scripts still run and print their tables (tiny sizes; no timing asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(module: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("module", "args", "expected"),
    [
        (
            "decision_step",
            ["--campaigns", "3", "--history", "2", "--repeats", "2"],
            "curve, concave",
        ),
        (
            "decision_step",
            ["--campaigns", "3", "--history", "2", "--repeats", "2"],
            "curve, K=200",
        ),
        (
            "policy_efficiency",
            [
                "--seeds=1",
                "--horizons=4",
                "--distributions",
                "first",
                "mixed",
                "real",
                "--players",
                "uniform",
                "curve",
                "known curves",
            ],
            "curve's loss to delays",
        ),
        (
            "real_conditions",
            ["--seeds", "2", "--timesteps", "4", "--conditions", "none", "all"],
            "all        ",
        ),
        (
            "policy_efficiency",
            ["--seeds=2", "--horizons=3", "--distributions", "spread400", "--players", "curve"],
            "step 0.1 (spread*: 0.25)",
        ),
        ("next_breakdown", ["--warmup", "1", "--measure", "1"], "engine decision step"),
        ("warm_start", ["--latency"], "forecast"),
        ("cron_batch", ["--states", "4", "--campaigns", "3"], "advanced"),
        ("next_load", ["--seconds", "1", "--states", "2"], "throughput ratio next/bare"),
        ("optimize_endpoint", ["--campaigns", "50", "--repeats", "1"], "capacity           50"),
        (
            "mmm_recovery",
            ["--quick", "--datasets", "1", "--draws", "200", "--pymc", "0"],
            "spend-share crediting (naive)",
        ),
        (
            "allocator_features",
            ["--sizes", "20", "--seeds", "1", "--cap", "1"],
            "flighting     20    1",
        ),
        (
            "budget_optimizer_peer",
            ["--sizes", "3", "--seeds", "1", "--cap", "60"],
            "BudgetOptimizer against the exact allocator",
        ),
        (
            "next_load",
            ["--seconds", "1", "--states", "2", "--policy", "uniform"],
            "2 uniform states",
        ),
        (
            "next_load",
            ["--seconds", "1", "--states", "2", "--store", "memory"],
            "mongomock store",
        ),
    ],
)
def test_benchmark_prints_its_table(module, args, expected):
    assert expected in run_benchmark(module, *args)
