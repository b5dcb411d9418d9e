"""Late corrections in the budget-step framework: refolding a run from its finished timesteps.

A refold learns and paces as if the corrected numbers had come in time, counts unreported
spend as planned, keeps within the bounds and the budget, and needs every finished timestep.
"""

import math

import numpy as np
import pytest

from engine import POLICY_NAMES, EngineError, make_policy
from tests.test_engine_framework import BASE, spend_all


def observe(budgets, rng, unreported=()):
    """A timestep's metrics for `budgets`: saturating revenue, clicks and conversions, with the
    campaigns in `unreported` reporting nothing (their spend counts as planned)."""
    spend = np.asarray(budgets) * rng.uniform(0.8, 1.1, len(budgets))
    clicks = np.round(spend * rng.uniform(0.5, 1.5, len(budgets)))
    rows = {
        "spend": spend.tolist(),
        "clicks": clicks.tolist(),
        "conversions": np.floor(clicks * 0.1).tolist(),
        "revenue": (300 * (1 - np.exp(-spend / 80)) * rng.uniform(0.5, 1.5, len(budgets))).tolist(),
    }
    for k in unreported:
        for values in rows.values():
            values[k] = None
    return rows


def played(policy, n_campaigns, reports):
    """The state after advancing through `reports` (one per timestep: a function of the
    planned budgets giving the metrics), and the budgets each timestep was given."""
    state = policy.init(n_campaigns, {"budget": 20_000.0, "timesteps": 12, "step": 0.5})
    planned = []
    for report in reports:
        planned.append(list(state["budgets"]))
        state, _ = policy.advance(state, report(state["budgets"]))
    return state, planned


# What `curve` records of when each row was first reported (engine.policies.report_ages): the
# one thing a correction teaches that a run told the corrected numbers in time never saw.
FIRST_REPORTS = ("first", "first_seen", "history", "grown", "base", "first_total", "final_total")


def observations_learnt(stats):
    """A policy's statistics without its record of first reports, if it keeps one."""
    if not (isinstance(stats, dict) and "reports" in stats):
        return stats
    record = {k: v for k, v in stats["reports"].items() if k not in FIRST_REPORTS}
    return {**stats, "reports": record}


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_refolding_a_late_correction_learns_and_paces_as_if_it_came_in_time(name):
    """Timestep 2's spend and revenue corrected after timestep 5 was decided: the refolded
    state has the statistics and the budget left of a run told the corrected numbers live
    (all but what `curve` recorded of the rows' first reports, which is how it learns how
    late reports come in)."""
    policy = make_policy(name)
    n_campaigns = 2 if name == "rps" else 3
    rng = np.random.default_rng(7)
    first = [
        observe([500.0] * n_campaigns, rng, unreported=[1] if t == 4 else []) for t in range(6)
    ]
    corrected = {**first[2], "spend": [x * 1.5 for x in first[2]["spend"]]}
    corrected["revenue"] = [x * 3 for x in first[2]["revenue"]]
    late = [*first[:2], corrected, *first[3:]]

    state, planned = played(policy, n_campaigns, [lambda _, row=row: row for row in first])
    told_in_time, _ = played(policy, n_campaigns, [lambda _, row=row: row for row in late])
    refolded = policy.refold(state, late, planned)

    assert observations_learnt(refolded["stats"]) == observations_learnt(told_in_time["stats"])
    spent_more = 0.5 * sum(first[2]["spend"])
    assert refolded["spent"] == pytest.approx(state["spent"] + spent_more)
    assert refolded["remaining"] == pytest.approx(state["remaining"] - spent_more)
    assert refolded["stats"] != state["stats"] or policy.initial_stats(n_campaigns, BASE) is None
    # What was decided for the timestep now being spent stands.
    for key in ("t", "shares", "budgets", "timestep_budget", "rng", "done"):
        assert refolded[key] == state[key]
    # And refolding what the run was told changes nothing.
    unchanged = policy.refold(state, first, planned)
    assert unchanged["stats"] == state["stats"]
    assert unchanged["spent"] == pytest.approx(state["spent"])


def test_refolding_unreported_spend_counts_the_planned_budget_then_the_report():
    policy = make_policy("uniform")
    state = policy.init(2, BASE)
    state, _ = policy.advance(state, {"spend": [None, None]})
    assert state["remaining"] == pytest.approx(900.0)
    reported = policy.refold(state, [{"spend": [10.0, None]}], [[50.0, 50.0]])
    assert reported["remaining"] == pytest.approx(940.0)
    overspent = policy.refold(state, [{"spend": [2000.0, 0.0]}], [[50.0, 50.0]])
    assert overspent["remaining"] == 0.0 and overspent["spent"] == 2000.0
    assert overspent["timestep_budget"] == 0.0 and overspent["budgets"] == [0.0, 0.0]


def test_refolding_shrinks_the_budgets_within_the_campaigns_bounds():
    policy = make_policy("uniform")
    settings = {**BASE, "min_budget": [None, 40.0, None]}
    state, _ = spend_all(policy, policy.init(3, settings))
    refolded = policy.refold(state, [{"spend": [900.0, 50.0, 0.0]}], [state["budgets"]])
    assert refolded["remaining"] == pytest.approx(50.0)
    assert refolded["budgets"][1] == pytest.approx(40.0)
    assert sum(refolded["budgets"]) == pytest.approx(50.0)


def test_refolding_never_plans_beyond_the_budget():
    """A correction leaving less than the current timestep's budgets shrinks them to what is
    left, shares kept: spent plus the timestep's budget stays within the run's budget."""
    policy = make_policy("thompson")
    state, _ = spend_all(policy, policy.init(2, BASE))
    shares = state["shares"]
    refolded = policy.refold(state, [{"spend": [900.0, 50.0], "revenue": [1.0, 1.0]}], [[50, 50]])
    assert refolded["remaining"] == pytest.approx(50.0)
    assert refolded["timestep_budget"] == pytest.approx(50.0)
    assert refolded["budgets"] == pytest.approx([share * 50.0 for share in shares])
    assert refolded["spent"] + refolded["timestep_budget"] <= BASE["budget"] + 1e-9
    refolded, _ = spend_all(policy, refolded)
    assert refolded["spent"] == pytest.approx(BASE["budget"]) and refolded["done"]


@pytest.mark.parametrize(
    ("observations", "planned", "message"),
    [
        ([], [], "1 finished timesteps"),
        ([{"spend": [1.0, 1.0]}] * 2, [[1.0, 1.0]] * 2, "1 finished timesteps"),
        ([{"spend": [1.0, -1.0]}], [[1.0, 1.0]], "spend"),
        ([{"spend": [1.0, 1.0]}], [[1.0]], "2 finite numbers"),
        ([{"spend": [1.0, 1.0]}], [[1.0, math.nan]], "2 finite numbers"),
    ],
)
def test_refolding_needs_every_finished_timestep(observations, planned, message):
    policy = make_policy("curve")
    state, _ = spend_all(policy, policy.init(2, BASE))
    with pytest.raises(EngineError, match=message):
        policy.refold(state, observations, planned)
