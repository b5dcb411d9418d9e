"""CI runs exactly the test command README gives, and fails on the first failing step."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _readme_test_command() -> str:
    commands = [
        line.strip()
        for line in (REPO / "README.md").read_text().splitlines()
        if re.search(r"\bpytest\b", line) and line.strip().startswith("pip install")
    ]
    assert len(commands) == 1, commands
    return commands[0]


def test_ci_runs_readmes_test_command_verbatim():
    script = (REPO / ".ci" / "run").read_text().splitlines()
    assert _readme_test_command() in [line.strip() for line in script]


def test_ci_stops_on_any_error_and_installs_first():
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    install = lines.index("python -m pip install -r requirements.txt")
    assert install < lines.index(_readme_test_command())


def test_skips_print_their_reason():
    assert "-rs" in _readme_test_command().split() or "-ra" in _readme_test_command().split()
