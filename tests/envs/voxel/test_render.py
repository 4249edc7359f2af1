"""Renderer ground truth (depth, segmentation, intrinsics, pose) and frame sizes / aspect ratios."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.blocks import BLOCK_IDS, BLOCKS, TEXTURES
from envs.voxel.env import FrameRenderer, make_config
from envs.voxel.render import SKY_SEG, camera_basis, intrinsics, render_batch

REPO = Path(__file__).resolve().parents[3]

FLOOR_TOP = 11.0  # top face of the flat scene's floor (FLOOR_Y + 1)


def _raycast(world):
    eye = world.eye()
    d = P.view_direction(world.player[P.YAW], world.player[P.PITCH])
    return P.raycast(world.blocks, *eye, *d, P.REACH)


def test_centre_depth_equals_raycast_distance_on_terrain(small, act):
    """65×65 (odd) frame: the centre pixel's ray is the view axis, so planar depth = ray distance."""
    env = gym.make("simworld/VoxelWorld-v0", width=65, height=65, ground_truth="all", **small).unwrapped
    env.reset(seed=3)
    world = env.world
    checked = 0
    for yaw in range(0, 360, 30):
        for pitch in (25.0, 40.0, 55.0, 70.0, 89.0):
            world.set_pose(yaw=yaw + 7.3, pitch=pitch)
            _, _, _, _, info = env.step(act())  # no keys: the view stays, mobs may move
            hit, x, y, z, *_, distance = _raycast(world)
            if not hit or info["segmentation"][32, 32] >= 1000:  # a mob in front of the block
                continue
            assert info["target"][0] == 1 and tuple(info["target"][1:4]) == (x, y, z)
            assert info["depth"][32, 32] == pytest.approx(distance, abs=1e-4)
            assert info["segmentation"][32, 32] == world.blocks[x, y, z]
            checked += 1
    assert checked >= 40


def test_centre_depth_on_a_wall_at_known_distance(flat_env, act):
    """Facing a stone wall whose face is at z = 27: depth along the axis is 27 - eye z, exactly."""
    env, _, _ = flat_env(lambda w: w.fill((20, 11, 27), (28, 14, 27), "glass"), width=65, height=65)
    env.world.set_block(24, 12, 27, "stone")
    _, _, _, _, info = env.step(act())
    eye = env.world.eye()
    assert info["segmentation"][32, 32] == BLOCK_IDS["stone"]
    assert info["depth"][32, 32] == pytest.approx(27.0 - eye[2], abs=1e-5)
    assert _raycast(env.world)[-1] == pytest.approx(27.0 - eye[2], abs=1e-12)


def test_depth_unprojects_onto_the_floor_plane(flat_env, act):
    """Every floor pixel, unprojected with K, the pose and depth, lands on the plane y = 11."""
    env, _, _ = flat_env(width=96, height=72)
    env.world.set_pose(yaw=33.0, pitch=35.0)
    _, _, _, _, info = env.step(act())
    K, pose, depth, seg = info["intrinsics"], info["pose"], info["depth"], info["segmentation"]
    np.testing.assert_array_equal(K, intrinsics(96, 72, 70.0))
    floor = seg == BLOCK_IDS["stone"]
    assert floor.mean() > 0.4
    v, u = np.nonzero(floor)
    rays = np.linalg.inv(K) @ np.stack([u + 0.5, v + 0.5, np.ones_like(u, dtype=np.float64)])
    points = camera_basis(pose[3], pose[4]) @ (rays * depth[v, u]) + pose[:3, None]
    np.testing.assert_allclose(points[1], FLOOR_TOP, atol=2e-4)
    # and sky pixels have infinite depth, everything else finite
    assert np.all(np.isinf(depth[seg == SKY_SEG])) and np.all(np.isfinite(depth[seg != SKY_SEG]))


SIZES = [(64, 64), (128, 128), (64, 112), (112, 64), (360, 640)]


