"""Mobs: deterministic wandering from the seed, on the ground, visible in segmentation and depth."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.blocks import SOLID
from envs.voxel.config import VoxelWorldConfig
from envs.voxel.mobs import MOB_KINDS, MOB_SIZES, footprint_ground
from envs.voxel.render import ENTITY_SEG_OFFSET
from envs.voxel.world import VoxelWorld
from simworld import actions as A


def _run(config, seed, ticks):
    world = VoxelWorld(config, seed)
    track = [world.entities().copy()]
    for _ in range(ticks):
        world.step(A.noop())
        track.append(world.entities().copy())
    return world, np.stack(track)


@pytest.fixture(scope="module")
def config():
    return VoxelWorldConfig(
        world_size=48, world_height=32, terrain_height=12, terrain_amplitude=4.0, sea_level=8, num_mobs=8
    )


def test_mobs_wander_deterministically_from_the_seed(config):
    _, a = _run(config, 5, 300)
    _, b = _run(config, 5, 300)
    _, c = _run(config, 6, 300)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (301, 8, 5)
    assert not np.array_equal(a[0], c[0])  # another seed, other mobs


def test_mobs_move_over_time(config):
    _, track = _run(config, 5, 400)
    travelled = np.linalg.norm(track[-1, :, [0, 2]] - track[0, :, [0, 2]], axis=0)
    assert (travelled > 1.0).sum() >= 4
    steps = np.linalg.norm(np.diff(track[:, :, [0, 2]], axis=0), axis=2)
    assert steps.max() <= 0.05 + 1e-9  # 1 block/s, never a jump
    moving = (steps > 0).mean()
    assert 0.2 < moving < 0.95  # they walk and idle


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mobs_stay_on_the_ground(config, seed):
    """Every tick: feet on the highest ground under the mob's footprint, its box free of blocks."""
    world = VoxelWorld(config, seed)
    for _ in range(300):
        world.step(A.noop())
        for x, y, z, kind, _ in world.entities():
            width, height = MOB_SIZES[int(kind)]
            assert y == int(y)
            ground, _ = footprint_ground(world.blocks, SOLID, x, y, z, width / 2)
            assert y == ground
            lo = np.array([x - width / 2, y, z - width / 2])
            assert not P.box_hits_solid(world.blocks, SOLID, lo + 1e-6, lo + [width, height, width] - 1e-6)


def test_mob_drops_when_the_ground_under_it_is_broken(flat_env, act):
    env, _, _ = flat_env(lambda w: w.spawn_mob("pig", (24.5, 11.0, 26.5), wander=False))
    env.world.set_block(24, 10, 26, "air")
    env.world.set_block(24, 9, 26, "air")
    assert env.world.entities()[0, 1] == 9.0


def test_mob_in_front_is_segmented_and_at_the_right_depth(flat_env, act):
    """A still pig in front of the player: the centre pixel shows it, at the distance of its face."""

    def scene(world):
        world.spawn_mob("sheep", (22.5, 11.0, 31.5), wander=False)  # index 0, behind, to the right
        world.spawn_mob("pig", (24.5, 11.0, 27.5), wander=False)  # index 1, straight ahead

    env, _, _ = flat_env(scene, width=65, height=65)
    pig_half = MOB_SIZES[0, 0] / 2
    face = np.array([24.5, 11.45, 27.5 - pig_half])  # centre of the pig's north face
    yaw, pitch = env.world.look_at(face)
    env.world.set_pose(yaw=yaw, pitch=pitch)
    obs, _, _, _, info = env.step(act())
    assert info["segmentation"][32, 32] == ENTITY_SEG_OFFSET + 1
    assert info["depth"][32, 32] == pytest.approx(np.linalg.norm(face - env.world.eye()), abs=1e-4)
    # the whole pig is one id, and it is drawn in the frame with its kind's colours (pink)
    pig = info["segmentation"] == ENTITY_SEG_OFFSET + 1
    assert pig.sum() > 100
    assert obs[pig][:, 0].mean() > obs[pig][:, 2].mean()
    # the sheep (index 0) is visible too, with its own id
    assert (info["segmentation"] == ENTITY_SEG_OFFSET).any()
    np.testing.assert_array_equal(info["entities"][:, :3], [[22.5, 11.0, 31.5], [24.5, 11.0, 27.5]])
    np.testing.assert_array_equal(info["entities"][:, 3], [2, 0])  # kind ids: sheep, pig


def test_still_mobs_do_not_move_and_wandering_ones_do(flat_env, act):
    def scene(world):
        world.spawn_mob("zombie", (20.5, 11.0, 20.5), wander=False)
        world.spawn_mob("cow", (30.5, 11.0, 30.5))

    env, _, _ = flat_env(scene)
    for _ in range(200):
        info = env.step(act())[4]
    still, wandering = info["entities"]
    np.testing.assert_array_equal(still[:3], [20.5, 11.0, 20.5])
    assert np.hypot(wandering[0] - 30.5, wandering[2] - 30.5) > 1.0
    assert wandering[1] == 11.0


def test_spawn_mob_rejects_unknown_kinds(flat_env):
    env, _, _ = flat_env()
    with pytest.raises(ValueError, match="valid kinds: " + ", ".join(k for k, *_ in MOB_KINDS)):
        env.world.spawn_mob("creeper", (24.5, 11.0, 27.5))


def test_mobs_are_in_the_default_world_and_in_view_sometimes(small):
    """Mobs spawn near the player: over a look-around some appear in the segmentation."""
    env = gym.make("simworld/VoxelWorld-v0", ground_truth=["segmentation", "entities"], **small).unwrapped
    _, info = env.reset(seed=1)
    assert info["entities"].shape == (4, 5)
    seen = set()
    for _ in range(36):
        info = env.step({**A.noop(), "camera": np.array([0.0, 10.0], np.float32)})[4]
        ids = np.unique(info["segmentation"])
        seen |= {int(s) - ENTITY_SEG_OFFSET for s in ids if s >= ENTITY_SEG_OFFSET}
    assert seen and seen <= set(range(4))
