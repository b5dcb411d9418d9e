"""The value-estimate bandits learning each campaign's saturation scale on a small grid."""

import numpy as np
import pytest

from engine import make_policy
from engine.amend import resize, retune
from engine.packing import unpack
from engine.policies.return_scales import GRID, curve_terms, fitted_scales
from engine.simulate import make_broad_world, run

UNIT = 100.0


def fit_sums(spends, values):
    """The grid sums of rows (T, K) of spends and values."""
    f = np.stack([curve_terms(np.asarray(row), UNIT) for row in spends])  # (T, K, S)
    values = np.asarray(values, dtype=float)
    ff = (f * f).sum(axis=0)
    fy = (f * values[:, :, None]).sum(axis=0)
    return ff, fy, (values**2).sum(axis=0), np.full(values.shape[1], float(len(values)))


def test_varied_spends_find_each_campaigns_own_scale():
    rng = np.random.default_rng(0)
    spends = rng.uniform(0.2, 3.0, (12, 3)) * UNIT
    true = np.array([0.5, 2.0, 8.0])
    values = 1000.0 * -np.expm1(-spends / (true * UNIT)) * rng.normal(1.0, 0.02, spends.shape)
    chosen = fitted_scales(*fit_sums(spends, values), saturation=2.0)
    assert np.asarray(GRID)[chosen] == pytest.approx(true)


def test_spends_that_never_varied_keep_the_prior_scale():
    spends = np.full((6, 2), UNIT)
    values = np.array([[300.0, 50.0]] * 6)
    chosen = fitted_scales(*fit_sums(spends, values), saturation=2.0)
    assert np.asarray(GRID)[chosen] == pytest.approx([2.0, 2.0])


def saturating(state, top, scale):
    spend = np.array(state["budgets"])
    return {"spend": spend.tolist(), "revenue": (top * -np.expm1(-spend / scale)).tolist()}


@pytest.mark.parametrize("name", ["ucb", "epsilon_greedy", "softmax"])
def test_a_campaign_saturating_early_is_no_longer_overrated(name):
    """Campaign 0 tops at 3000 by half an equal share; the others at 2500 and 2000 over ten
    equal shares: on the fixed scale campaign 0's amplitude is overrated and it keeps the
    largest share, on learnt scales the budget goes where it earns."""
    top, scale = np.array([3000.0, 2500.0, 2000.0]), np.array([50.0, 1000.0, 1000.0])
    earned = {}
    for scales in ("fixed", "learnt"):
        params = {"scales": scales} | ({"epsilon": 0.0} if name == "epsilon_greedy" else {})
        policy = make_policy(name, params)
        settings = {"budget": 300.0 * 20, "timesteps": 20, "seed": 2, "step": 0.2}
        state = policy.init(3, settings)
        for _ in range(15):
            state, allocation = policy.advance(state, saturating(state, top, scale))
        spend = np.array(allocation["budgets"])
        earned[scales] = float(np.sum(top * -np.expm1(-spend / scale)))
    assert earned["learnt"] > 1.02 * earned["fixed"]


def test_learnt_scales_lift_ucb_on_broad_hill_worlds():
    gains = []
    for seed in (1000, 1001):
        world = make_broad_world("hill", 12, 30, seed)
        learnt = run("ucb", world, seed).efficiency
        fixed = run("ucb", world, seed, params={"scales": "fixed"}).efficiency
        gains.append(learnt - fixed)
    assert np.mean(gains) > 0.02


def test_resizing_gives_an_added_campaign_empty_grid_sums_and_keeps_the_others():
    policy = make_policy("ucb")
    state = policy.init(3, {"budget": 3000.0, "timesteps": 10, "seed": 1})
    for _ in range(3):
        state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [9.0, 5.0, 7.0]})
    resized = resize(policy, state, [2, None, 0])
    before, after = (unpack(s["stats"]["fit_ff"], (3, len(GRID))) for s in (state, resized))
    assert np.array_equal(after[0], before[2]) and np.array_equal(after[2], before[0])
    assert not after[1].any() and resized["stats"]["fit_rows"][1] == 0.0
    state, _ = policy.advance(resized, {"spend": resized["budgets"], "revenue": [9.0, 5.0, 7.0]})
    assert sum(state["shares"]) == pytest.approx(1.0)


def test_a_state_from_before_the_grid_sums_keeps_the_fixed_scale():
    policy = make_policy("ucb")
    state = policy.init(3, {"budget": 3000.0, "timesteps": 5, "seed": 1})
    for key in ("fit_f", "fit_ff", "fit_fy", "fit_yy", "fit_rows"):
        del state["stats"][key]
    fixed = make_policy("ucb", {"scales": "fixed"})
    report = {"spend": state["budgets"], "revenue": [10.0, 30.0, 20.0]}
    assert policy.advance(state, report)[1] == fixed.advance(state, report)[1]


def test_the_scales_may_change_mid_run_the_grid_sums_being_kept_either_way():
    policy = make_policy("softmax", {"scales": "fixed"})
    state = policy.init(3, {"budget": 3000.0, "timesteps": 10, "seed": 1})
    for _ in range(3):
        state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [9.0, 5.0, 7.0]})
    tuned, state = retune(policy, state, params={"scales": "learnt"})
    assert tuned.params["scales"] == "learnt" and state["stats"]["fit_rows"] == [3.0] * 3
    state, _ = tuned.advance(state, {"spend": state["budgets"], "revenue": [9.0, 5.0, 7.0]})
    assert sum(state["shares"]) == pytest.approx(1.0)
