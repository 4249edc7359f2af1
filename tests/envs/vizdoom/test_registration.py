"""The Doom ids are registered without importing ViZDoom, and say how to install it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["vizdoom"] = None  # as if not installed
import gymnasium as gym
import envs
assert "simworld/Doom-v0" in gym.registry
assert "vizdoom" not in [m for m in sys.modules if sys.modules[m] is not None]
try:
    gym.make("simworld/Doom-v0")
except gym.error.DependencyNotInstalled as exc:
    assert "simworld[vizdoom]" in str(exc), exc
else:
    raise SystemExit("expected DependencyNotInstalled")
"""


def test_import_envs_without_vizdoom() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
