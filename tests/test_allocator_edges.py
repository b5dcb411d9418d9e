"""Edges of the exact KKT allocator that its main tests leave open: multipliers far from the
bracket's ends, bounds and budgets at their limits, each through the public functions."""

import numpy as np
import pytest

from engine.allocator import solve_budget, solve_monotone_multiplier
from engine.response import NegExpCurves


def test_a_multiplier_hundreds_of_orders_below_the_top_is_resolved():
    # Both marginals at the upper bounds (745) are subnormal, so the bracket starts at 0; the
    # optimum (500 each) sits at a multiplier of 1000 * exp(-500), about 7e-215.
    curves = NegExpCurves(np.array([1000.0, 1000.0]), np.array([1.0, 1.0]))
    solution = solve_budget(curves, 1000.0, upper=np.array([745.0, 745.0]))
    np.testing.assert_allclose(solution.spend, [500.0, 500.0], rtol=1e-12)
    assert solution.multiplier / (1000.0 * np.exp(-500.0)) == pytest.approx(1.0, rel=1e-9)


def test_a_bisection_from_zero_searches_a_positive_crossing_in_logs():
    # From [0, 1] the crossing at 1e-200 is found to the relative tolerance, not to 1e-13 of
    # the bracket's top.
    low, high = solve_monotone_multiplier(
        lambda lams: 1e-200 / np.maximum(lams, 1e-300), 1.0, 0.0, 1.0
    )
    assert low / 1e-200 == pytest.approx(1.0, rel=1e-11)
    assert high / 1e-200 == pytest.approx(1.0, rel=1e-11)
