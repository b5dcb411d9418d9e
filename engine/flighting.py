"""Flighting: split a TOTAL budget across periods and campaigns at once, adstock carried over.

maximize  sum_t sum_i w_i f_i(A_ti),   A_ti = x_ti + theta_i A_(t-1)i,   A_(-1)i = initial_i
s.t.      sum_t sum_i x_ti == total,   period_min_t <= sum_i x_ti <= period_max_t,
          lower_i <= x_ti <= upper_i.

The objective is concave in x (concave curves of linear maps of x) but not separable, since
a period's spend lives on in the later periods' adstock. It is solved by the spectral
projected gradient method (Barzilai-Borwein steps, non-monotone line search): the
gradient comes from one backward pass (G_t = w f'(A_t) + theta G_(t+1)), and the Euclidean
projection onto the feasible set (boxes, one group per period, the total) is exact
(engine.projection: piecewise-linear totals solved on their sorted kinks). Optimality is
certified by the Frank-Wolfe duality gap: for concave F, F* - F(x) <= max_y grad F(x) .
(y - x) over the feasible set, a linear program that a greedy filling solves exactly
(engine.projection.best_vertex; the tests check it against scipy's HiGHS). The answer
reports that bound; the iteration stops once it is below a relative 1e-9 of the objective
(or after MAX_ITERATIONS or a time limit, the bound then says how far). S-shaped Hill curves
are planned on their concave envelopes, for which the bound holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.adstock import carried_in, check_max_lag, decay_matrix
from engine.allocator import resolve_bounds, resolve_weights
from engine.errors import EngineError
from engine.planning import plan_budgets, plan_summary
from engine.projection import best_vertex, project
from engine.response import ResponseCurves

MAX_ITERATIONS = 3000
GAP_TOLERANCE = 1e-9
MEMORY = 10
SUFFICIENT = 1e-4


@dataclass(frozen=True)
class FlightingPlan:
    """Spend and adstock (T, K), the objective, and the certified bound on its distance to
    the optimum (absolute: the best plan is worth at most `objective + gap`)."""

    spend: np.ndarray
    stock: np.ndarray
    objective: float
    gap: float
    iterations: int


class FlightingProblem:
    """One flighting problem, its objective, gradient, projection and duality gap."""

    def __init__(
        self,
        curves: ResponseCurves,
        total: float,
        periods: int,
        theta: np.ndarray | None = None,
        lower: np.ndarray | None = None,
        upper: np.ndarray | None = None,
        period_min: Sequence[float] | None = None,
        period_max: Sequence[float] | None = None,
        initial_stock: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        max_lag: int | None = None,
    ):
        size = curves.size
        self.curves, self.periods, self.size = curves, int(periods), size
        if self.periods < 1:
            raise EngineError("a plan needs at least one period")
        self.total = float(total)
        if not np.isfinite(self.total) or self.total < 0:
            raise EngineError("the total budget must be a finite number >= 0")
        self.theta = np.zeros(size) if theta is None else np.broadcast_to(theta, size)
        if not np.all(np.isfinite(self.theta)) or np.any((self.theta < 0) | (self.theta >= 1)):
            raise EngineError("adstock theta must lie in [0, 1)")
        low, high = resolve_bounds(size, lower, upper)
        self.weights = resolve_weights(size, weights)
        carried = np.zeros(size) if initial_stock is None else np.asarray(initial_stock, float)
        carried = np.broadcast_to(carried, size)
        if not np.all(np.isfinite(carried)) or np.any(carried < 0):
            raise EngineError("initial_stock must be finite numbers >= 0")
        self.initial = carried
        check_max_lag(max_lag)
        self.max_lag = max_lag
        if max_lag is not None:  # the cut decay: stock = W spend + what the initial stock left
            self.decay = decay_matrix(self.periods, self.theta, max_lag)
            self.carried = carried_in(self.periods, self.theta, carried, max_lag)
        self.low = np.tile(low, self.periods)
        self.high = np.minimum(np.tile(high, self.periods), self.total)
        self.labels = np.repeat(np.arange(self.periods), size)
        self.period_low, self.period_high = self._period_bounds(period_min, period_max, low, high)

    def _period_bounds(self, period_min, period_max, low, high) -> tuple[np.ndarray, np.ndarray]:
        def column(values, fill: float, name: str) -> np.ndarray:
            if values is None:
                return np.full(self.periods, fill)
            array = np.asarray(values, dtype=float)
            if array.shape != (self.periods,):
                raise EngineError(f"{name} needs one value per period ({self.periods})")
            if np.any(np.isnan(array)) or np.any(array < 0):
                raise EngineError(f"{name} must be numbers >= 0")
            return array

        minimum = np.maximum(column(period_min, 0.0, "period_min"), low.sum())
        maximum = np.minimum(column(period_max, np.inf, "period_max"), high.sum())
        maximum = np.minimum(maximum, self.total)
        bad = np.flatnonzero(minimum > maximum * (1 + 1e-12) + 1e-12)
        if bad.size:
            t = int(bad[0])
            raise EngineError(
                f"period {t}: its minimum {minimum[t]:g} (period or campaigns' min) exceeds its "
                f"maximum {maximum[t]:g}"
            )
        slack = 1e-9 * max(self.total, 1.0)
        if minimum.sum() > self.total + slack:
            raise EngineError(
                f"the periods' minimums add up to {minimum.sum():g}, above the total {self.total:g}"
            )
        if maximum.sum() < self.total - slack:
            raise EngineError(
                f"the periods' maximums add up to {maximum.sum():g}, below the total {self.total:g}"
            )
        return minimum, np.maximum(maximum, minimum)

    def stock(self, spend: np.ndarray) -> np.ndarray:
        """Adstock (T, K) of spend (T, K), carried over from the initial stock."""
        if self.max_lag is not None:
            return np.einsum("kts,sk->tk", self.decay, spend) + self.carried
        stock = np.empty_like(spend)
        before = self.initial
        for t in range(self.periods):
            before = stock[t] = spend[t] + self.theta * before
        return stock

    def objective(self, spend: np.ndarray) -> float:
        return float((self.weights * self.curves.response(self.stock(spend))).sum())

    def gradient(self, spend: np.ndarray) -> np.ndarray:
        # A hair above zero stock: curves with an infinite marginal at 0 (Hill, n < 1) stay
        # finite, as in the allocator's bracket.
        floor = 1e-12 * max(self.total, 1e-300) / (self.periods * self.size)
        marginal = self.weights * self.curves.marginal(np.maximum(self.stock(spend), floor))
        if self.max_lag is not None:
            return np.einsum("kts,tk->sk", self.decay, marginal)
        gradient = np.empty_like(marginal)
        after = np.zeros(self.size)
        for t in range(self.periods - 1, -1, -1):
            after = gradient[t] = marginal[t] + self.theta * after
        return gradient

    def project(self, point: np.ndarray) -> np.ndarray:
        """The nearest feasible spend (T, K) to a point (T, K), exactly."""
        spend = project(
            np.asarray(point, dtype=float).ravel(),
            self.low,
            self.high,
            self.labels,
            self.period_low,
            self.period_high,
            self.total,
        )
        return spend.reshape(self.periods, self.size)

    def gap(self, spend: np.ndarray, gradient: np.ndarray) -> float:
        """Frank-Wolfe bound: max over feasible y of gradient . (y - spend) (>= F* - F)."""
        vertex = best_vertex(
            gradient.ravel(),
            self.low,
            self.high,
            self.labels,
            self.period_low,
            self.period_high,
            self.total,
        )
        return max(float(gradient.ravel() @ (vertex - spend.ravel())), 0.0)


def plan_flighting(
    problem: FlightingProblem,
    start: np.ndarray | None = None,
    time_limit: float | None = None,
) -> FlightingPlan:
    """The best plan by spectral projected gradient, with its certified optimality gap.

    `time_limit` (seconds) stops the iteration early on large problems: the answer is then
    feasible and its `gap` still bounds how far it is from the optimum.
    """
    deadline = None if time_limit is None else time.monotonic() + time_limit
    even = np.full(
        (problem.periods, problem.size), problem.total / (problem.periods * problem.size)
    )
    x = problem.project(even if start is None else np.asarray(start, dtype=float))
    value, gradient = problem.objective(x), problem.gradient(x)
    recent = [value]
    step = 1.0 / max(float(np.max(np.abs(gradient))), 1e-300) * max(problem.total, 1.0) * 1e-3
    bound, iterations = np.inf, 0
    while True:
        bound = problem.gap(x, gradient)
        if bound <= GAP_TOLERANCE * max(abs(value), 1e-300):
            break
        if iterations >= MAX_ITERATIONS or (deadline is not None and time.monotonic() > deadline):
            break
        iterations += 1
        direction = problem.project(x + step * gradient) - x
        slope = float((gradient * direction).sum())
        if slope <= 0:  # x is its own projection up to rounding: the optimum (bound above)
            break
        reference, length = min(recent), 1.0
        while True:
            candidate = x + length * direction
            candidate_value = problem.objective(candidate)
            if candidate_value >= reference + SUFFICIENT * length * slope or length < 1e-12:
                break
            length *= 0.5
        candidate_gradient = problem.gradient(candidate)
        moved = candidate - x
        curvature = -float((moved * (candidate_gradient - gradient)).sum())
        step = float((moved * moved).sum()) / curvature if curvature > 0 else step * 10.0
        x, value, gradient = candidate, candidate_value, candidate_gradient
        recent = [*recent, value][-MEMORY:]
    return FlightingPlan(
        spend=x,
        stock=problem.stock(x),
        objective=value,
        gap=bound,
        iterations=iterations,
    )


def flighting_report(problem: FlightingProblem, plan: FlightingPlan, names: Sequence[str]) -> dict:
    """JSON-able flighting plan: per period its chosen budget, allocation and response, the
    totals, and the certified optimality gap (absolute, and relative to the objective)."""
    budgets = plan.spend.sum(axis=1)
    summary = plan_summary(list(names), budgets, plan.spend, plan.stock, problem.curves)
    summary["optimality_gap"] = plan.gap
    summary["relative_gap"] = plan.gap / plan.objective if plan.objective > 0 else None
    summary["iterations"] = plan.iterations
    return summary


def even_budgets(problem: FlightingProblem) -> np.ndarray:
    """The even split of the total over the periods, moved the least to fit their bounds."""
    even = np.full(
        (problem.periods, problem.size), problem.total / (problem.periods * problem.size)
    )
    return problem.project(even).sum(axis=1)


def plan_total_budget(
    curves: ResponseCurves,
    total: float,
    periods: int,
    theta: np.ndarray | None = None,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    period_min: Sequence[float] | None = None,
    period_max: Sequence[float] | None = None,
    initial_stock: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    time_limit: float | None = None,
    max_lag: int | None = None,
) -> dict:
    """The flighting plan of a total budget beside the sequential and static plans of its
    even split (JSON-able, as engine.planning.plan_budgets plus `flighting`); `max_lag`
    cuts the carry-over after that many periods."""
    names = list(names) if names is not None else [f"campaign_{i}" for i in range(curves.size)]
    problem = FlightingProblem(
        curves,
        total,
        periods,
        theta,
        lower,
        upper,
        period_min,
        period_max,
        initial_stock,
        max_lag=max_lag,
    )
    flighting = flighting_report(problem, plan_flighting(problem, time_limit=time_limit), names)
    result = plan_budgets(
        curves,
        even_budgets(problem),
        theta,
        lower,
        upper,
        initial_stock,
        names=names,
        max_lag=max_lag,
    )
    result["flighting"] = flighting
    result["total_response"]["flighting"] = flighting["total_response"]
    return result
