"""Shared fixtures of the voxel-world tests: a small world, a flat test scene, action builders.

Helpers are handed out as fixtures (pytest runs with ``--import-mode=importlib``, so test modules
cannot import each other or this file).
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the simworld/* ids)
from envs.voxel.blocks import BLOCK_IDS
from envs.voxel.env import VoxelWorldEnv
from envs.voxel.world import VoxelWorld
from simworld import actions as A

#: A 48×48×32 world with terrain that fits it: generates in milliseconds, renders 64×64 fast.
SMALL = {"world_size": 48, "world_height": 32, "terrain_height": 12, "terrain_amplitude": 4.0, "sea_level": 8}
#: Top solid layer of the flat test scene; the player's feet stand at FLOOR_Y + 1.
FLOOR_Y = 10
#: Terrain for flat scenes: hills around the floor height and no trees or huts, so that little
#: needs clearing (the landmarks stay in ``world.landmarks`` for the navigate task).
FLAT_TERRAIN = {"terrain_height": FLOOR_Y, "terrain_amplitude": 2.0, "tree_density": 0.0, "num_huts": 0}


def make_action(**keys) -> dict:
    """A canonical action: no-op plus the given keys (``camera=(pitch, yaw)`` in degrees)."""
    action = A.noop()
    for key, value in keys.items():
        action[key] = np.asarray(value, np.float32) if key == "camera" else value
    return action


def flatten(world: VoxelWorld, floor_y: int = FLOOR_Y, block: str = "stone") -> None:
    """Scenario: a flat floor of ``block`` at ``floor_y``, air above, no mobs, player centred.

    The player stands at the centre of the world on the floor, facing +z (yaw 0), level (pitch 0).
    """
    S, Y = world.blocks.shape[:2]
    world.fill((0, floor_y + 1, 0), (S - 1, Y - 1, S - 1), "air")
    world.fill((0, floor_y, 0), (S - 1, floor_y, S - 1), block)
    assert not world.blocks[:, floor_y + 1 :, :].any()
    assert np.all(world.blocks[:, floor_y, :] == BLOCK_IDS[block])
    world.clear_mobs()
    world.set_pose((S / 2 + 0.5, floor_y + 1, S / 2 + 0.5), yaw=0.0, pitch=0.0)


@pytest.fixture
def small() -> dict:
    """Keyword arguments of the small test world."""
    return dict(SMALL)


@pytest.fixture
def act() -> Callable[..., dict]:
    """``act(forward=1, camera=(0, 15))`` builds a canonical action."""
    return make_action


@pytest.fixture
def flat() -> Callable[..., None]:
    """The flat-scene scenario function (see ``flatten``)."""
    return flatten


@pytest.fixture
def flat_env() -> Callable[..., tuple[VoxelWorldEnv, np.ndarray, dict]]:
    """``env, obs, info = flat_env(**kwargs)``: a small env reset (seed 0) into the flat scene.

    Ground truth is on ("all").

    Extra keyword arguments go to ``gymnasium.make`` (frame size, task, ...); ``scenario`` adds a
    scene-building step after the floor is laid.
    """
    made = []

    def build(
        scenario: Callable[[VoxelWorld], None] | None = None, env_id: str = "simworld/VoxelWorld-v0", **kwargs
    ) -> tuple[VoxelWorldEnv, np.ndarray, dict]:
        kwargs = {**SMALL, **FLAT_TERRAIN, "ground_truth": "all", **kwargs}
        env = gym.make(env_id, **kwargs).unwrapped

        def scene(world: VoxelWorld) -> None:
            flatten(world)
            if scenario is not None:
                scenario(world)

        obs, info = env.reset(seed=0, options={"scenario": scene})
        made.append(env)
        return env, obs, info

    yield build
    for env in made:
        env.close()
