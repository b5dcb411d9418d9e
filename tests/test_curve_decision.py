"""`curve`'s information-directed decision (`decision` "ids"): its candidates, their pacing,
expected regret and information gain, and the information ratio that chooses among them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import EngineError, make_policy
from engine.constraints import project_shares
from engine.negexp_allocator import allocate_negexp, allocate_negexp_blend
from engine.policies.curve_decision import (
    candidates,
    draws_decision,
    ids_index,
    information_directed,
    posterior_noise,
    project_batch,
    regret_and_gain,
    step_box,
)
from engine.policies.curve_family import unit_curve
from tests.test_curve_policy import REPORTS, _context, _run

BUDGET = 2.0
E = np.exp


def _two_campaigns() -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Draws of two campaigns: the first known, the second drawn half as saturating at half
    an equal share and half at two, with amplitudes that make every draw agree at an equal
    share: a report there teaches nothing, a move away from it does. And their shares."""
    at_equal = 10 * (1 - E(-1.0))
    early, late = at_equal / (1 - E(-2.0)), at_equal / (1 - E(-0.5))
    alpha = np.array([[10.0, early], [10.0, late]] * 2)
    mu = np.array([[1.0, 2.0], [1.0, 0.5]] * 2)
    draws = (alpha, mu, np.zeros((4, 2)))
    spend = allocate_negexp(alpha, mu, BUDGET, np.zeros(2), np.full(2, BUDGET))
    return draws, spend / BUDGET


def test_a_cheap_informative_move_is_chosen_over_the_uninformative_current_split():
    draws, allocations = _two_campaigns()
    current, bounds = np.array([0.5, 0.5]), (np.zeros(2), np.ones(2))
    chosen = information_directed(
        current, allocations, draws, np.ones(2), BUDGET, bounds, current, 1.0
    )
    # The first draw's allocation: the mixtures nearer the current split cost less but teach
    # disproportionately less, and the current split teaches nothing.
    np.testing.assert_allclose(chosen, allocations[0], rtol=1e-12)
    low, high = step_box(*bounds, current, 1.0)
    shares = candidates(current, allocations, low, high)
    boxed = allocate_negexp(*draws[:2], BUDGET, low * BUDGET, high * BUDGET)
    best = (draws[0] * -np.expm1(-draws[1] * boxed)).sum(axis=1)
    regret, gain, _ = regret_and_gain(shares, draws, BUDGET, best, np.ones(2))
    assert gain[0] == pytest.approx(0.0, abs=1e-12)
    assert regret.argmin() != 0  # regret alone would pick a smaller move
    assert not np.allclose(shares[regret.argmin()], chosen)


def test_the_chosen_move_is_paced_by_the_step():
    draws, allocations = _two_campaigns()
    previous, bounds = np.array([0.5, 0.5]), (np.zeros(2), np.ones(2))
    chosen = information_directed(
        previous, allocations, draws, np.ones(2), BUDGET, bounds, previous, 0.05
    )
    assert chosen.sum() == pytest.approx(1.0)
    assert np.abs(chosen - previous).max() == pytest.approx(0.05)


