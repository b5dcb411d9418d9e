"""How `curve`'s priors are calibrated to the advertiser's data (issue 22's broad worlds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import make_policy
from tests.test_curve_policy import SETTINGS, _context


def _one_report(policy, revenue: list[float], conversions: list[float]) -> dict:
    state = policy.init(len(revenue), SETTINGS)
    report = {"spend": state["budgets"], "revenue": revenue, "conversions": conversions}
    state, _ = policy.advance(state, report)
    return state


@settings(max_examples=25, deadline=None)
@given(
    per_conversion=st.floats(0.5, 500.0),
    counts=st.lists(st.integers(1, 5000), min_size=3, max_size=6),
    spread=st.floats(0.3, 4.0),
)
def test_an_unobserved_campaigns_amplitude_prior_has_the_given_spread(
    per_conversion: float, counts: list[int], spread: float
) -> None:
    """The amplitude's prior variance (noise scale over weight) is `amplitude_spread` squared,
    in units of the average campaign's value, however many conversions the reports hold."""
    policy = make_policy("curve", {"amplitude_spread": spread})
    revenue = [per_conversion * count for count in counts] + [None]
    state = _one_report(policy, revenue, [float(count) for count in counts] + [None])
    post = policy.posterior(_context(policy, state))
    assert post["scale"][-1] / post["kappa"][-1] == pytest.approx(spread**2)


def test_a_precise_report_is_believed_whatever_its_distance_from_the_average() -> None:
    """With thousands of conversions a report, a campaign at 2.25 times the average value is
    estimated near 2.25 after one equal split: a fixed weight of a quarter report pulled it
    to 2.0 (and one at 0.375 to 0.5), and a campaign's scale with it, however long the run."""
    policy = make_policy("curve")
    counts = np.array([9000.0, 1500.0, 1500.0])
    state = _one_report(policy, (40.0 * counts).tolist(), counts.tolist())
    post = policy.posterior(_context(policy, state))
    relative = counts / counts.mean()
    assert post["mean"][:, 0] == pytest.approx(relative, rel=0.02)
