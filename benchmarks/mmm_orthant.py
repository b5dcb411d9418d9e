"""How far the sampler's approximation of P(every channel effect > 0) is from the exact value.

The sampler weighs each hyperparameter state by its marginal likelihood times the posterior
probability that all channel effects are positive, approximated by the product of each
effect's own probability (exact when the effects are uncorrelated). Here the exact orthant
probability of the same normal posterior (scipy's multivariate normal CDF) is compared on
states the sampler visited: what matters is how much the error varies between states (a
constant error cancels out of the weights).

    python -m benchmarks.mmm_orthant
"""

from __future__ import annotations

import numpy as np
from scipy.stats import multivariate_normal, norm

from engine.mmm import MarketingMixModel, load_rows
from engine.mmm.sampler import state_mean, state_precision, system
from engine.mmm.synthetic import generate

SEEDS = (1000, 1001, 1002)
STATES = 20


def orthant_errors(seed: int) -> tuple[int, np.ndarray]:
    """Exact minus approximate log P(effects > 0) on states visited for one data set."""
    data = load_rows(generate(seed)["rows"], controls=["price"])
    model = MarketingMixModel(seed=1, draws=4 * STATES, chains=4, burn=20).fit(data)
    tables = model.tables(data.y[: model.fit_rows] / model.y_scale)
    states, scale = model.options[::4][:STATES], model.prior_scale[::4][:STATES]
    centre = model.prior_centre[::4][:STATES]
    matrix, vector = system(tables, states, scale, centre)
    inverse = np.linalg.inv(matrix)
    mean = np.einsum("spr,sr->sp", inverse, vector)
    lam0 = state_precision(tables, states, scale)
    prior = np.sum(lam0 * state_mean(tables, states, centre) ** 2, axis=1)
    shape = tables.a0 + 0.5 * tables.rows
    rate = tables.b0 + 0.5 * (tables.yy + prior - np.einsum("sp,sp->s", vector, mean))
    q = tables.q
    errors = []
    for s in range(len(states)):
        centre = mean[s, q:]
        covariance = inverse[s, q:, q:] * rate[s] / shape
        approximate = np.sum(norm.logcdf(centre / np.sqrt(np.diag(covariance))))
        exact = multivariate_normal(np.zeros_like(centre), covariance).cdf(centre)
        errors.append(np.log(max(exact, 1e-300)) - approximate)
    return tables.channels, np.array(errors)


def main() -> int:
    print(f"{'data set':>9} {'channels':>9} {'error mean':>11} {'error sd between states':>24}")
    for seed in SEEDS:
        channels, errors = orthant_errors(seed)
        print(f"{seed:>9} {channels:>9} {errors.mean():>11.3f} {errors.std():>24.3f}")
    print("(errors in log probability: natural-log units; a state's weight is off by exp(sd))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
