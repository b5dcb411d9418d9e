"""The core modules the mutation benchmark scores, each with its own test files.

A module's test files are every file that tests it through its public surface (the engine's
functions, or the API routes it serves). Each mutant runs only the tests in them that execute
its statement.
"""

from __future__ import annotations

# The generic KKT allocator and the batched negexp solvers are tested through the same files.
ALLOCATOR_TESTS = (
    "tests/test_allocator.py",
    "tests/test_negexp_allocator.py",
    "tests/test_allocator_edges.py",
    "tests/test_allocator_blend.py",
    "tests/test_allocator_features.py",
    "tests/test_engine_allocators.py",
    "tests/test_scenarios.py",
    "tests/test_planning.py",
    "tests/test_response.py",
)
# The policy framework and the modules split from it are tested through the same files.
FRAMEWORK_TESTS = (
    "tests/test_engine_framework.py",
    "tests/test_engine_refolds.py",
    "tests/test_framework_edges.py",
    "tests/test_engine_edges.py",
    "tests/test_engine_policies.py",
)
# Logging in, tokens and their revocation, first login and throttling: deps and security.
AUTH_TESTS = (
    "tests/test_auth_tokens.py",
    "tests/test_auth_revocation.py",
    "tests/test_auth_passwords.py",
    "tests/test_auth_throttle.py",
)
# `curve`, its decision, its curve family and its priors are tested through the same files.
CURVE_TESTS = (
    "tests/test_curve_policy.py",
    "tests/test_curve_priors.py",
    "tests/test_engine_policies.py",
    "tests/test_curve_edges.py",
    "tests/test_engine_edges.py",
    "tests/test_weekly_profile.py",
    "tests/test_shared_factor.py",
    "tests/test_curve_decision.py",
)

# Module (a file, or a package folder) -> its own test files.
TARGETS: dict[str, tuple[str, ...]] = {
    "engine/allocator.py": ALLOCATOR_TESTS,
    "engine/negexp_allocator.py": ALLOCATOR_TESTS,
    "engine/constraints.py": (
        "tests/test_constraints.py",
        "tests/test_engine_framework.py",
        "tests/test_engine_refolds.py",
        "tests/test_engine_edges.py",
    ),
    "engine/framework.py": FRAMEWORK_TESTS,
    "engine/context.py": FRAMEWORK_TESTS,
    "engine/stored_state.py": FRAMEWORK_TESTS,
    "engine/policies/curve.py": CURVE_TESTS,
    "engine/policies/curve_decision.py": CURVE_TESTS,
    "engine/policies/curve_family.py": CURVE_TESTS,
    "engine/policies/curve_priors.py": CURVE_TESTS,
    "utils/timesteps": (
        "tests/test_timesteps.py",
        "tests/test_timestep_concurrency.py",
        "tests/test_timestep_races.py",
        "tests/test_timestep_edges.py",
        "tests/test_timestep_report_edges.py",
        "tests/test_states.py",
        "tests/test_state_campaign_changes.py",
        "tests/test_state_corrections.py",
        "tests/test_state_deletion.py",
    ),
    "utils/deps.py": ("tests/test_isolation.py", "tests/test_deps.py", *AUTH_TESTS),
    "utils/security.py": ("tests/test_security.py", *AUTH_TESTS),
}