def test_the_information_ratio_squares_the_regret():
    # Delta^2 / g = 1 and 2.25: the first; Delta / g would pick the second.
    assert ids_index(np.array([1.0, 3.0]), np.array([1.0, 4.0])) == 0
    # A move that teaches nothing is only chosen if it costs nothing.
    assert ids_index(np.array([0.5, 3.0]), np.array([0.0, 4.0])) == 1
    assert ids_index(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0
    # 2.25 and 2.67 squared, 6.75 and 5.33 cubed: the square picks the first.
    assert ids_index(np.array([3.0, 2.0]), np.array([4.0, 1.5])) == 0


def test_regret_and_gain_of_one_campaign_under_two_draws():
    alpha, mu = np.array([[1.0], [2.0]]), np.array([[1.0], [1.0]])
    draws = (alpha, mu, np.zeros((2, 1)))
    values = np.array([1.0, 2.0]) * (1 - E(-1.0))
    regret, gain, best = regret_and_gain(
        np.ones((1, 1)), draws, 1.0, np.array([1.0, 0.5]), np.array([0.25])
    )
    np.testing.assert_allclose(best, [1.0, values[1]])
    np.testing.assert_allclose(regret, [(1.0 - values[0]) / 2])
    np.testing.assert_allclose(gain, [0.5 * np.log1p(np.var(values) / 0.25)])


def test_candidates_are_projected_as_the_framework_projects_a_proposal():
    rng = np.random.default_rng(7)
    for n_campaigns, step in ((2, 0.05), (5, 0.1), (12, 0.25), (30, 1.0)):
        previous = rng.dirichlet(np.ones(n_campaigns))
        lower = np.where(rng.random(n_campaigns) < 0.3, 0.01, 0.0)
        upper = np.where(rng.random(n_campaigns) < 0.3, 0.6, 1.0)
        targets = rng.dirichlet(np.ones(n_campaigns), size=6) * rng.uniform(0.5, 1.5, (6, 1))
        expected = [project_shares(t, lower, upper, previous, step) for t in targets]
        low, high = step_box(lower, upper, previous, step)
        np.testing.assert_allclose(project_batch(targets, low, high), expected, atol=1e-12)
        current, allocations = targets[0] / targets[0].sum(), targets[1:] / 1.0
        shares = candidates(current, allocations, low, high, fractions=(0.5, 1.0))
        assert shares.shape == (1 + 2 * 5, n_campaigns)
        mixed = current + 0.5 * (allocations[2] - current)
        np.testing.assert_allclose(
            shares[1 + 2], project_shares(mixed, lower, upper, previous, step), atol=1e-12
        )


def test_the_decision_parameter():
    assert make_policy("curve").params["decision"] == "ids"
    with pytest.raises(EngineError, match="decision"):
        make_policy("curve", {"decision": "thompson"})
    policy = make_policy("curve", {"decision": "ids", "s_shaped_prior": 0.0})
    context = _context(policy, _run(policy, REPORTS))
    previous = context.previous
    shares = policy.propose(context, np.random.default_rng(5))
    step = context.settings["step"]
    assert shares.sum() == pytest.approx(1.0)
    assert np.abs(shares - previous).max() <= step + 1e-12
    mean_rule = make_policy("curve", {"decision": "mean", "s_shaped_prior": 0.0})
    mean = mean_rule.propose(context, np.random.default_rng(5))
    # The same first draws: "ids" chooses among the mean and its mixtures with them.
    assert not np.allclose(shares, mean)


def _campaigns(client, headers) -> list[str]:
    ids = []
    for k in range(3):
        made = client.post(
            "/api/campaigns", json={"name": f"c{k}", "platform": "google"}, headers=headers
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    return ids


def _state_body(ids: list[str], params: dict) -> dict:
    policy = {"name": "curve", "params": params}
    return {"campaign_ids": ids, "budget": 3000, "timesteps": 10, "seed": 7, "policy": policy}


def test_the_api_runs_an_information_directed_curve_and_refuses_a_bad_decision(client, tenant):
    headers = tenant.headers
    ids = _campaigns(client, headers)
    bad = client.post("/api/states", json=_state_body(ids, {"decision": "x"}), headers=headers)
    assert bad.status_code == 422, bad.text
    assert "decision" in bad.text
    assert client.get("/api/states", headers=headers).json()["total"] == 0
    made = client.post("/api/states", json=_state_body(ids, {"decision": "ids"}), headers=headers)
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    for t in range(3):
        budgets = client.get(f"/api/states/{sid}/budget", headers=headers).json()["budgets"]
        metrics = [
            {"campaign_id": c, "spend": budgets[c], "revenue": 3 * budgets[c] / (1 + k)}
            for k, c in enumerate(ids)
        ]
        posted = client.post(
            f"/api/states/{sid}/metrics", json={"timestep": t, "metrics": metrics}, headers=headers
        )
        assert posted.status_code == 200, posted.text
        advanced = client.post(f"/api/states/{sid}/next", headers=headers)
        assert advanced.status_code == 200, advanced.text
    doc = advanced.json()
    assert doc["current_time"] == 3
    assert math.isclose(sum(doc["budgets"].values()), doc["remaining"] / 7, rel_tol=1e-9)


def test_the_default_candidates_mix_a_quarter_half_and_all_the_way_to_each_draw():
    current = np.array([0.5, 0.3, 0.2])
    allocations = np.array([[0.9, 0.1, 0.0], [0.2, 0.2, 0.6]])
    shares = candidates(current, allocations, np.zeros(3), np.ones(3))
    mixes = [current + f * (a - current) for f in (0.25, 0.5, 1.0) for a in allocations]
    np.testing.assert_allclose(shares, [current, *mixes], atol=1e-12)


def test_a_paused_campaign_is_boxed_at_zero_whatever_it_had_before():
    lower, upper = np.zeros(3), np.array([0.0, 1.0, 1.0])
    previous = np.array([0.5, 0.25, 0.25])
    low, high = step_box(lower, upper, previous, 0.1)
    assert (low[0], high[0]) == (0.0, 0.0)
    targets = np.array([[0.6, 0.2, 0.2], [0.0, 0.9, 0.1]])
    expected = [project_shares(t, lower, upper, previous, 0.1) for t in targets]
    np.testing.assert_allclose(project_batch(targets, low, high), expected, atol=1e-12)


@pytest.mark.parametrize(
    ("targets", "low", "high"),
    [
        # Bounds pinned to one split: every kink ties with another.
        ([[0.3, 0.3], [0.9, 0.1]], [0.3, 0.7], [0.3, 0.7]),
        # Caps summing to less than 1: the shares at the caps, scaled up to 1.
        ([[0.3, 0.3], [2.0, 0.1]], [0.0, 0.0], [0.3, 0.3]),
        ([[0.5, 0.1, 0.1]], [0.0, 0.0, 0.0], [0.2, 0.3, 0.4]),
        # A target far past one cap: the sum reaches 1 on the first stretch, before the
        # floored campaign starts to move.
        ([[2.0, 0.0]], [0.0, 0.2], [1.0, 1.0]),
    ],
)
def test_boxes_at_their_edges_are_projected_as_the_framework_projects(targets, low, high):
    targets, low, high = np.array(targets), np.array(low), np.array(high)
    expected = [project_shares(t, low, high) for t in targets]
    np.testing.assert_allclose(project_batch(targets, low, high), expected, atol=1e-12)


def test_the_mean_rule_holds_the_lower_bounds_in_spend_units():
    # The first campaign earns next to nothing: each draw gives it its lower bound alone.
    alpha, mu, lower = np.array([[1e-3, 5.0], [1e-3, 6.0]]), np.ones((2, 2)), np.array([0.3, 0])
    for blend in (np.zeros((2, 2)), np.array([[0.0, 1.0], [0.0, 1.0]])):
        shares, allocations = draws_decision(alpha, mu, blend, 2.0, lower, np.ones(2))
        np.testing.assert_allclose(shares, [0.3, 0.7])
        np.testing.assert_allclose(allocations, [[0.3, 0.7]] * 2)


def test_when_every_median_is_zero_the_draws_allocations_are_still_shares():
    # Three S-shaped draws each fund one campaign alone.
    alpha = np.full((3, 3), 10.0) + np.diag([4990.0] * 3)
    mu, blend = np.ones((3, 3)), np.ones((3, 3))
    shares, allocations = draws_decision(alpha, mu, blend, 3.0, np.zeros(3), np.ones(3))
    np.testing.assert_allclose(allocations, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(shares, [1 / 3] * 3)


def test_the_noise_is_the_grid_weighted_posterior_scale_over_shape_in_value_units():
    noises = []
    for unit in (1.0, 100.0):
        policy = make_policy("curve")
        reports = [{"revenue": [v * unit for v in report["revenue"]]} for report in REPORTS]
        post = policy.posterior(_context(policy, _run(policy, reports)))
        per_grid = post["grid"] * post["scale"] / post["shape"][:, None]
        in_units = posterior_noise(post) / post["value_unit"] ** 2
        np.testing.assert_allclose(in_units, per_grid.sum(axis=1), rtol=1e-12)
        assert np.all(in_units < 0.1)  # far below a report of the mean value, squared
        noises.append(posterior_noise(post))
    np.testing.assert_allclose(noises[1], noises[0] * 100.0**2, rtol=1e-9)


@pytest.mark.parametrize("seed", [8, 57])
def test_regret_is_measured_from_each_fresh_draws_optimum_in_the_step_box(seed):
    """The choice, restated: the candidates' least information ratio, regret measured from
    each fresh draw's own optimum within the step box (seeds whose choice turns on it)."""
    rng = np.random.default_rng(seed)
    budget = float(rng.choice([2.0, 5.0, 0.5]))

    def draw(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alpha = rng.uniform(1, 10, (count, 3))
        return alpha, rng.uniform(0.2, 3, (count, 3)) / budget, np.zeros((count, 3))

    first, fresh = draw(2), draw(8)
    bounds, previous = (np.array([0.15, 0.0, 0.1]), np.ones(3)), np.array([0.4, 0.3, 0.3])
    current, allocations = draws_decision(*first, budget, *bounds)
    noise = np.full(3, float(rng.choice([0.01, 0.1, 1.0, 10.0])))
    step = float(rng.choice([0.1, 0.3, 1.0]))
    chosen = information_directed(
        current, allocations, fresh, noise, budget, bounds, previous, step
    )
    low, high = step_box(*bounds, previous, step)
    shares = candidates(current, allocations, low, high)
    alpha, mu, blend = fresh
    boxed = allocate_negexp_blend(alpha, mu, blend, budget, low * budget, high * budget)
    best = (alpha * unit_curve(boxed, 1.0 / mu, blend)).sum(axis=1)
    regret, gain, _ = regret_and_gain(shares, fresh, budget, best, noise)
    np.testing.assert_array_equal(chosen, shares[ids_index(regret, gain)])


def test_the_candidates_are_judged_on_32_fresh_draws(monkeypatch):
    policy = make_policy("curve", {"draws": 4})
    context = _context(policy, _run(policy, REPORTS))
    counts = []
    sample = policy.sample_curves

    def counted(post, rng, count=1):
        counts.append(count)
        return sample(post, rng, count)

    monkeypatch.setattr(policy, "sample_curves", counted)
    policy.propose(context, np.random.default_rng(0))
    assert counts == [4, 32]
