"""A run driven through the REST API, as a client's loop drives it, is the engine's run: the
decision-quality benchmarks measure what an API client gets (benchmarks/api_efficiency.py)."""

from __future__ import annotations

from benchmarks.api_efficiency import api_run
from benchmarks.policy_efficiency import DISTRIBUTIONS
from engine.simulate import run

TIMESTEPS = 6
# The mean rule is continuous in the reports, so the API's cents cannot flip a discrete choice.
MEAN_RULE = {"decision": "mean"}


def test_curve_through_the_api_plays_as_in_the_engine(client, tenant):
    world = DISTRIBUTIONS["spread400"](7, TIMESTEPS)
    through_api = api_run(client, tenant.headers, "curve", world, 7, 0.25, "run", MEAN_RULE)
    in_engine = run("curve", world, 7, step=0.25, params=MEAN_RULE).efficiency
    assert abs(through_api - in_engine) < 1e-5
    # The check has power: another seed's reports, or another pace, move the efficiency more.
    assert abs(run("curve", world, 8, step=0.25, params=MEAN_RULE).efficiency - in_engine) > 1e-3
    assert abs(run("curve", world, 7, step=0.1, params=MEAN_RULE).efficiency - in_engine) > 1e-3
