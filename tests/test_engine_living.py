"""Living runs in the engine: resizing and retuning a running state, warm starts, readouts."""

import math

import numpy as np
import pytest

from engine import POLICY_NAMES, EngineError, make_policy
from engine.amend import resize, retune
from engine.readout import NoCurves, forecast, learnt_curves
from engine.response import NegExpCurves
from engine.warm import PRIOR_SPENDS, known_values, warm_init

ALPHA = np.array([200.0, 400.0, 300.0])
MU = np.array([1 / 50, 1 / 150, 1 / 100])
SETTINGS = {"budget": 3000.0, "timesteps": 10, "seed": 3}


def revenue(spend):
    spend = np.asarray(spend)
    return (ALPHA[: spend.size] * -np.expm1(-MU[: spend.size] * spend)).tolist()


def played(name, steps=3, n=3, settings=SETTINGS):
    policy = make_policy(name)
    state = policy.init(n, settings)
    for _ in range(steps):
        spend = state["budgets"]
        observed = {"spend": spend, "revenue": revenue(spend), "clicks": [10.0] * n}
        state, _ = policy.advance(state, observed)
    return policy, state


def sizes(name):
    return 2 if name == "rps" else 3


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_takes_an_added_and_a_removed_campaign(name):
    n = sizes(name)
    policy, state = played(name, n=n)
    keep = [*range(1, n), None]  # campaign 0 removed, one added at the end
    resized = resize(policy, state, keep)
    assert len(resized["shares"]) == n
    assert math.isclose(sum(resized["budgets"]), resized["timestep_budget"])
    assert math.isclose(resized["timestep_budget"], state["timestep_budget"])
    assert resized["spent"] == state["spent"]
    after, _ = policy.advance(
        resized, {"spend": resized["budgets"], "revenue": [5.0] * n, "clicks": [10.0] * n}
    )
    assert after["t"] == state["t"] + 1
    rows = [{"spend": [10.0] * n, "revenue": [5.0] * n}] * after["t"]
    refolded = policy.refold(after, rows, [[10.0] * n] * after["t"], retired_spent=7.0)
    assert math.isclose(refolded["spent"], 10.0 * n * after["t"] + 7.0)


def test_an_added_campaign_waits_for_the_next_decision_and_the_others_are_undisturbed():
    policy, state = played("curve")
    resized = resize(policy, state, [0, 1, 2, None])
    assert resized["budgets"][:3] == pytest.approx(state["budgets"])
    assert resized["budgets"][3] == 0.0
    before = policy._unpacked(state["stats"], 3)
    after = policy._unpacked(resized["stats"], 4)
    for key in ("ff", "fy", "yy", "count"):
        assert np.array_equal(after[key][:3], before[key])
        assert not after[key][3].any()
    advanced, _ = policy.advance(resized, {"spend": resized["budgets"]})
    assert 0 < advanced["shares"][3] <= SETTINGS.get("step", 0.1) + 1e-9


def test_a_removed_campaigns_share_goes_to_the_others_at_once():
    policy, state = played("thompson")
    resized = resize(policy, state, [0, 2])
    assert sum(resized["budgets"]) == pytest.approx(state["timestep_budget"])
    assert resized["stats"]["value"] == [state["stats"]["value"][0], state["stats"]["value"][2]]


@pytest.mark.parametrize(
    ("keep", "message"),
    [([0, 0, 1], "twice"), ([0, 5], "positions"), ([0], "at least 2"), ("01", "list")],
)
def test_bad_resizes_are_rejected(keep, message):
    policy, state = played("curve")
    with pytest.raises(EngineError, match=message):
        resize(policy, state, keep)


def test_a_budget_raise_repaces_the_current_timestep_at_once():
    policy, state = played("curve")
    left = SETTINGS["timesteps"] - state["t"]
    tuned, raised = retune(policy, state, {"budget": 6000.0})
    assert raised["remaining"] == pytest.approx(6000.0 - state["spent"])
    assert raised["timestep_budget"] == pytest.approx(raised["remaining"] / left)
    shares = np.array(raised["shares"])
    assert shares == pytest.approx(np.array(state["shares"]))
    longer = retune(tuned, raised, {"timesteps": 20, "step": 0.2, "floor": 0.05})[1]
    assert longer["timestep_budget"] == pytest.approx(raised["remaining"] / (20 - state["t"]))
    assert longer["settings"]["step"] == 0.2


@pytest.mark.parametrize(
    ("changes", "params", "message"),
    [
        ({"budget": 10.0}, None, "below what the run has spent"),
        ({"timesteps": 3}, None, "above the 3 timesteps finished"),
        ({"seed": 4}, None, "cannot change"),
        ({"floor": 0.5}, None, "floors cannot all be met"),
        (None, {"grid_size": 10}, "'grid_size'"),
        (None, {"draws": 0}, "draws"),
    ],
)
def test_bad_retunes_name_what_is_wrong(changes, params, message):
    policy, state = played("curve")
    with pytest.raises(EngineError, match=message):
        retune(policy, state, changes, params)


