"""Equivalent mutants: mutations of the core modules after which no test can fail, because the
mutated program behaves the same. docs/mutation-testing.md argues each one in full.

A mutant is recognised by its module, the function or class around the changed line, and
that line before and after the change (as `ast.unparse` writes them), so an entry follows its
code when lines move, and stops matching (and the mutant counts again) when the code changes.
The benchmark still runs these mutants: one a test kills counts as killed, and only a survivor
that matches an entry leaves the score's denominator, printed as such.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Equivalent:
    path: str
    scope: str  # the qualified name of the def or class around the line, "" at module level
    what: str  # the mutation, as the benchmark names it
    before: str
    after: str
    why: str


EQUIVALENTS: tuple[Equivalent, ...] = (
    Equivalent(
        "engine/allocator.py",
        "solve_monotone_multiplier",
        "1 -> 2",
        "def solve_monotone_multiplier(total_at: Callable[[np.ndarray], np.ndarray], "
        "target: float, low: float, high: float, sections: int=1) -> tuple[float, float]:",
        "def solve_monotone_multiplier(total_at: Callable[[np.ndarray], np.ndarray], "
        "target: float, low: float, high: float, sections: int=2) -> tuple[float, float]:",
        "two multipliers a round converge to the same bracket; only the rounds differ",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "1 -> 2",
        "probes = np.minimum(np.maximum(probes, low + 1), high - 1)",
        "probes = np.minimum(np.maximum(probes, low + 2), high - 1)",
        "probes stay inside the open bracket; any such probes end at the same crossing",
    ),
    Equivalent(
        "engine/allocator.py",
        "solve_budget",
        "statement -> pass",
        "high = np.maximum(high, low)",
        "pass",
        "high < low only when the budget is below the minimums, which returns before use",
    ),
    Equivalent(
        "engine/allocator.py",
        "_solve_envelope",
        "Lt -> LtE",
        "if float(more.sum()) < budget * (1.0 - 1e-09):",
        "if float(more.sum()) <= budget * (1.0 - 1e-09):",
        "up to rounding: differs only when the total is exactly budget * (1 - 1e-9)",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "GtE -> Gt",
        "reaches = path(nu_probe)[0].sum(axis=2) >= budget - slack",
        "reaches = path(nu_probe)[0].sum(axis=2) > budget - slack",
        "up to rounding: differs only at a total of exactly budget - 1e-12 * budget",
    ),
    Equivalent(
        "engine/stored_state.py",
        "StoredState._load",
        "0.0 -> 1.0",
        "if min(state['budgets'], default=0.0) < 0:",
        "if min(state['budgets'], default=1.0) < 0:",
        "the default is read only for no budgets, and 0.0 < 0 and 1.0 < 0 are both false",
    ),
    Equivalent(
        "engine/stored_state.py",
        "StoredState._folded",
        "0.0 -> 1.0",
        "context = self._context(learned, observed, mask, shares.copy(), lower, upper, 0.0)",
        "context = self._context(learned, observed, mask, shares.copy(), lower, upper, 1.0)",
        "a placeholder budget: update_stats must not read it, and no policy's does",
    ),
    Equivalent(
        "engine/allocator.py",
        "",
        "200 -> 201",
        "MAX_BISECTIONS = 200",
        "MAX_BISECTIONS = 201",
        "a cap no loop reaches: each ends at its tolerance within about 60 halvings",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "statement -> pass",
        "bottom = bottom - abs(bottom) * 1e-09",
        "pass",
        "up to rounding: without the hair the bracket starts at 0 instead; same crossing",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "nu = np.where(np.isfinite(share), nu_low + share * (nu_high - nu_low), nu_low)",
        "nu = np.where(np.isfinite(share), nu_low + share * (nu_high + nu_low), nu_low)",
        "up to rounding: a worse first guess, and the safeguarded steps find the same root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "1 -> 2",
        "quarters = np.arange(1, 4)[:, None]",
        "quarters = np.arange(2, 4)[:, None]",
        "two probes inside the open bracket instead of three: the same crossing, in more rounds",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "probes = low + (high - low) * quarters // 4",
        "probes = low + (high + low) * quarters // 4",
        "probes elsewhere, clamped strictly inside the open bracket: the same crossing, "
        "in more rounds",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Add -> Sub",
        "nu = np.where(np.isfinite(share), nu_low + share * (nu_high - nu_low), nu_low)",
        "nu = np.where(np.isfinite(share), nu_low - share * (nu_high - nu_low), nu_low)",
        "up to rounding: a worse first guess, and the safeguarded steps find the same root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Lt -> LtE",
        "inside = (newton > bottom) & (newton < top)",
        "inside = (newton > bottom) & (newton <= top)",
        "up to rounding: a Newton step landing exactly on the top is taken, not bisected",
    ),
    Equivalent(
        "engine/allocator.py",
        "section_count",
        "1 -> 2",
        "return int(np.clip(4096 // max(size, 1), 1, 31))",
        "return int(np.clip(4096 // max(size, 2), 1, 31))",
        "they differ only for sizes 0 and 1, where 4096 and 2048 both clip to 31",
    ),
    Equivalent(
        "engine/allocator.py",
        "inside_stretches",
        "1.0 -> 2.0",
        "return np.flatnonzero(gap > 1e-09 * np.maximum(np.abs(envelope), 1.0))",
        "return np.flatnonzero(gap > 1e-09 * np.maximum(np.abs(envelope), 2.0))",
        "up to rounding: differs only for an envelope over its curve by 1e-9 to 2e-9",
    ),
    Equivalent(
        "engine/stored_state.py",
        "_finite_numbers",
        "return value -> return None",
        "return False",
        "return None",
        "both callers only test `not _finite_numbers(...)`, and None is false like False",
    ),
    Equivalent(
        "engine/constraints.py",
        "share_bounds",
        "0.0 -> 1.0",
        "lower = np.where(active, np.maximum(floor, min_budget / spendable), 0.0)",
        "lower = np.where(active, np.maximum(floor, min_budget / spendable), 1.0)",
        "inactive campaigns' upper bound is 0 and the next line takes the minimum",
    ),
    Equivalent(
        "engine/constraints.py",
        "share_bounds",
        "Gt -> GtE",
        "if total_lower > 1.0:",
        "if total_lower >= 1.0:",
        "at a total of exactly 1.0 the mutant divides by 1.0, which changes no number",
    ),
    Equivalent(
        "engine/constraints.py",
        "project_shares",
        "1.0 -> 2.0",
        "def project_shares(target: np.ndarray, lower: np.ndarray, upper: np.ndarray, "
        "previous: np.ndarray | None=None, step: float=1.0) -> np.ndarray:",
        "def project_shares(target: np.ndarray, lower: np.ndarray, upper: np.ndarray, "
        "previous: np.ndarray | None=None, step: float=2.0) -> np.ndarray:",
        "a step of 1 or more never binds (shares lie in [0, 1]): both skip the step box",
    ),
    Equivalent(
        "engine/constraints.py",
        "project_shares",
        "1.0 -> 2.0",
        "if previous is not None and step < 1.0:",
        "if previous is not None and step < 2.0:",
        "at a step of 1 the step box around shares in [0, 1] is the bounds themselves",
    ),
    Equivalent(
        "engine/constraints.py",
        "project_shares",
        "Lt -> LtE",
        "if previous is not None and step < 1.0:",
        "if previous is not None and step <= 1.0:",
        "at a step of 1 the step box around shares in [0, 1] is the bounds themselves",
    ),
    Equivalent(
        "engine/constraints.py",
        "share_amounts",
        "Gt -> GtE",
        "if excess > 0:",
        "if excess >= 0:",
        "with no excess the mutant takes min(0, room) = 0 back from one budget",
    ),
    Equivalent(
        "engine/constraints.py",
        "share_amounts",
        "Lt -> LtE",
        "short = (budgets > 0) & (budgets < min_budget) & (budgets >= min_budget - slack)",
        "short = (budgets > 0) & (budgets <= min_budget) & (budgets >= min_budget - slack)",
        "a budget exactly at its minimum is 'lifted' to that same number, with room 0 both ways",
    ),
    Equivalent(
        "engine/constraints.py",
        "",
        "60 -> 61",
        "_STEP_BISECTIONS = 60",
        "_STEP_BISECTIONS = 61",
        "up to rounding: 60 halvings leave the step within 4e-15 of itself, shares within 2e-17",
    ),
    Equivalent(
        "engine/framework.py",
        "Policy.refold_base",
        "return value -> return None",
        "return self.initial_stats(n_campaigns, settings)",
        "return None",
        "its one caller folds from initial_stats(n_campaigns, settings) when given None",
    ),
    Equivalent(
        "engine/framework.py",
        "_spent_in",
        "True -> False",
        "pairs = zip(spend, planned, strict=True)",
        "pairs = zip(spend, planned, strict=False)",
        "both callers pass one spend and one budget per campaign, checked before",
    ),
    Equivalent(
        "engine/stored_state.py",
        "StoredState._folded",
        "True -> False",
        "mask = np.full(n_campaigns, True)",
        "mask = np.full(n_campaigns, False)",
        "a placeholder mask: update_stats must not read it, and no policy's does",
    ),
    Equivalent(
        "engine/framework.py",
        "Policy.refold",
        "True -> False",
        "pairs = zip(rows, budgets, strict=True)",
        "pairs = zip(rows, budgets, strict=False)",
        "both lists were checked to hold the state's t rows",
    ),
    Equivalent(
        "engine/framework.py",
        "Policy.advance",
        "True -> False",
        "observed_rows = dict(zip(METRICS, metric_rows, strict=True)) | "
        "{'planned': np.array(planned, dtype=float)}",
        "observed_rows = dict(zip(METRICS, metric_rows, strict=False)) | "
        "{'planned': np.array(planned, dtype=float)}",
        "metric_rows is built with one row per metric of METRICS",
    ),
    Equivalent(
        "engine/policies/curve.py",
        "Curve._folded_sums",
        "1.0 -> 2.0",
        "kept = sums[key] if discount == 1.0 else discount * sums[key]",
        "kept = sums[key] if discount == 2.0 else discount * sums[key]",
        "a discount of 1 multiplies by 1.0, which changes no number",
    ),
    Equivalent(
        "engine/policies/curve.py",
        "Curve.posterior",
        "Mult -> Div",
        "scale = prior_scale[:, None] + 0.5 * np.maximum(s_yy[:, None] + kappa0 * mean0 ** 2 "
        "- kappa * mean ** 2, 0.0)",
        "scale = prior_scale[:, None] + 0.5 * np.maximum(s_yy[:, None] + kappa0 / mean0 ** 2 "
        "- kappa * mean ** 2, 0.0)",
        "the prior mean mean0 is 1.0: kappa0 * 1 and kappa0 / 1 are one number",
    ),
    Equivalent(
        "engine/policies/curve.py",
        "Curve.posterior",
        "2 -> 3",
        "scale = prior_scale[:, None] + 0.5 * np.maximum(s_yy[:, None] + kappa0 * mean0 ** 2 "
        "- kappa * mean ** 2, 0.0)",
        "scale = prior_scale[:, None] + 0.5 * np.maximum(s_yy[:, None] + kappa0 * mean0 ** 3 "
        "- kappa * mean ** 2, 0.0)",
        "the prior mean mean0 is 1.0, and 1.0 ** 3 == 1.0 ** 2",
    ),
    Equivalent(
        "engine/policies/curve_priors.py",
        "CurvePriors.grid_prior",
        "0 -> 1",
        "if self.candidate_priors.shape[0] == 1:",
        "if self.candidate_priors.shape[1] == 1:",
        "the shortcut skips weighing one candidate, whose weight is exactly 1 either way",
    ),
    Equivalent(
        "engine/policies/curve_priors.py",
        "",
        "statement -> pass",
        "\"Variance of a timestep's value over (its value x the value of one conversion): 1 "
        "for\\nPoisson counts, plus the squared coefficient of variation of order values "
        '(0.5 assumed)."',
        "pass",
        "a constant's docstring: a string expression that does nothing when run",
    ),
    Equivalent(
        "engine/policies/curve.py",
        "Curve.sample_curves",
        "Add -> Sub",
        "at_share = post['mean'][rows, chosen] + spread * rng.standard_normal(shape)",
        "at_share = post['mean'][rows, chosen] - spread * rng.standard_normal(shape)",
        "in distribution: -z is a standard normal too, drawn for this term alone",
    ),
    Equivalent(
        "engine/policies/curve_priors.py",
        "CurvePriors.grid_prior",
        "1 -> 2",
        "if self.candidate_priors.shape[0] == 1:",
        "if self.candidate_priors.shape[0] == 2:",
        "there are 1, 3, 6 or 18 candidates, never 2, and one weighs to itself exactly",
    ),
    Equivalent(
        "engine/policies/curve.py",
        "Curve.posterior",
        "Mult -> Div",
        "mean = (kappa0 * mean0 + s_fy) / kappa",
        "mean = (kappa0 / mean0 + s_fy) / kappa",
        "the prior mean mean0 is 1.0: kappa0 * 1 and kappa0 / 1 are one number",
    ),
    Equivalent(
        "engine/policies/curve_priors.py",
        "CurvePriors.amplitude_weight",
        "1 -> 2",
        "average = self.noise_prior(stats, value_unit, np.ones(1), np.ones(1))",
        "average = self.noise_prior(stats, value_unit, np.ones(2), np.ones(1))",
        "two equal campaigns of one report each: the first's prior is the same number",
    ),
    Equivalent(
        "engine/policies/curve_priors.py",
        "CurvePriors.noise_prior",
        "Gt -> GtE",
        "if not (conversions > 0 and counted > 0):",
        "if not (conversions > 0 and counted >= 0):",
        "a counted value of 0 gives counting noise 0, and the floor is taken over it",
    ),
    Equivalent(
        "engine/policies/curve.py",
        "Curve.sample_curves",
        "Lt -> LtE",
        "chosen = (cumulative[None, :, :] < uniforms[:, :, None]).sum(axis=2)",
        "chosen = (cumulative[None, :, :] <= uniforms[:, :, None]).sum(axis=2)",
        "in distribution: differs only for a uniform equal to a cumulative weight (2^-53 odds)",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "",
        "statement -> pass",
        "'Fresh posterior draws that judge the candidates.'",
        "pass",
        "a constant's docstring: a string expression that does nothing when run",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "step_box",
        "Lt -> LtE",
        "step = effective_step(lower, upper, previous, step) if step < 1.0 else 1.0",
        "step = effective_step(lower, upper, previous, step) if step <= 1.0 else 1.0",
        "at a step of 1 effective_step answers 1 (a step >= the one given, at most 1)",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "step_box",
        "1.0 -> 2.0",
        "step = effective_step(lower, upper, previous, step) if step < 1.0 else 1.0",
        "step = effective_step(lower, upper, previous, step) if step < 1.0 else 2.0",
        "shares and bounds lie in [0, 1]: a step of 1 or 2 around them reaches the whole bounds",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "step_box",
        "1.0 -> 2.0",
        "step = effective_step(lower, upper, previous, step) if step < 1.0 else 1.0",
        "step = effective_step(lower, upper, previous, step) if step < 2.0 else 1.0",
        "steps are at most 1 (settings refuse more), and at 1 effective_step answers 1",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "project_batch",
        "Lt -> LtE",
        "piece = np.clip((totals < 1.0).sum(axis=1) - 1, 0, 2 * n_campaigns - 2)",
        "piece = np.clip((totals <= 1.0).sum(axis=1) - 1, 0, 2 * n_campaigns - 2)",
        "a total of exactly 1 at a kink gives tau at that kink, or on the flat stretch after "
        "it, where every share sits at a bound: the same shares",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "project_batch",
        "1.0 -> 2.0",
        "tau = kinks[rows, piece] + np.clip((1.0 - left) / (right - left), 0.0, 1.0) * width",
        "tau = kinks[rows, piece] + np.clip((1.0 - left) / (right - left), 0.0, 2.0) * width",
        "a fraction above 1 only past the last kink (caps summing below 1), where every share "
        "is at its cap either way",
    ),
    Equivalent(
        "engine/policies/curve_decision.py",
        "candidates",
        "1 -> 2",
        "targets = np.concatenate([current[None, :], mixes.reshape(-1, current.size)])",
        "targets = np.concatenate([current[None, :], mixes.reshape(-2, current.size)])",
        "numpy's reshape reads any negative size as the one to infer, as it reads -1",
    ),
    Equivalent(
        "utils/timesteps/due.py",
        "",
        "8 -> 9",
        "_PER_WORKER = 8",
        "_PER_WORKER = 9",
        "how many due states advance side by side; each still advances once, the same way",
    ),
    Equivalent(
        "utils/timesteps/due.py",
        "_outcome_row",
        "And -> Or",
        "if error is None and updated is not None:",
        "if error is None or updated is not None:",
        "`advance` returns a state or raises: updated is None exactly when error is not",
    ),
    Equivalent(
        "utils/timesteps/refolds.py",
        "PendingRefold",
        "0.0 -> 1.0",
        "retired: float = 0.0",
        "retired: float = 1.0",
        "the one PendingRefold made (pending_refold) always passes `retired`",
    ),
    Equivalent(
        "utils/timesteps/advancing.py",
        "PendingStep",
        "True -> False",
        "@dataclass(frozen=True)",
        "@dataclass(frozen=False)",
        "nothing assigns to a pending step's fields",
    ),
    Equivalent(
        "utils/timesteps/refolds.py",
        "PendingRefold",
        "True -> False",
        "@dataclass(frozen=True)",
        "@dataclass(frozen=False)",
        "nothing assigns to a pending refold's fields",
    ),
    Equivalent(
        "utils/timesteps/reports.py",
        "Recorded",
        "True -> False",
        "@dataclass(frozen=True)",
        "@dataclass(frozen=False)",
        "nothing assigns to a Recorded's fields",
    ),
    Equivalent(
        "utils/timesteps/runs.py",
        "_by_campaign",
        "True -> False",
        "return {cid: float(v) for cid, v in zip(ids, values, strict=True)}",
        "return {cid: float(v) for cid, v in zip(ids, values, strict=False)}",
        "a decision has one value per campaign of its state: the lengths always agree",
    ),
    Equivalent(
        "utils/timesteps/due.py",
        "run_due",
        "1 -> 2",
        "slots = asyncio.Semaphore(_PER_WORKER * pool.workers or 1)",
        "slots = asyncio.Semaphore(_PER_WORKER * pool.workers or 2)",
        "without workers, how many states advance side by side; each still advances once",
    ),
    Equivalent(
        "utils/timesteps/errors.py",
        "StateConflict.__init__",
        "statement -> pass",
        "super().__init__(detail)",
        "pass",
        "every reader takes .detail and .current_time; none formats or pickles the exception",
    ),
    Equivalent(
        "utils/security.py",
        "_verified_claims",
        "4096 -> 4097",
        "@functools.lru_cache(maxsize=4096)",
        "@functools.lru_cache(maxsize=4097)",
        "the cache's size bounds memory only; expiry and revocation are checked on every call",
    ),
    Equivalent(
        "utils/security.py",
        "_read_or_create_key",
        "True -> False",
        "draft.unlink(missing_ok=True)",
        "draft.unlink(missing_ok=False)",
        "the draft always exists there: made by this call under a name no other call uses",
    ),
    Equivalent(
        "utils/security.py",
        "_read_or_create_key",
        "4 -> 5",
        "draft = path.with_name(f'.secret_key.{os.getpid()}.{secrets.token_hex(4)}')",
        "draft = path.with_name(f'.secret_key.{os.getpid()}.{secrets.token_hex(5)}')",
        "the draft's name need only differ from other starters'; it is removed before return",
    ),
    Equivalent(
        "utils/deps.py",
        "_principal_from_claims",
        "statement -> pass",
        "allowed &= set(credential.get('scopes', allowed))",
        "pass",
        "a credential's token carries only its scopes, and a credential's scopes never change",
    ),
    Equivalent(
        "utils/deps.py",
        "Principal",
        "False -> True",
        "admin_account: bool = False",
        "admin_account: bool = True",
        "the one Principal made (_principal_from_claims) always passes admin_account",
    ),
    Equivalent(
        "utils/deps.py",
        "Tenant",
        "True -> False",
        "@dataclass(frozen=True)",
        "@dataclass(frozen=False)",
        "nothing assigns to a tenant's fields",
    ),
    Equivalent(
        "utils/deps.py",
        "Principal",
        "True -> False",
        "@dataclass(frozen=True)",
        "@dataclass(frozen=False)",
        "nothing assigns to a principal's fields",
    ),
    Equivalent(
        "utils/deps.py",
        "",
        "False -> True",
        "oauth2_scheme = OAuth2PasswordBearer(tokenUrl='/api/auth/token', scopes=SCOPES, "
        "auto_error=False)",
        "oauth2_scheme = OAuth2PasswordBearer(tokenUrl='/api/auth/token', scopes=SCOPES, "
        "auto_error=True)",
        "without a token FastAPI's own 401 is Oktopus's: same status, detail and header",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "LtE -> Lt",
        "settled = at_step | (np.abs(gap) <= slack) | (top - bottom <= 1e-15 * np.abs(nu))",
        "settled = at_step | (np.abs(gap) <= slack) | (top - bottom < 1e-15 * np.abs(nu))",
        "a collapsed bracket (top == bottom at nu == 0) repeats the same point until the cap",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "statement -> pass",
        "spend = np.clip(spend - weights * gap[:, None], lower, upper)",
        "pass",
        "up to rounding: the gap (within 1e-12 of the budget) goes in turn instead of by slopes",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "1e-300 -> 1.0",
        "weights = slope / np.minimum(slope.sum(axis=1, keepdims=True), -1e-300)",
        "weights = slope / np.minimum(slope.sum(axis=1, keepdims=True), -1.0)",
        "up to rounding: the last step under-applied; the rest of a gap within 1e-12 goes in turn",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "blend_tangent",
        "64 -> 65",
        "@lru_cache(maxsize=64)",
        "@lru_cache(maxsize=65)",
        "the cache size only: blend_tangent answers the same, cached or not",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Mult -> Div",
        "nu = np.where(np.isfinite(share), nu_low + share * (nu_high - nu_low), nu_low)",
        "nu = np.where(np.isfinite(share), nu_low + share / (nu_high - nu_low), nu_low)",
        "up to rounding: a worse first guess, and the safeguarded steps find the same root",
    ),
    # utils/timesteps, every mutation point swept
    Equivalent(
        "utils/timesteps/__init__.py",
        "",
        "statement -> pass",
        "__all__ = ['InvalidRequest', 'PendingRefold', 'PendingStep', 'Recorded', "
        "'StateChanged', 'StateConflict', 'advance', 'check_timestep_ran', 'commit_refold', "
        "'commit_step', 'create_state', 'delete_state', 'history_rows', 'metric_rows', "
        "'pending_refold', 'pending_step', 'rebalanced_states', 'record_metrics', 'refold', "
        "'run_due', 'save_rebalanced', 'set_paused', 'state_view', 'store_metrics']",
        "pass",
        "__all__ only steers `import *`, which nothing does; every name stays importable",
    ),
    Equivalent(
        "utils/timesteps/driver.py",
        "",
        "statement -> pass",
        "P = TypeVar('P')",
        "pass",
        "P is read only in annotations, which `from __future__ import annotations` never runs",
    ),
    Equivalent(
        "utils/timesteps/driver.py",
        "",
        "statement -> pass",
        "R = TypeVar('R')",
        "pass",
        "R is read only in annotations, which `from __future__ import annotations` never runs",
    ),
    Equivalent(
        "utils/timesteps/driver.py",
        "read_decide_commit",
        "statement -> pass",
        "pending = None",
        "pass",
        "read only after the loop, which every caller runs at least once (3 or 10 attempts)",
    ),
    Equivalent(
        "utils/timesteps/refolds.py",
        "refold.commit",
        "True -> False",
        "return True if commit_refold(store, pending, decision) else RETRY",
        "return False if commit_refold(store, pending, decision) else RETRY",
        "any outcome but RETRY ends the loop, and `refold` discards the outcome",
    ),
    Equivalent(
        "utils/timesteps/advancing.py",
        "advance.changed_too_often",
        "1 -> 2",
        "t = step.state['current_time'] if step else -1",
        "t = step.state['current_time'] if step else -2",
        "advance's read returns a step or raises, never None: the fallback is never read",
    ),
    Equivalent(
        "engine/allocator.py",
        "KKTSolution",
        "True -> False",
        "@dataclass(frozen=True)",
        "@dataclass(frozen=False)",
        "nothing assigns to a solution's fields",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "blend_tangent",
        "50.0 -> 51.0",
        "return float(brentq(gap, 1e-06, 50.0))",
        "return float(brentq(gap, 1e-06, 51.0))",
        "up to rounding: the one root (below 1.26) lies inside both brackets, found to 2e-12",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "1.0 -> 2.0",
        "top = top * (1.0 + 1e-09) + 1e-300",
        "top = top * (2.0 + 1e-09) + 1e-300",
        "up to rounding: a top twice as high is still a valid bracket end, one halving more",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "1e-09 -> 1.000000001",
        "top = top * (1.0 + 1e-09) + 1e-300",
        "top = top * (1.0 + 1.000000001) + 1e-300",
        "up to rounding: a top twice as high is still a valid bracket end, one halving more",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Div -> Mult",
        "newton = nu - gap / slope.sum(axis=1)",
        "newton = nu - gap * slope.sum(axis=1)",
        "up to rounding: wrong Newton steps, kept inside the shrinking bracket, find the same root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "1 -> 2",
        "open_ = high - low > 1",
        "open_ = high - low > 2",
        "a stretch end comes as two equal breakpoints, so the one left unprobed is a kink at most",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "Sub -> Add",
        "bottom = bottom - abs(bottom) * 1e-09",
        "bottom = bottom + abs(bottom) * 1e-09",
        "up to rounding: a bottom that misses the upper bounds is replaced by 0; same crossing",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "Mult -> Div",
        "bottom = bottom - abs(bottom) * 1e-09",
        "bottom = bottom - abs(bottom) / 1e-09",
        "up to rounding: a negative bottom is searched from 0, as the fallback is; same crossing",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "1e-09 -> 1.000000001",
        "bottom = bottom - abs(bottom) * 1e-09",
        "bottom = bottom - abs(bottom) * 1.000000001",
        "up to rounding: a negative bottom is searched from 0, as the fallback is; same crossing",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "GtE -> Gt",
        "if bottom > 0 and (not np.all(kkt_path(curves, lower, upper, weights)(bottom) >= upper)):",
        "if bottom > 0 and (not np.all(kkt_path(curves, lower, upper, weights)(bottom) > upper)):",
        "up to rounding: the clipped path never exceeds upper, so the bracket starts at 0",
    ),
    Equivalent(
        "engine/allocator.py",
        "bracket_multiplier",
        "1e-300 -> 1.0",
        "top = top * (1.0 + 1e-09) + 1e-300",
        "top = top * (1.0 + 1e-09) + 1.0",
        "up to rounding: a higher top is still a valid bracket end, one halving more",
    ),
    Equivalent(
        "engine/allocator.py",
        "spend_between",
        "Gt -> GtE",
        "if upper is not None and shortfall > 0:",
        "if upper is not None and shortfall >= 0:",
        "a shortfall of 0 fills nothing: fill_in_turn adds clip(0 - before, 0, room) = 0",
    ),
    Equivalent(
        "engine/allocator.py",
        "solve_monotone_multiplier",
        "1 -> 2",
        "fractions = np.arange(1, sections + 1) / (sections + 1)",
        "fractions = np.arange(1, sections + 1) / (sections + 2)",
        "up to rounding: multipliers short of the top still narrow the bracket, in more rounds",
    ),
    Equivalent(
        "engine/allocator.py",
        "solve_monotone_multiplier",
        "1 -> 2",
        "fractions = np.arange(1, sections + 1) / (sections + 1)",
        "fractions = np.arange(1, sections + 2) / (sections + 1)",
        "up to rounding: a multiplier at the top narrows the bracket no worse; same crossing",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp",
        "0.0 -> 1.0",
        "breaks = np.where(finite, breaks, np.where(np.isfinite(floor_nu), floor_nu, 0.0))",
        "breaks = np.where(finite, breaks, np.where(np.isfinite(floor_nu), floor_nu, 1.0))",
        "a draw with no finite breakpoint spends the same at every finite multiplier",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp",
        "GtE -> Gt",
        "enough = totals >= budget",
        "enough = totals > budget",
        "up to rounding: a breakpoint total equal to the budget is reached from the piece below",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend.path",
        "False -> True",
        "def path(nu: np.ndarray, left_row: int | None=None, with_slope: bool=False) -> "
        "tuple[np.ndarray, np.ndarray | None]:",
        "def path(nu: np.ndarray, left_row: int | None=None, with_slope: bool=True) -> "
        "tuple[np.ndarray, np.ndarray | None]:",
        "the calls relying on the default discard the slope; computing it changes nothing",
    ),
    Equivalent(
        "engine/allocator.py",
        "_settle_straight_stretches",
        "Gt -> GtE",
        "if turned_value > best_value:",
        "if turned_value >= best_value:",
        "a tie to the last bit swaps in an answer of the same value (the same spends where no "
        "money moves)",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Add -> Sub",
        "probes = low + (high - low) * quarters // 4",
        "probes = low - (high - low) * quarters // 4",
        "probes below the bracket are clamped to its first breakpoint: a linear search, same "
        "breakpoint",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "GtE -> Gt",
        "at_step = (high == count) | (low < 0) | (total_high >= budget - slack)",
        "at_step = (high == count) | (low < 0) | (total_high > budget - slack)",
        "up to rounding: differs only at a total of exactly budget - 1e-12 * budget",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "statement -> pass",
        "top = np.where(reached, top, nu)",
        "pass",
        "up to rounding: a bracket that only shrinks from below; Newton's steps still reach the "
        "root",
    ),
    Equivalent(
        "engine/allocator.py",
        "_settle_straight_stretches",
        "Gt -> GtE",
        "if worth > best_value * (1 + 1e-12) + 1e-12:",
        "if worth >= best_value * (1 + 1e-12) + 1e-12:",
        "up to rounding: differs only at a value exactly at the threshold, a gain of 1e-12 "
        "either way",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend.path",
        "Lt -> LtE",
        "free = on_curve & (raw > lowest_spend) & (raw < highest_spend)",
        "free = on_curve & (raw > lowest_spend) & (raw <= highest_spend)",
        "up to rounding: a spend exactly at its cap only changes the slope Newton steers by",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "4 -> 5",
        "quarters = np.arange(1, 4)[:, None]",
        "quarters = np.arange(1, 5)[:, None]",
        "a fourth probe at the bracket's top is clamped inside it; any probes inside end the same",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "probes = np.minimum(np.maximum(probes, low + 1), high - 1)",
        "probes = np.minimum(np.maximum(probes, low + 1), high + 1)",
        "in an open bracket the probes never reach its top, and a closed row's probe is discarded",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "reaches = path(nu_probe)[0].sum(axis=2) >= budget - slack",
        "reaches = path(nu_probe)[0].sum(axis=2) >= budget + slack",
        "up to rounding: a breakpoint within 1e-12 of the budget may count as reached, or not",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Lt -> LtE",
        "at_step = (high == count) | (low < 0) | (total_high >= budget - slack)",
        "at_step = (high == count) | (low <= 0) | (total_high >= budget - slack)",
        "between the two lowest breakpoints only one curve is off its cap: the fill in turn is "
        "its root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "share = (total_low - budget) / (total_low - total_high)",
        "share = (total_low + budget) / (total_low - total_high)",
        "up to rounding: a first guess outside the bracket is bracketed and stepped to the same "
        "root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "share = (total_low - budget) / (total_low - total_high)",
        "share = (total_low - budget) / (total_low + total_high)",
        "up to rounding: a first guess elsewhere in the bracket; the safeguarded steps find the "
        "same root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "GtE -> Gt",
        "reached = gap >= 0",
        "reached = gap > 0",
        "a gap of exactly 0 is settled; the bracket update at it is never used",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Sub -> Add",
        "newton = nu - gap / slope.sum(axis=1)",
        "newton = nu + gap / slope.sum(axis=1)",
        "up to rounding: a step the wrong way leaves the bracket and is replaced by a bisection",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Gt -> GtE",
        "jumped = ~at_step & (np.abs(gap) > slack)",
        "jumped = ~at_step & (np.abs(gap) >= slack)",
        "up to rounding: a gap of exactly the slack is spent between bracket ends within the slack",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend.path",
        "0.5 -> 1.5",
        "slope = 0.5 * root / ((four_blend * z - peak) * mu)",
        "slope = 1.5 * root / ((four_blend * z - peak) * mu)",
        "a common factor of the slopes: Newton's steps shrink, the last step's weights do not "
        "change",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend.path",
        "Gt -> GtE",
        "free = on_curve & (raw > lowest_spend) & (raw < highest_spend)",
        "free = on_curve & (raw >= lowest_spend) & (raw < highest_spend)",
        "up to rounding: a spend exactly at its minimum only changes the slope Newton steers by",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Gt -> GtE",
        "breaks = np.concatenate([log_line, np.where(lower > beyond, log_marginal(lower), "
        "log_line), np.where(upper > beyond, log_marginal(upper), log_line)], axis=1)",
        "breaks = np.concatenate([log_line, np.where(lower >= beyond, log_marginal(lower), "
        "log_line), np.where(upper > beyond, log_marginal(upper), log_line)], axis=1)",
        "up to rounding: at a minimum exactly at the tangent point both breakpoints are its "
        "log_line",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Gt -> GtE",
        "breaks = np.concatenate([log_line, np.where(lower > beyond, log_marginal(lower), "
        "log_line), np.where(upper > beyond, log_marginal(upper), log_line)], axis=1)",
        "breaks = np.concatenate([log_line, np.where(lower > beyond, log_marginal(lower), "
        "log_line), np.where(upper >= beyond, log_marginal(upper), log_line)], axis=1)",
        "up to rounding: at a cap exactly at the tangent point both breakpoints are its log_line",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "4 -> 5",
        "probes = low + (high - low) * quarters // 4",
        "probes = low + (high - low) * quarters // 5",
        "fifths instead of quarters: probes still inside the bracket, which ends at the same "
        "breakpoint",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "0 -> 1",
        "at_step = (high == count) | (low < 0) | (total_high >= budget - slack)",
        "at_step = (high == count) | (low < 1) | (total_high >= budget - slack)",
        "between the two lowest breakpoints only one curve is off its cap: the fill in turn is "
        "its root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Gt -> GtE",
        "inside = (newton > bottom) & (newton < top)",
        "inside = (newton >= bottom) & (newton < top)",
        "a Newton step onto the bracket's end is a root to rounding, settled by the gap test",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "1 -> 2",
        "nu_high = breaks[draw_index, np.minimum(high, count - 1)]",
        "nu_high = breaks[draw_index, np.minimum(high, count - 2)]",
        "between the two largest breakpoints every curve sits at its minimum: the budget is the "
        "floor",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "LtE -> Lt",
        "settled = at_step | (np.abs(gap) <= slack) | (top - bottom <= 1e-15 * np.abs(nu))",
        "settled = at_step | (np.abs(gap) < slack) | (top - bottom <= 1e-15 * np.abs(nu))",
        "up to rounding: a gap of exactly the slack takes one more step to the same root",
    ),
    Equivalent(
        "engine/negexp_allocator.py",
        "allocate_negexp_blend",
        "Mult -> Div",
        "settled = at_step | (np.abs(gap) <= slack) | (top - bottom <= 1e-15 * np.abs(nu))",
        "settled = at_step | (np.abs(gap) <= slack) | (top - bottom <= 1e-15 / np.abs(nu))",
        "up to rounding: a looser or tighter width stop; Newton ends by the gap test first",
    ),
)


def scope_at(tree: ast.AST, line: int) -> str:
    """The qualified name of the innermost def or class (with its decorators) holding `line`."""
    best: tuple[int, str] = (-1, "")

    def visit(node: ast.AST, prefix: str) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                if start <= line <= (child.end_lineno or child.lineno) and start > best[0]:
                    best = (start, name)
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return best[1]


def equivalent_for(path: str, what: str, original: str, mutated: str) -> Equivalent | None:
    """The documented equivalent that a mutant of `path` doing `what` (its unparsed source
    before and after the mutation) is, if any."""
    if not any((entry.path, entry.what) == (path, what) for entry in EQUIVALENTS):
        return None
    before, after = original.splitlines(), mutated.splitlines()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    changed = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if len(changed) != 1 or changed[0][0] != "replace":
        return None
    _, a_start, a_end, b_start, b_end = changed[0]
    if a_end - a_start != 1 or b_end - b_start != 1:
        return None
    old, new = before[a_start].strip(), after[b_start].strip()
    scope = scope_at(ast.parse(original), a_start + 1)
    for entry in EQUIVALENTS:
        if (entry.path, entry.scope, entry.what, entry.before, entry.after) == (
            path,
            scope,
            what,
            old,
            new,
        ):
            return entry
    return None