@pytest.mark.parametrize("height,width", SIZES)
def test_any_frame_size_renders_sky_above_ground(flat_env, act, height, width):
    env, obs, _ = flat_env(width=width, height=height)
    assert obs.shape == (height, width, 3) == env.observation_space.shape and obs.dtype == np.uint8
    # looking 20° up over the flat floor: sky at the top, floor at the bottom
    env.world.set_pose(pitch=-20.0)
    obs, _, _, _, info = env.step(act())
    seg, depth = info["segmentation"], info["depth"]
    assert seg.shape == depth.shape == (height, width)
    assert np.all(seg[: height // 2] == SKY_SEG)
    assert np.all(seg[-max(1, height // 10) :] == BLOCK_IDS["stone"])
    sky, ground = obs[seg == SKY_SEG].astype(float), obs[seg != SKY_SEG].astype(float)
    assert sky[:, 2].mean() > sky[:, 0].mean() + 40  # blue sky
    assert abs(sky[:, 2].mean() - ground[:, 2].mean()) > 40  # the floor is not sky-coloured
    assert ground.std(0).max() > 3  # textured, not a flat colour
    # the same scene seen at a different size differs only by resampling: the horizon (first floor
    # row of the centre column) sits at the same height fraction as the pinhole model predicts
    col = width // 2
    first_floor = int(np.argmax(seg[:, col] != SKY_SEG))
    predicted = _predicted_first_floor_row(env, height, width, col)
    assert abs(first_floor - predicted) <= 1


def _predicted_first_floor_row(env, height, width, col):
    """First image row (at column ``col``) whose ray meets the floor top inside the world."""
    world = env.world
    eye = world.eye()
    R = camera_basis(world.player[P.YAW], world.player[P.PITCH])
    K_inv = np.linalg.inv(intrinsics(width, height, env.config.fov_y))
    S = world.blocks.shape[0]
    for row in range(height):
        d = R @ K_inv @ np.array([col + 0.5, row + 0.5, 1.0])
        if d[1] >= 0:
            continue
        t = (FLOOR_TOP - eye[1]) / d[1]
        hit = eye + t * d
        if 0 <= hit[0] < S and 0 <= hit[2] < S:
            return row
    raise AssertionError("no floor row predicted")


def test_horizon_fraction_matches_across_aspect_ratios(flat_env, act):
    """Same vertical FOV: the horizon lands at the same fraction of the height at any aspect."""
    fractions = {}
    for height, width in SIZES:
        env, _, _ = flat_env(width=width, height=height)
        env.world.set_pose(pitch=-20.0)
        _, _, _, _, info = env.step(act())
        seg = info["segmentation"]
        # the centre column(s): average both middle columns for even widths
        cols = [width // 2 - 1, width // 2] if width % 2 == 0 else [width // 2]
        first = np.mean([np.argmax(seg[:, c] != SKY_SEG) for c in cols])
        fractions[(height, width)] = first / height
    values = np.array(list(fractions.values()))
    # one row of the smallest frame (64) is 1/64 ≈ 0.016 of the height
    assert values.max() - values.min() <= 1.5 / 64, fractions
    # and the horizon is where it should be: well below the middle when looking 20° up
    assert 0.7 < values.mean() < 0.9


def test_wider_frames_see_more_not_stretched(flat_env, act):
    """64×112 shows the 64×64 view plus more on the sides: the centre 64 columns agree closely."""
    env_sq, _, _ = flat_env(width=64, height=64)
    env_wide, _, _ = flat_env(width=112, height=64)
    for env in (env_sq, env_wide):
        env.world.set_pose(yaw=20.0, pitch=30.0)
    square = env_sq.step(act())[4]["segmentation"]
    wide = env_wide.step(act())[4]["segmentation"]
    # same focal length (same height and vertical FOV): pixel (i, j) of the square image is pixel
    # (i, j + 24) of the wide one, exactly the same ray
    np.testing.assert_array_equal(wide[:, 24:88], square)
    d_sq = env_sq.step(act())[4]["depth"]
    d_wide = env_wide.step(act())[4]["depth"]
    np.testing.assert_array_equal(d_wide[:, 24:88], d_sq)


def test_segmentation_names_the_blocks_seen(flat_env, act):
    """A column of distinct blocks in front: each row band is labelled with its block id."""
    names = ["dirt", "planks", "red_wool"]

    def column(world):
        for k, name in enumerate(names):
            world.fill((20, 11 + k, 28), (28, 11 + k, 28), name)

    env, _, _ = flat_env(column, width=65, height=65)
    _, _, _, _, info = env.step(act())
    seg = info["segmentation"]
    seen = {BLOCKS[i].name for i in np.unique(seg) if 0 < i < len(BLOCKS)}
    assert set(names) <= seen
    # the centre pixel looks level at y = 12.62: the planks row (y in [12, 13))
    assert seg[32, 32] == BLOCK_IDS["planks"]


def test_motion_is_visible(flat_env, act):
    """Textures, not flat colours: a small step or turn changes the frame."""
    env, obs0, _ = flat_env()
    env.world.set_pose(pitch=40.0)
    obs1 = env.step(act())[0]
    obs2 = env.step(act(forward=1))[0]
    obs3 = env.step(act(camera=(0.0, 2.0)))[0]
    assert (obs1 != obs2).any(axis=-1).mean() > 0.3
    assert (obs2 != obs3).any(axis=-1).mean() > 0.3


def test_intrinsics_follow_fov(small):
    env = gym.make(
        "simworld/VoxelWorld-v0", width=100, height=50, fov_y=90.0, ground_truth=["intrinsics"], **small
    ).unwrapped
    _, info = env.reset(seed=0)
    K = info["intrinsics"]
    assert K[0, 0] == K[1, 1] == pytest.approx(25.0 / math.tan(math.radians(45.0)))
    assert (K[0, 2], K[1, 2]) == (50.0, 25.0)


LOOK_UP_DOWN = r"""
import numpy as np
from envs.voxel.config import VoxelWorldConfig
from envs.voxel.env import FrameRenderer

config = VoxelWorldConfig(world_size=48, world_height=32, terrain_height=12, terrain_amplitude=4.0,
                          sea_level=8)
renderer = FrameRenderer(config, 1)
for seed in range(3):
    world = renderer.new_world(0, seed)
    for yaw in np.arange(0.0, 360.0, 22.5):
        for pitch in (-90.0, 90.0):
            world.set_pose(yaw=yaw, pitch=pitch)
            renderer.render([world], True)
print("rendered")
"""


def test_looking_straight_up_or_down_terminates():
    """Regression: rays grazing a 4×4 tile corner used to bounce between two tiles forever
    (empty-space skipping jumped back by one ulp), hanging the env at pitch -90. Run in a
    subprocess so that a hang fails this test instead of the whole run."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", LOOK_UP_DOWN], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0 and "rendered" in done.stdout, done.stderr[-2000:]


def test_empty_space_skipping_does_not_change_the_picture(small):
    """The tile skip is an optimisation only: with it disabled (every tile as high as the world)
    frames, depth and segmentation are bit-identical, from random poses on real terrain."""
    config = make_config({**small, "width": 48, "height": 40, "num_mobs": 6})
    renderer = FrameRenderer(config, 1)
    rng = np.random.default_rng(0)
    compared = 0
    for seed in range(2):
        world = renderer.new_world(0, seed)
        while compared < 40 * (seed + 1):
            x, z = rng.uniform(3, 45, 2)
            y = world.ground(int(x), int(z)) + rng.uniform(0, 3)
            try:
                world.set_pose((x, y, z), yaw=rng.uniform(0, 360), pitch=rng.uniform(-90, 90))
            except ValueError:
                continue  # inside a tree
            renderer.render([world], True)
            fast = renderer.rgb.copy(), renderer.depth.copy(), renderer.seg.copy()
            no_skip = np.full_like(renderer.tiles, config.world_height)
            render_batch(
                renderer.blocks,
                renderer.tops,
                no_skip,
                TEXTURES,
                renderer.cams,
                renderer.boxes,
                renderer.n_mobs,
                float(config.fov_y),
                float(config.view_distance),
                float(config.fog_start),
                renderer.rgb,
                renderer.depth,
                renderer.seg,
                True,
            )
            np.testing.assert_array_equal(fast[0], renderer.rgb)
            np.testing.assert_array_equal(fast[1], renderer.depth)
            np.testing.assert_array_equal(fast[2], renderer.seg)
            compared += 1
