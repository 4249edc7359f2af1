"""Fixtures of the learned-env tests: tiny random-weight checkpoints (16×16 frames, window 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simworld.testing import build_tiny_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny checkpoint with 3 bundled 4-frame contexts."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny"))


@pytest.fixture(scope="session")
def reference_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like ``checkpoint``, with a DiT that denoises relative to the previous frame."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("ref") / "tiny", reference="previous"))


@pytest.fixture(scope="session")
def bare_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny checkpoint without bundled contexts or a recorded real env."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("bare") / "tiny", num_contexts=0)


@pytest.fixture(scope="session")
def action_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny checkpoint whose reward clearly depends on the action (``action_gain=10``)."""
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("act") / "tiny", action_gain=10.0))
