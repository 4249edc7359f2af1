"""Repository-level promises: the README's two commands, CI running them, the packages importing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_exactly_two_one_line_commands(quick_start_commands: list[str]) -> None:
    commands = quick_start_commands
    assert len(commands) == 2
    assert all("\n" not in command for command in commands)
    setup_and_run, setup_and_test = commands
    assert setup_and_run.startswith(
        "python3 -m venv .venv && .venv/bin/pip install -c constraints-cpu.txt -e ."
    )
    assert setup_and_test.endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim(quick_start_commands: list[str]) -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands[1] in ci_lines


def test_packages_import_in_a_fresh_interpreter() -> None:
    code = "import simworld, envs, evals; print(simworld.__version__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.1.0"
