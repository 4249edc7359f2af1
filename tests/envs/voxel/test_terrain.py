"""Terrain generation and block types: seeded, complete, Minecraft-like, scaling to big worlds."""

from __future__ import annotations

import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.blocks import BLOCK_IDS, BLOCKS, LANDMARK_BLOCKS, SOLID, TEXTURES, block_id, make_textures
from envs.voxel.config import VoxelWorldConfig
from envs.voxel.env import FrameRenderer
from envs.voxel.terrain import generate

REQUIRED = (
    "grass",
    "dirt",
    "stone",
    "sand",
    "gravel",
    "log",
    "leaves",
    "water",
    "glass",
    "planks",
    "bedrock",
)


@pytest.fixture(scope="module")
def default_worlds():
    config = VoxelWorldConfig()
    return config, [generate(config, seed) for seed in range(3)]


def test_required_block_types_exist():
    for name in REQUIRED:
        assert block_id(name) > 0
    assert len(LANDMARK_BLOCKS) >= 3 and all(name in BLOCK_IDS for name in LANDMARK_BLOCKS)
    assert not SOLID[BLOCK_IDS["water"]] and not SOLID[BLOCK_IDS["air"]] and SOLID[BLOCK_IDS["glass"]]
    with pytest.raises(ValueError, match="valid blocks: air, grass, dirt"):
        block_id("diamond_ore")


def test_textures_are_procedural_and_distinct():
    np.testing.assert_array_equal(make_textures(), TEXTURES)  # fixed, independent of any world seed
    means = []
    for i, block in enumerate(BLOCKS[1:], start=1):
        side = TEXTURES[i, 1]
        opaque = side[..., 3] > 0
        assert opaque.any(), block.name
        assert side[opaque][:, :3].astype(float).std(axis=0).max() > 2.0, block.name  # not a flat colour
        means.append(side[opaque][:, :3].mean(axis=0))
    means = np.array(means)
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(len(means)) * 1e9
    assert gaps.min() > 5.0  # every block looks different from every other
    # cut-out blocks have transparent texels, the others none
    for i, block in enumerate(BLOCKS[1:], start=1):
        assert (TEXTURES[i, ..., 3] == 0).any() == block.cutout, block.name


def test_same_seed_same_world_other_seed_other_world(default_worlds):
    config, worlds = default_worlds
    again = generate(config, 0)
    np.testing.assert_array_equal(again.blocks, worlds[0].blocks)
    np.testing.assert_array_equal(again.spawn, worlds[0].spawn)
    assert [lm.cells for lm in again.landmarks] == [lm.cells for lm in worlds[0].landmarks]
    assert (worlds[0].blocks != worlds[1].blocks).mean() > 0.01


@pytest.mark.parametrize("index", range(3))
def test_default_world_has_everything(default_worlds, index):
    config, worlds = default_worlds
    terrain = worlds[index]
    blocks = terrain.blocks
    assert blocks.shape == (config.world_size, config.world_height, config.world_size)
    present = {BLOCKS[i].name for i in np.unique(blocks)}
    for name in ("grass", "dirt", "stone", "log", "leaves", "bedrock", "planks", "glass"):
        assert name in present, name
    assert np.all(blocks[:, 0, :] == BLOCK_IDS["bedrock"])  # an unbreakable floor
    # hills: the surface is not flat
    assert np.ptp(terrain.heights) >= 4
    # the landmarks stand where they say, in their wool colour
    assert len(terrain.landmarks) == config.num_landmarks
    for lm in terrain.landmarks:
        assert all(blocks[c] == BLOCK_IDS[lm.name] for c in lm.cells)
        x, y, z = lm.base
        assert SOLID[blocks[x, y - 1, z]]  # on the ground, not floating


def test_water_sand_and_gravel_appear_somewhere(default_worlds):
    _, worlds = default_worlds
    present = set()
    for terrain in worlds:
        present |= {BLOCKS[i].name for i in np.unique(terrain.blocks)}
    assert {"water", "sand", "gravel"} <= present


@pytest.mark.parametrize("seed", range(4))
def test_spawn_is_free_and_on_the_ground(default_worlds, seed):
    config, _ = default_worlds
    terrain = generate(config, seed)
    x, y, z = terrain.spawn
    half = P.PLAYER_WIDTH / 2
    lo, hi = np.array([x - half, y, z - half]), np.array([x + half, y + P.PLAYER_HEIGHT, z + half])
    assert not P.box_hits_solid(terrain.blocks, SOLID, lo, hi)
    assert SOLID[terrain.blocks[int(x), int(y) - 1, int(z)]]
    assert terrain.blocks[int(x), int(y) - 1, int(z)] != BLOCK_IDS["water"]


def test_sand_and_gravel_rest_on_solid_ground(default_worlds):
    """Generated gravity blocks are supported (nothing starts to fall at the first tick)."""
    _, worlds = default_worlds
    for terrain in worlds:
        blocks = terrain.blocks
        gravity = np.isin(blocks[:, 1:, :], [BLOCK_IDS["sand"], BLOCK_IDS["gravel"]])
        below = SOLID[blocks[:, :-1, :]]
        assert np.all(below[gravity])


def test_big_world_generates_and_renders():
    """256×256×64 blocks: generation and a 128×128 frame work; the view is not empty."""
    config = VoxelWorldConfig(
        world_size=256,
        world_height=64,
        terrain_height=24,
        terrain_amplitude=12.0,
        num_mobs=8,
        width=128,
        height=128,
    )
    renderer = FrameRenderer(config, 1)
    world = renderer.new_world(0, 0)
    assert world.blocks.shape == (256, 64, 256)
    world.set_pose(pitch=20.0)
    renderer.render([world], True)
    assert (renderer.seg[0] > 0).mean() > 0.3 and (renderer.seg[0] == 0).mean() > 0.05
