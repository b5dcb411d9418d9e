"""Broad worlds and their conditions: ranges, families, shifts, late reports, order values."""

import numpy as np
import pytest

from engine.errors import EngineError
from engine.framework import Policy
from engine.log_curves import LogCurves
from engine.simulate import LateReports, make_broad_world, oracle_spend, run
from engine.worlds import ALL_FAMILIES, MAX_DELAY, TIMESTEP_BUDGET, World


def test_broad_worlds_span_the_ranges_of_real_advertisers():
    world = make_broad_world("mixed", 200, 3, seed=4)
    equal = TIMESTEP_BUDGET / 200
    assert 0.1 <= (world.scale / equal).min() < 0.2 and 5 < (world.scale / equal).max() <= 10
    assert set(np.unique(world.kind)) == set(range(len(ALL_FAMILIES)))
    assert 0.6 < np.log(world.amplitude[0]).std() < 1.2
    assert world.value_per_conversion.max() / world.value_per_conversion.min() > 4
    assert world.delay_share is None and world.shift is None
    again = make_broad_world("mixed", 200, 3, seed=4)
    assert np.array_equal(world.amplitude, again.amplitude)


@pytest.mark.parametrize("family", [*ALL_FAMILIES, "mixed"])
def test_the_oracle_beats_every_other_split_in_every_family(family):
    world = make_broad_world(family, 6, 2, seed=3)
    k = world.n_campaigns
    best = oracle_spend(world, 0, np.zeros(k), np.full(k, np.inf))
    assert best.sum() == pytest.approx(world.timestep_budget)
    best_value = world.expected_revenue(best, 0)
    curves = world.revenue_curves(0)
    assert np.allclose(curves.true_response(best).sum(), best_value)
    for shares in np.random.default_rng(0).dirichlet(np.ones(k), 300):
        assert world.expected_revenue(shares * world.timestep_budget, 0) <= best_value * (1 + 1e-6)


def test_a_shift_halves_or_doubles_one_campaign_at_the_given_timestep():
    world = make_broad_world("negexp", 8, 10, seed=1, shift=True)
    when, campaign, factor = world.shift
    assert when == 5 and factor in (0.5, 2.0)
    ratio = world.amplitude[when] / world.amplitude[when - 1]
    assert ratio[campaign] == pytest.approx(factor)
    assert np.allclose(np.delete(ratio, campaign), 1.0)
    assert np.allclose(world.amplitude[:when], world.amplitude[0])
    assert np.allclose(world.amplitude[when:], world.amplitude[when])


def test_late_reports_hold_back_a_share_and_bring_all_of_it_in_one_to_seven_timesteps_later():
    world = make_broad_world("mixed", 5, 20, seed=2, delays=True)
    late = LateReports(world, np.random.default_rng(0))
    report = world.observe(np.full(5, 2000.0), 0, np.random.default_rng(1))
    first = late.hold_back(0, report)
    assert np.all(np.array(first["conversions"]) <= report["conversions"])
    assert sum(first["conversions"]) < sum(report["conversions"])
    rows = [first]
    assert not late.arrive(0, rows)
    for t in range(1, MAX_DELAY + 1):
        late.arrive(t, rows)
    assert not late.pending
    assert rows[0]["conversions"] == pytest.approx(report["conversions"])
    assert rows[0]["revenue"] == pytest.approx(report["revenue"])


class Recording(Policy):
    """The equal split, recording the rows every late correction posts."""

    name = "uniform"

    def __init__(self) -> None:
        super().__init__()
        self.refolds: list[tuple[int, list]] = []

    def propose(self, context, rng):
        return context.previous

    def refold(self, state, observations, planned):
        self.refolds.append((state["t"], [list(row["conversions"]) for row in observations]))
        return super().refold(state, observations, planned)


def test_runs_post_late_conversions_as_corrections_of_finished_timesteps():
    world = make_broad_world("negexp", 4, 12, seed=5, delays=True)
    policy = Recording()
    run(policy, world, seed=3)
    assert policy.refolds
    finished, rows = policy.refolds[-1]
    assert len(rows) == finished
    # A timestep's conversions only grow as corrections come in.
    earlier = {t: rows for t, rows in policy.refolds}
    for t, rows in policy.refolds:
        later = [r for s, r in earlier.items() if s > t]
        for newer in later:
            assert np.all(np.array(newer[: len(rows)]) >= np.array(rows) - 1e-9)
    still = Recording()
    run(still, make_broad_world("negexp", 4, 12, seed=5), seed=3)
    assert not still.refolds


def test_log_normal_order_values_average_to_the_value_per_conversion():
    world = make_broad_world("negexp", 3, 1, seed=6, value_sigma=1.0)
    rng = np.random.default_rng(0)
    reports = [world.observe(np.full(3, 3000.0), 0, rng) for _ in range(300)]
    conversions = np.sum([r["conversions"] for r in reports], axis=0)
    revenue = np.sum([r["revenue"] for r in reports], axis=0)
    assert revenue / conversions == pytest.approx(world.value_per_conversion, rel=0.1)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"family": "linear"}, "family"), ({"value_sigma": -1.0}, "value_sigma")],
)
def test_a_broad_world_no_run_can_use_is_refused_naming_the_argument(arguments, named):
    given = {"family": "mixed", "n_campaigns": 3, "timesteps": 5, "seed": 0, **arguments}
    with pytest.raises(EngineError, match=named):
        make_broad_world(**given)