def test_safe_params_change_and_the_state_keeps_learning():
    policy, state = played("curve")
    tuned, state = retune(policy, state, None, {"draws": 4, "prior_weight": 0.5})
    assert tuned.params["draws"] == 4 and state["params"]["draws"] == 4
    observed = {"spend": state["budgets"], "revenue": revenue(state["budgets"])}
    state, _ = tuned.advance(state, observed)
    assert state["t"] == 4


def test_curve_sums_keep_their_unit_when_the_budget_changes():
    policy, state = played("curve")
    tuned, raised = retune(policy, state, {"budget": 9000.0})
    assert raised["stats"]["spend_unit"] == pytest.approx(3000.0 / 10 / 3)
    refolded = tuned.refold(
        raised,
        [{"spend": [100.0] * 3, "revenue": revenue([100.0] * 3)}] * 3,
        [[100.0] * 3] * 3,
    )
    assert refolded["stats"]["spend_unit"] == pytest.approx(100.0)


def prior_values(match=(0, 1, 2), curves=None):
    unit = SETTINGS["budget"] / SETTINGS["timesteps"] / 3
    spends = np.array(PRIOR_SPENDS)[:, None] * np.full(3, unit)
    return known_values(curves or NegExpCurves(ALPHA, MU), list(match), spends)


def test_a_warm_start_moves_toward_the_known_optimum_within_step():
    policy = make_policy("curve")
    state = warm_init(policy, 3, SETTINGS, None, prior_values(), strength=5.0)
    optimum = np.array([64.9, 134.0, 101.1])  # KKT on the true curves, 300 a timestep
    cold = np.full(3, 100.0)
    warm = np.array(state["budgets"])
    assert np.abs(warm - optimum).sum() < 0.6 * np.abs(cold - optimum).sum()
    assert np.abs(warm - cold).max() <= 0.1 * 300 + 1e-6
    again = warm_init(policy, 3, SETTINGS, None, prior_values(), strength=5.0)
    assert again == state


def test_the_prior_fades_as_the_run_learns():
    policy = make_policy("curve")
    state = warm_init(policy, 3, SETTINGS, None, prior_values())
    for _ in range(8):
        state, _ = policy.advance(state, {"spend": state["budgets"]})
    fresh = warm_init(policy, 3, SETTINGS, None, prior_values())
    sums = policy.with_prior(policy._unpacked(state["stats"], 3), state["stats"], 3)[0]
    early = policy.with_prior(policy._unpacked(fresh["stats"], 3), fresh["stats"], 3)[0]
    assert sums["count"] == pytest.approx(early["count"] / 4)  # two half-lives


def test_a_warm_start_survives_a_refold_and_unknown_campaigns_keep_the_default_prior():
    policy = make_policy("curve")
    state = warm_init(policy, 3, SETTINGS, None, prior_values((0, None, 2)), strength=5.0)
    assert state["stats"]["prior"]["count"][1] == 0.0
    state, _ = policy.advance(state, {"spend": state["budgets"], "revenue": [1.0, 2.0, 3.0]})
    refolded = policy.refold(state, [{"spend": state["previous_shares"]}], [[100.0] * 3])
    assert refolded["stats"]["prior"] == state["stats"]["prior"]


def test_only_curve_takes_a_prior_and_strength_is_checked():
    with pytest.raises(EngineError, match="takes no prior"):
        warm_init(make_policy("thompson"), 3, SETTINGS, None, prior_values())
    with pytest.raises(EngineError, match="prior_strength"):
        warm_init(make_policy("curve"), 3, SETTINGS, None, prior_values(), strength=-1.0)


def test_learnt_curves_have_bands_around_their_means():
    policy, state = played("curve", steps=5)
    readout = learnt_curves(policy, state)
    assert len(readout["campaigns"]) == 3
    for row, budget in zip(readout["campaigns"], state["budgets"], strict=True):
        low, mean, high = (np.array(row[key]) for key in ("low", "mean", "high"))
        assert np.all(low <= mean + 1e-9) and np.all(mean <= high + 1e-9)
        assert row["budget"] == pytest.approx(budget)
        assert row["marginal"] > 0 and row["unpaced"] >= 0
    assert sum(row["unpaced"] for row in readout["campaigns"]) == pytest.approx(
        state["timestep_budget"]
    )
    assert learnt_curves(policy, state) == readout


def test_forecast_compares_the_policy_with_an_equal_split():
    policy, state = played("curve", steps=6)
    result = forecast(policy, state)
    assert result["timesteps_left"] == 4
    for key in ("policy", "equal_split", "gain"):
        assert result[key]["low"] <= result[key]["mean"] <= result[key]["high"]
    true_equal = 4 * sum(revenue([100.0] * 3))
    assert result["equal_split"]["low"] * 0.8 < true_equal < result["equal_split"]["high"] * 1.25


def test_policies_without_curves_say_so():
    policy, state = played("ucb")
    with pytest.raises(NoCurves, match="learns no response curves"):
        learnt_curves(policy, state)
    with pytest.raises(NoCurves):
        forecast(policy, state)
