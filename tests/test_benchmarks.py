"""The benchmark scripts still run and print their tables (tiny sizes; no timing asserted)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.mmm_regret import BOUNDS, RULES, prior_mean_effects, regret_table

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
            "curve mean, K=200",
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
            "real_conditions",
            [
                *("--seeds", "2", "--timesteps", "4", "--players", "curve", "curve"),
                *("--params", "shared_factor=1", "--conditions", "drift_season"),
            ],
            "curve: {'shared_factor': 1.0}",
        ),
        ("drift_level", ["--seeds", "1000", "1001", "--timesteps", "4"], "curve told the drift"),
        (
            "ids_curve",
            ["--columns", "spread400:4", "first:4", "--seeds", "2", "--broad-seeds", "1"],
            "spread400:4",
        ),
        (
            "policy_efficiency",
            ["--seeds=2", "--horizons=3", "--distributions", "spread400", "--players", "curve"],
            "step 0.1 (spread*: 0.25)",
        ),
        (
            "policy_efficiency",
            [
                *("--seeds=1", "--horizons=3", "--distributions", "first", "negexp", "spread100"),
                *("--players", "known shapes", "known shapes (thompson)"),
            ],
            "known shapes (thompson)",
        ),
        (
            "policy_efficiency",
            [
                *("--seeds=1", "--horizons=3", "--distributions", "first", "negexp", "spread100"),
                *("--players", "known family", "known family (thompson)", "known family (ids)"),
            ],
            "known family (ids)",
        ),
        (
            "policy_efficiency",
            [
                *("--seeds=1", "--horizons=3", "--distributions", "negexp", "spread100"),
                *("--players", "curve", "known family", "--volume", "4"),
            ],
            "conversions x4 on the broad columns (first, spread* unchanged)",
        ),
        (
            "volume_by_world",
            ["--seeds", "2", "--timesteps", "3", "--volumes", "1", "4", "--distributions", "hill"],
            "conv/campaign       x1       x4",
        ),
        (
            "known_family_paired",
            ["--seeds", "2", "--timesteps", "3", "--distributions", "negexp"],
            "known family (ids) - known family (thompson)",
        ),
        (
            "known_shapes_by_k",
            ["--seeds", "2", "--timesteps", "3", "--distributions", "negexp"],
            "negexp          all       2",
        ),
        ("next_breakdown", ["--warmup", "1", "--measure", "1"], "engine decision step"),
        ("warm_start", ["--latency"], "forecast"),
        ("cron_batch", ["--states", "4", "--campaigns", "3"], "advanced"),
        ("next_load", ["--seconds", "1", "--states", "2"], "throughput ratio next/bare"),
        ("optimize_endpoint", ["--campaigns", "50", "--repeats", "1"], "capacity           50"),
        (
            "api_efficiency",
            ["--seeds", "1", "--timesteps", "3", "--players", "uniform"],
            "uniform    mean (worst world): API 0.8909 (0.891), engine 0.8909 (0.891)",
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


def test_mmm_recovery_prints_regret_and_gain_left():
    out = run_benchmark(
        "mmm_recovery", "--quick", "--datasets", "1", "--draws", "200", "--pymc", "0"
    )
    assert "spend-share crediting (naive)" in out
    assert "gain left median" in out
    current = [line.split() for line in out.splitlines() if line.startswith("current split")]
    assert len(current) == len(BOUNDS)
    for fields in current:
        # Keeping the current split leaves the whole attainable gain and nothing more.
        assert fields[-2:] == ["100.00%", "100.00%"]
    model = [line.split() for line in out.splitlines() if line.startswith("model ")]
    assert len(model) == len(BOUNDS)


def test_regret_table_gain_left_is_median_and_p90_over_finite_sets():
    bounds = BOUNDS[0]
    results = []
    for regret, left in ((0.01, 0.1), (0.02, 1.2), (0.06, float("nan"))):
        row = {rule: {"regret": regret, "gain left": left} for rule in RULES}
        results.append({b: row for b in BOUNDS})
    lines = regret_table(results).splitlines()
    first = next(line for line in lines if line.startswith(RULES[0]))
    assert f"{bounds[0]:g} to {bounds[1]:g}" in first
    # regret (median, mean ± its standard error, p90, max) over all three sets; gain left only
    # over the two with a gain to make, one of them (1.2) below the current split
    fields = ["2.00%", "3.00%", "±", "1.53%", "5.20%", "6.00%", "65.00%", "109.00%"]
    assert first.split()[-8:] == fields
    assert lines[-1].endswith(
        ", ".join(f"1 of 3 data sets ({low:g} to {high:g})" for low, high in BOUNDS)
    )


def test_mmm_losses_prints_the_decision_and_the_calibration():
    out = run_benchmark("mmm_losses", "--datasets", "1", "--channels", "2", "--show", "0")
    assert "seed 0, bounds 0-2: posterior gain" in out
    assert "loss of halving a channel's spend inside the model's 90 % band" in out


def test_hedged_spend_moves_only_as_far_as_the_posterior_backs():
    from benchmarks.mmm_regret import hedged_spend
    from engine.mmm import MarketingMixModel, load_rows
    from engine.mmm.allocation import allocate_on_model
    from engine.mmm.synthetic import generate

    data = load_rows(generate(3, periods=60, channels=2)["rows"], controls=["price"])
    model = MarketingMixModel(seed=0, draws=120, chains=4, burn=8).fit(data)
    current = data.spend.mean(axis=0)
    decided = allocate_on_model(model, float(current.sum()), lower=0 * current)
    spend = [row["spend"] for row in decided["allocation"]]
    kept, share = hedged_spend(model, spend, current, confidence=1e9)
    assert share == 0 and list(kept) == list(current)
    moved, share = hedged_spend(model, spend, current, confidence=-1e9)
    assert share == 1 and moved == pytest.approx(spend)
    middle, share = hedged_spend(model, spend, current, confidence=0.5)
    assert middle.sum() == pytest.approx(current.sum())
    assert 0 <= share <= 1


def test_paired_table_compares_each_prior_with_the_first_on_the_same_sets():
    from benchmarks.mmm_paired import paired_table

    def result(regret: float, left: float) -> dict:
        row = {"model": {"regret": regret, "gain left": left}}
        return {"regret": {b: row for b in BOUNDS}, "inside": [True, False], "error": [0.2]}

    base = [result(0.04, 0.5), result(0.02, 1.5), result(0.06, 0.3)]
    other = [result(0.03, 0.4), result(0.03, 1.2), result(0.03, 0.2)]
    lines = paired_table({"zero": base, "lognormal": other}).splitlines()
    rows = [line.split() for line in lines if line.startswith("lognormal")]
    assert len(rows) == len(BOUNDS)
    # changes -1, +1 and -3 points: mean -1.00, s.e. 2 / sqrt(3); two better, one worse
    assert rows[0][1:3] == ["3.00%", "3.00%"] and rows[0][4:7] == ["1", "of", "3"]
    assert " ".join(rows[0][-7:]) == "-1.00 ± 1.15 (2 better, 1 worse)"
    first = next(line for line in lines if line.startswith("zero")).split()
    assert first[1:3] == ["4.00%", "4.00%"] and first[4] == "1"


def test_prior_mean_effects_matches_quadrature_per_channel():
    # independent channels: each posterior mean is a one-dimensional integral of the normal
    # likelihood times the log-uniform prior (density 1/b on [low, high])
    center = np.array([0.3, 1.5, 6.0])
    precision = np.diag([4.0, 25.0, 1.0])
    low, high = np.full(3, 0.4), np.full(3, 4.0)
    b = np.linspace(0.4, 4.0, 200_001)[:, None]
    density = np.exp(-0.5 * np.diag(precision) * (b - center) ** 2) / b
    expected = (b * density).sum(axis=0) / density.sum(axis=0)
    assert np.allclose(prior_mean_effects(center, precision, low, high), expected, rtol=0.01)


def test_prior_mean_effects_follows_the_correlation_between_channels():
    # two effects known only through their sum (strongly anti-correlated): the first pinned
    # by a tight range, so the second takes the rest of the sum
    precision = 400.0 * np.array([[1.0, 1.0], [1.0, 1.0]]) + 1e-3 * np.eye(2)
    center = np.array([1.5, 1.5])
    means = prior_mean_effects(center, precision, np.array([0.9, 0.1]), np.array([1.1, 10.0]))
    assert abs(means[0] - 1.0) < 0.02
    assert abs(means[1] - 2.0) < 0.05
