"""`curve` learning how complete a report is by its age, from the late corrections it is told."""

import numpy as np
import pytest

from engine import make_policy
from engine.amend import resize
from engine.policies.report_ages import young_rows
from engine.simulate import make_broad_world, run

SETTINGS = {"budget": 30_000.0, "timesteps": 30, "step": 0.2, "seed": 5}
LATE = np.array([0.0, 0.3, 0.6])
"""Each campaign's share of revenue reported late, two timesteps after the timestep."""


def revenue(spend):
    return 2000.0 * -np.expm1(-np.asarray(spend) / np.array([800.0, 1200.0, 1000.0]))


def corrected_run(policy, steps, late=LATE, lag=2):
    """`steps` timesteps whose revenue comes in `late` short, the rest `lag` timesteps later
    as a late correction; the state, the rows as reported now, and their budgets."""
    state = policy.init(late.size, SETTINGS)
    rows, planned = [], []
    for t in range(steps):
        if t >= lag:
            rows[t - lag]["revenue"] = revenue(planned[t - lag]).tolist()
            state = policy.refold(state, rows, planned)
        spend = list(state["budgets"])
        rows.append({"spend": spend, "revenue": (revenue(spend) * (1 - late)).tolist()})
        planned.append(spend)
        state, _ = policy.advance(state, rows[-1])
    return state, rows, planned


def learnt(state, n=3):
    stats = state["stats"]
    return young_rows(stats["reports"], n, stats["rows"] - 1)


def test_each_campaign_learns_how_complete_its_latest_rows_are():
    policy = make_policy("curve", {"report_window": 4})
    state, _, _ = corrected_run(policy, 16)
    young = learnt(state)
    by_age = dict(zip(young["age"].tolist(), young["completeness"], strict=True))
    # Rows of age 0 and 1 lack the late share (each campaign's estimate shrunk a little
    # toward the pooled one); from age 2 they are complete.
    for age in (0, 1):
        assert by_age[age] == pytest.approx(1 - LATE, abs=0.1)
        assert np.all(np.diff(by_age[age]) < -0.2)
    assert by_age[2] == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)
    assert state["stats"]["reports"]["left"] == 16 - 4


def test_a_run_never_corrected_learns_complete_reports_and_decides_as_without_the_record():
    # No weekly profile: it learns from rows as they leave the record, so at other times.
    plain = {"season_period": 0}
    with_record = make_policy("curve", plain)
    without = make_policy("curve", plain | {"report_window": 0})
    state, _, _ = corrected_run(with_record, 12, late=np.zeros(3))
    other, _, _ = corrected_run(without, 12, late=np.zeros(3))
    assert learnt(state)["completeness"] == pytest.approx(np.ones((8, 3)))
    assert state["shares"] == pytest.approx(other["shares"], abs=1e-9)


@pytest.mark.parametrize("row", [1, 7])
def test_refolding_rows_in_and_out_of_the_record_learns_as_if_told_in_time(row):
    """A correction of a row still in the record (7) or gone into the sums (1): the sums and
    the record's rows equal a run told the corrected row live, and refolding it again changes
    nothing."""
    policy = make_policy("curve", {"report_window": 3})
    state, rows, planned = corrected_run(policy, 9, late=np.zeros(3))
    rows[row] = {**rows[row], "revenue": [x * 2 for x in rows[row]["revenue"]]}
    refolded = policy.refold(state, rows, planned)
    live = policy.init(3, SETTINGS)
    for report in rows:
        live, _ = policy.advance(live, report)
    for key in ("ff", "fy", "yy", "count", "value_total"):
        assert refolded["stats"][key] == live["stats"][key]
    for key in ("rows", "spend", "value", "through", "left"):
        assert refolded["stats"]["reports"][key] == live["stats"]["reports"][key]
    assert policy.refold(refolded, rows, planned)["stats"] == refolded["stats"]


def test_resizing_keeps_each_campaigns_record_and_starts_an_added_one_empty():
    policy = make_policy("curve", {"report_window": 4})
    state, _, _ = corrected_run(policy, 10)
    before = learnt(state)
    resized = resize(policy, state, [2, None, 0])
    after = learnt(resized)
    assert after["value"][:, 0] == pytest.approx(before["value"][:, 2])
    assert after["value"][:, 2] == pytest.approx(before["value"][:, 0])
    assert not after["value"][:, 1].any() and not after["seen"][:, 1].any()
    assert after["completeness"][:, 0] == pytest.approx(before["completeness"][:, 2], abs=0.02)
    state, _ = policy.advance(resized, {"spend": resized["budgets"], "revenue": [5.0] * 3})
    assert sum(state["shares"]) == pytest.approx(1.0)


def test_statistics_from_before_the_record_keep_their_rows_in_the_sums():
    policy = make_policy("curve")
    state, _, _ = corrected_run(policy, 3, late=np.zeros(3))
    old = {**state, "stats": dict(state["stats"])}
    del old["stats"]["reports"]
    old["stats"]["signature"] = old["stats"]["signature"][:-1]  # signed without the window
    nxt, _ = policy.advance(old, {"spend": old["budgets"], "revenue": [9.0, 9.0, 9.0]})
    record = nxt["stats"]["reports"]
    assert record["rows"] == [3] and record["through"] == 2
    assert nxt["stats"]["signature"] == state["stats"]["signature"]
    nxt, _ = policy.advance(nxt, {"spend": nxt["budgets"], "revenue": [9.0, 9.0, 9.0]})
    assert nxt["stats"]["reports"]["rows"] == [3, 4]


def test_delays_cost_curve_less_when_it_completes_the_latest_rows():
    """Mixed broad worlds whose campaigns report up to 60% of their conversions 1 to 7
    timesteps late: reading the latest rows as complete pulls back a campaign just given more."""
    gains = []
    for seed in (1002, 1003):
        world = make_broad_world("mixed", 20, 30, seed, delays=True)
        aware = run("curve", world, seed).efficiency
        blind = run("curve", world, seed, params={"report_window": 0}).efficiency
        gains.append(aware - blind)
    assert np.mean(gains) > 0.02
