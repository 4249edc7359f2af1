"""Fixtures of the repository-level tests (README promises, the shipped reference model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def quick_start_commands() -> list[str]:
    """The command blocks of the README's Quick start: (1) set up and run the main job, (2) set up
    and run the tests."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]
