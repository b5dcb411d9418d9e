"""The policy-efficiency benchmark's `--volume`: broad worlds with more conversions, and the
reference players' generator priors that follow them."""

import numpy as np
import pytest

from benchmarks.policy_efficiency import (
    conversions_at_equal,
    family_prior,
    make_worlds,
    shape_prior,
)


@pytest.mark.parametrize("name", ["negexp", "mixed", "real"])
def test_the_broad_priors_at_volume_four_are_those_at_one_with_log_amplitude_up_by_log_four(name):
    plain = make_worlds(name, [3], 5)[0]
    louder = make_worlds(name, [3], 5, volume=4.0)[0]
    before, after = family_prior(name, plain), family_prior(name, louder, 4.0)
    assert after.mean[..., 0] == pytest.approx(before.mean[..., 0] + np.log(4.0))
    assert np.array_equal(after.mean[..., 1], before.mean[..., 1])
    for field in ("scale", "log_weight", "precision"):
        assert np.array_equal(getattr(after, field), getattr(before, field)), field
    assert after.value_bounds == before.value_bounds
    shapes_before, shapes_after = shape_prior(name, plain), shape_prior(name, louder, 4.0)
    assert shapes_after.mean[:, 0] == pytest.approx(shapes_before.mean[:, 0] + np.log(4.0))
    assert np.array_equal(shapes_after.mean[:, 1], shapes_before.mean[:, 1])
    assert np.array_equal(shapes_after.precision, shapes_before.precision)


@pytest.mark.parametrize("volume", [1.0, 16.0])
def test_the_broad_amplitude_prior_is_centred_on_the_worlds_amplitudes_at_any_volume(volume):
    # 137 campaigns: log A has sd about 0.94 under the prior, so its mean over them is known to
    # about 0.08; a prior that ignored a sixteenfold volume would be off by log 16 = 2.8.
    world = make_worlds("mixed", [3], 2, volume=volume)[0]
    assert world.n_campaigns >= 100
    prior = family_prior("mixed", world, volume)
    log_amplitude = np.log(world.amplitude[0])
    assert abs(log_amplitude.mean() - prior.mean[:, 0, 0].mean()) < 0.25
    shapes = shape_prior("mixed", world, volume)
    assert abs(log_amplitude.mean() - shapes.mean[:, 0].mean()) < 0.25


def test_the_conversions_row_follows_the_volume_on_broad_columns_only():
    seeds = [0, 1, 2]
    plain = conversions_at_equal(make_worlds("hill", seeds, 1))
    louder = conversions_at_equal(make_worlds("hill", seeds, 1, volume=16.0))
    assert louder == pytest.approx(tuple(16 * level for level in plain))
    with pytest.raises(ValueError, match="broad"):
        make_worlds("spread400", seeds, 1, volume=4.0)
    with pytest.raises(ValueError, match="broad"):
        make_worlds("first", seeds, 1, volume=4.0)
