"""Shared fixtures of the dataset tests: a tiny voxel world and synthetic datasets whose pixels say
which episode and frame they are (so windows, splits and alignment can be checked exactly).

Helpers are handed out as fixtures (pytest runs with ``--import-mode=importlib``, so test modules
cannot import each other or this file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from envs.voxel.config import VoxelWorldConfig
from simworld import actions as A
from simworld.data.format import Manifest, canonical_action_schema
from simworld.data.writer import DatasetWriter

#: A 48×48×32 voxel world that generates in milliseconds (as tests/envs/voxel/conftest.py's SMALL).
SMALL_WORLD = {
    "world_size": 48,
    "world_height": 32,
    "terrain_height": 12,
    "terrain_amplitude": 4.0,
    "sea_level": 8,
}


@pytest.fixture
def small_world() -> VoxelWorldConfig:
    """The small voxel world."""
    return VoxelWorldConfig(**SMALL_WORLD)


@pytest.fixture
def small_world_overrides() -> list[str]:
    """``simworld collect`` overrides for the small world."""
    return [f"env.world.{key}={value}" for key, value in SMALL_WORLD.items()]


def synthetic_episode(index: int, steps: int, frame_size: Sequence[int] = (8, 8)) -> dict[str, np.ndarray]:
    """An episode whose frame t has red = t % 256, green = index; actions[t] has camera yaw = t / 1000."""
    H, W = frame_size
    frames = np.zeros((steps + 1, H, W, 3), np.uint8)
    frames[..., 0] = (np.arange(steps + 1) % 256)[:, None, None]
    frames[..., 1] = index % 256
    actions = np.zeros((steps, A.FLAT_DIM), np.float32)
    actions[:, A.FLAT_CAMERA.start + 1] = np.arange(steps) / 1000.0
    actions[:, A.FLAT_HOTBAR.start] = 1.0
    terminated = np.zeros(steps, bool)
    terminated[-1] = True
    pose = np.zeros((steps + 1, 5))
    pose[:, 0] = np.arange(steps + 1)
    return {
        "frames": frames,
        "actions": actions,
        "raw_actions": np.array([f'{{"t":{t}}}' for t in range(steps)]),
        "rewards": np.arange(steps, dtype=np.float32),
        "terminated": terminated,
        "truncated": np.zeros(steps, bool),
        "pose": pose,
    }


@pytest.fixture
def make_dataset() -> Callable[..., Path]:
    """``make_dataset(root, lengths, frame_sizes=None, encoding="npz")``: a synthetic dataset."""

    def make(
        root: Path,
        lengths: Sequence[int],
        frame_sizes: Sequence[Sequence[int]] | None = None,
        encoding: str = "npz",
    ) -> Path:
        header = Manifest(
            env={"id": "test/synthetic", "params": {}},
            action_schema=canonical_action_schema(),
            frames_encoding=encoding,
            ground_truth=["pose"],
            source={"kind": "test"},
        )
        writer = DatasetWriter(root, header)
        for index, steps in enumerate(lengths):
            size = frame_sizes[index] if frame_sizes else (8, 8)
            writer.write(index, synthetic_episode(index, steps, size), {"steps": steps})
        return Path(root)

    return make
