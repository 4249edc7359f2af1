"""The ``env`` config group: which Gymnasium id to build and with which world parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym

from .registration import VOXEL_IDS
from .voxel.config import VoxelWorldConfig


@dataclass
class EnvConfig:
    """An environment to build with ``gymnasium.make`` / ``make_vec``.

    Attributes:
        id: a registered simworld id (``simworld/VoxelWorld-v0``, ``simworld/VoxelNavigate-v0``, ...).
        world: voxel world parameters (frame size, field of view, world size, mobs, ...).
    """

    id: str = "simworld/VoxelWorld-v0"
    world: VoxelWorldConfig = field(default_factory=VoxelWorldConfig)

    def __post_init__(self) -> None:
        if self.id not in VOXEL_IDS:
            raise ValueError(f"unknown env id {self.id!r}; valid ids: {', '.join(VOXEL_IDS)}")

    def make(self, **kwargs: Any) -> gym.Env:
        """``gymnasium.make`` of this env; ``kwargs`` (ground_truth, render_mode, ...) are passed on."""
        return gym.make(self.id, **asdict(self.world), **kwargs)

    def make_vec(self, num_envs: int, **kwargs: Any) -> gym.vector.VectorEnv:
        """``gymnasium.make_vec`` of this env (the native batched implementation)."""
        return gym.make_vec(self.id, num_envs=num_envs, **asdict(self.world), **kwargs)
