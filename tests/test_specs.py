"""Curves from JSON specs: mixed families stacked, and every bad spec named."""

import numpy as np
import pytest

from engine.allocator import allocate_budget
from engine.errors import EngineError
from engine.response import HillCurves, MichaelisMentenCurves, NegExpCurves
from engine.specs import curves_from_specs


def spec(name, family, **params):
    return {"campaign": name, "family": family, "params": params}


SPECS = [
    spec("a", "negexp", alpha=500.0, mu=0.004),
    spec("b", "mm", vmax=800.0, k=300.0),
    spec("c", "negexp", alpha=300.0, mu=0.01),
    spec("d", "hill", vmax=400.0, k=200.0, n=1.5),
    spec("e", "local_slope", spend=[0, 100, 300], response=[0, 80, 120]),
    spec("f", "ensemble", spend=[0, 200, 400], marginal=[1, 0.5, 0.1]),
]


def one(curves, spend):
    return curves.response(np.array([spend]))[0]


def test_mixed_families_behave_like_their_own_curves():
    names, curves = curves_from_specs(SPECS)
    assert names == ["a", "b", "c", "d", "e", "f"]
    response = curves.response(np.array([100.0, 200.0, 50.0, 400.0, 200.0, 300.0]))
    assert response[0] == pytest.approx(one(NegExpCurves([500.0], [0.004]), 100.0))
    assert response[1] == pytest.approx(one(MichaelisMentenCurves([800.0], [300.0]), 200.0))
    assert response[3] == pytest.approx(one(HillCurves([400.0], [200.0], [1.5]), 400.0))
    assert response[4] == pytest.approx(100.0)
    assert response[5] == pytest.approx(200 * 0.75 + 100 * 0.4)
    split = allocate_budget(curves, 900.0)
    assert split.sum() == pytest.approx(900.0)
    smooth = curves.marginal(split)[:4]
    np.testing.assert_allclose(smooth, smooth[0], rtol=1e-6)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (spec("x", "cubic"), "'x': unknown family"),
        (spec("x", "negexp", alpha=1.0), "'x': .*missing mu"),
        (spec("x", "negexp", alpha=1, mu=1, z=2), "'x': .*unknown z"),
        (spec("x", "negexp", alpha=1.0, mu=-1.0), "'x': mu must be > 0"),
        (spec("x", "mm", vmax="big", k=1.0), "'x': .*numbers"),
        (spec("x", "local_slope", spend=[0, 1]), "'x': local_slope needs"),
        (spec("x", "local_slope", spend=[0, 1, 2], response=[0, 1, 3]), "'x'.*not concave"),
        (spec("x", "ensemble", spend=[0, 1, 2], marginal=[1, 2, 0]), "'x'.*not increase"),
    ],
)
def test_bad_specs_name_the_campaign(bad, problem):
    with pytest.raises(EngineError, match=problem):
        curves_from_specs([SPECS[0], bad])


def test_duplicate_and_empty():
    with pytest.raises(EngineError, match="'a' appears twice"):
        curves_from_specs([SPECS[0], SPECS[0]])
    with pytest.raises(EngineError, match="at least one"):
        curves_from_specs([])