def test_launches_start_some_campaigns_late_and_end_others_early_in_an_otherwise_equal_world():
    world = make_broad_world("mixed", 40, 20, seed=4, launches=True)
    plain = make_broad_world("mixed", 40, 20, seed=4)
    assert np.array_equal(world.amplitude, plain.amplitude)
    assert np.array_equal(world.scale, plain.scale)
    launched, ended = world.start > 0, world.end < 20
    assert 2 <= launched.sum() <= 16 and 2 <= ended.sum() <= 16
    assert not (launched & ended).any()
    assert world.start.max() <= 10 and world.end[ended].min() > 10
    assert all(world.live(t).sum() >= 2 for t in range(20))
    assert plain.live(0).all() and plain.live(19).all()


class Resized(Policy):
    """The equal split over the running campaigns, recording how many each decision saw and
    what removed campaigns had spent when a correction came in."""

    name = "uniform"

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.retired: list[float] = []

    def propose(self, context, rng):
        self.sizes.append(context.n_campaigns)
        return context.active / context.active.sum()

    def refold(self, state, observations, planned, retired_spent=0.0):
        self.retired.append(retired_spent)
        return super().refold(state, observations, planned, retired_spent)


def test_runs_add_launched_and_remove_ended_campaigns_and_the_oracle_splits_among_running_ones():
    world = make_broad_world("mixed", 12, 16, seed=3, launches=True, delays=True)
    policy = Resized()
    result = run(policy, world, seed=1)
    running = [world.live(t) for t in range(16)]
    # Each decision is made over the campaigns that reported, and the state resized after.
    assert policy.sizes == [int(running[t].sum()) for t in range(15)]
    for t in range(16):
        assert np.all(result.shares[t][~running[t]] == 0.0)
        assert result.shares[t].sum() == pytest.approx(1.0)
        k = world.n_campaigns
        best = oracle_spend(world, t, np.zeros(k), np.where(running[t], np.inf, 0.0))
        assert result.oracle[t] == pytest.approx(world.expected_revenue(best, t))
    # A launched campaign is funded from the timestep after its first (the API's resize).
    launched = np.flatnonzero(world.start > 0)
    assert all(result.shares[world.start[k] + 1, k] > 0 for k in launched)
    # Late conversions of an ended campaign still count its spend as spent.
    assert max(policy.retired) > 0
    assert 0.5 < result.efficiency < 1.0


def test_log_curves_inverse_marginal_at_a_vanishing_price_is_unbounded_without_overflow():
    # the allocator's search may probe a marginal as small as a subnormal float; the spend
    # there is beyond any budget (inf), and numpy's overflow must not escape as a warning
    # (pyproject.toml turns the engine's RuntimeWarnings into errors)
    curves = LogCurves(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    assert np.all(np.isinf(curves.inverse_marginal(1e-320)))
    assert np.all(np.isinf(curves.inverse_marginal(0.0)))
    spend = curves.inverse_marginal(np.array([1e-3, 1e-320]))
    assert spend[0] == pytest.approx(1.0 / (np.log(2.0) * 1e-3) - 1.0) and np.isinf(spend[1])


CONDITIONED = {"drift": 0.02, "seasonality": 0.15, "shift": True, "delays": True}


def _fields(world: World) -> dict:
    return {name: value for name, value in vars(world).items() if name != "family"}


def test_volume_multiplies_every_campaigns_conversions_and_leaves_the_rest_of_the_world():
    plain = make_broad_world("mixed", 12, 6, seed=2, launches=True, **CONDITIONED)
    louder = make_broad_world("mixed", 12, 6, seed=2, launches=True, volume=4.0, **CONDITIONED)
    spends = np.random.default_rng(0).uniform(0.0, 3 * TIMESTEP_BUDGET / 12, (5, 12))
    for t in range(6):
        for spend in spends:
            louder_conversions = louder.expected_conversions(spend, t)
            assert louder_conversions == pytest.approx(4 * plain.expected_conversions(spend, t))
        k = plain.n_campaigns
        bounds = np.zeros(k), np.where(plain.live(t), np.inf, 0.0)
        assert oracle_spend(louder, t, *bounds) == pytest.approx(oracle_spend(plain, t, *bounds))
    for name in ("scale", "shape", "value_per_conversion", "kind", "click_through"):
        assert np.array_equal(getattr(louder, name), getattr(plain, name)), name
    for name in ("delay_share", "start", "end"):
        assert np.array_equal(getattr(louder, name), getattr(plain, name)), name
    assert louder.shift == plain.shift
    # Clicks follow the conversions, so each campaign's conversion rate per click is unchanged.
    assert louder.cost_per_click == pytest.approx(plain.cost_per_click / 4)


def test_volume_one_is_the_world_without_it_bit_for_bit():
    plain = make_broad_world("hill", 9, 5, seed=7, **CONDITIONED)
    same = make_broad_world("hill", 9, 5, seed=7, volume=1.0, **CONDITIONED)
    for name, value in _fields(plain).items():
        assert np.array_equal(value, _fields(same)[name]), name


def test_a_sixteenfold_volume_reports_sixteen_times_the_conversions():
    plain = make_broad_world("negexp", 4, 1, seed=3)
    louder = make_broad_world("negexp", 4, 1, seed=3, volume=16.0)
    spend = np.full(4, TIMESTEP_BUDGET / 4)
    rng = np.random.default_rng(5)
    reports = np.array([louder.observe(spend, 0, rng)["conversions"] for _ in range(100)])
    expected = 16 * plain.expected_conversions(spend, 0)
    assert reports.mean(axis=0) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("volume", [0.0, 0.001, 1001.0, float("nan"), "4", None, True])
def test_a_volume_outside_its_range_is_refused_naming_it(volume):
    with pytest.raises(EngineError, match="volume"):
        make_broad_world("negexp", 3, 2, seed=0, volume=volume)
