"""Player physics: Minecraft's speeds and jump, collisions with walls, falling off ledges."""

from __future__ import annotations

import numpy as np
import pytest

from envs.voxel import physics as P
from envs.voxel.render import camera_basis

MC_WALK_SPEED = 4.317 / 20  # blocks per tick (minecraft.wiki "Walking": 4.317 m/s)


def _terminal_speed(env, act, ticks: int = 40, **keys) -> float:
    """Horizontal distance per tick once the speed has settled, holding ``keys``."""
    positions = []
    for _ in range(ticks):
        env.step(act(**keys))
        positions.append(env.world.player[[P.PX, P.PZ]].copy())
    steps = np.linalg.norm(np.diff(positions[-10:], axis=0), axis=1)
    assert np.ptp(steps) < 1e-6  # settled
    return float(steps.mean())


def test_walking_speed_is_minecrafts(flat_env, act):
    env, _, _ = flat_env()
    assert _terminal_speed(env, act, forward=1) == pytest.approx(MC_WALK_SPEED, rel=0.03)


def test_sprinting_is_faster_and_sneaking_slower(flat_env, act):
    walk = _terminal_speed(flat_env()[0], act, forward=1)
    sprint = _terminal_speed(flat_env()[0], act, forward=1, sprint=1)
    sneak = _terminal_speed(flat_env()[0], act, forward=1, sneak=1)
    assert sprint == pytest.approx(1.3 * walk, rel=0.03)  # Minecraft: 5.612 / 4.317 = 1.30
    assert sneak == pytest.approx(0.3 * walk, rel=0.03)  # Minecraft: 1.31 / 4.317 = 0.30
    # sprint needs forward: sprint + back is plain walking backwards
    back_sprint = _terminal_speed(flat_env()[0], act, back=1, sprint=1)
    assert back_sprint == pytest.approx(walk, rel=1e-9)


@pytest.mark.parametrize("yaw", [0.0, 90.0, 217.0])
def test_keys_move_along_the_camera_axes(flat_env, act, yaw):
    """forward moves along the view's horizontal direction, right along the image's right."""
    R = camera_basis(yaw, 0.0)
    right, forward = R[:, 0], R[:, 2]
    for keys, direction in (
        ({"forward": 1}, forward),
        ({"back": 1}, -forward),
        ({"right": 1}, right),
        ({"left": 1}, -right),
    ):
        env, _, _ = flat_env()
        env.world.set_pose(yaw=yaw)
        start = env.world.eye()
        for _ in range(10):
            env.step(act(**keys))
        moved = env.world.eye() - start
        assert moved[1] == 0.0
        assert np.dot(moved, direction) == pytest.approx(np.linalg.norm(moved), rel=1e-9)
        assert np.linalg.norm(moved) > 1.0


def test_jump_peaks_at_one_and_a_quarter_blocks_and_lands(flat_env, act):
    env, _, _ = flat_env()
    y0 = env.world.player[P.PY]
    heights, grounded = [], []
    env.step(act(jump=1))
    heights.append(env.world.player[P.PY] - y0)
    grounded.append(env.world.player[P.ON_GROUND])
    for _ in range(20):
        env.step(act())
        heights.append(env.world.player[P.PY] - y0)
        grounded.append(env.world.player[P.ON_GROUND])
    assert max(heights) == pytest.approx(1.2522, abs=2e-3)  # Minecraft: 1.2522 blocks
    landed = grounded.index(1.0)
    assert 10 <= landed <= 13  # airtime ≈ 12 ticks
    assert all(h == 0.0 for h in heights[landed:])  # back on the floor, exactly
    assert all(grounded[landed:])


def test_jump_only_from_the_ground(flat_env, act):
    """Holding jump: no double jumps, the peak stays a single jump's."""
    env, _, _ = flat_env()
    y0 = env.world.player[P.PY]
    peak = 0.0
    for _ in range(40):
        env.step(act(jump=1))
        peak = max(peak, env.world.player[P.PY] - y0)
    assert peak == pytest.approx(1.2522, abs=2e-3)


def _wall(world):
    """A stone wall three blocks high with its near face at z = 27, across x = 14..34."""
    world.fill((14, 11, 27), (34, 13, 27), "stone")


@pytest.mark.parametrize(
    "yaw,keys",
    [
        (0.0, {"forward": 1}),
        (0.0, {"forward": 1, "sprint": 1, "jump": 1}),
        (35.0, {"forward": 1, "sprint": 1}),
        (-50.0, {"forward": 1}),
    ],
)
def test_walking_into_a_wall_never_enters_it(flat_env, act, yaw, keys):
    """The eye never passes the wall plane minus half the player width; once stopped, the view is still."""
    env, _, _ = flat_env(_wall, width=65, height=65)
    env.world.set_pose(yaw=yaw)
    limit = 27.0 - P.PLAYER_WIDTH / 2
    frames, eyes = [], []
    for _ in range(60):
        obs, _, _, _, info = env.step(act(**keys))
        eyes.append(info["pose"][:3].copy())
        frames.append(obs)
        assert info["pose"][2] <= limit + 1e-9
        lo, hi = env.world.player_box()
        assert not P.box_hits_solid(env.world.blocks, P.SOLID_TABLE, lo + 1e-6, hi - 1e-6)
    assert eyes[-1][2] == pytest.approx(limit, abs=1e-6)  # it did reach the wall
    if "jump" not in keys and yaw == 0.0:
        # walking straight into it: the player stops, and so does the picture
        assert all(np.array_equal(f, frames[-1]) for f in frames[-20:])
        assert np.all(eyes[-20] == eyes[-1])
        # the wall fills the centre of the view, 0.3 blocks ahead: the camera is not inside it
        assert info["segmentation"][32, 32] == 3 and info["depth"][32, 32] == pytest.approx(0.3, abs=1e-5)


def test_walking_off_a_ledge_falls_to_the_ground_below(flat_env, act):
    def platform(world):  # a 3-high platform under the player, ending at z = 27
        world.fill((14, 11, 14), (34, 13, 26), "stone")
        world.set_pose((24.5, 14.0, 24.5))

    env, _, _ = flat_env(platform)
    ys = []
    for _ in range(40):
        env.step(act(forward=1))
        ys.append(env.world.player[P.PY])
    assert ys[0] == 14.0
    assert ys[-1] == 11.0 and env.world.player[P.ON_GROUND] == 1.0
    assert env.world.player[P.PZ] > 27.0 + P.PLAYER_WIDTH / 2  # left the platform
    drops = np.diff(ys)
    assert np.all(drops <= 0) and drops.min() < -0.2  # fell, accelerating


def test_no_walking_up_a_full_block_without_jumping(flat_env, act):
    def step_up(world):
        world.fill((14, 11, 27), (34, 11, 34), "stone")

    env, _, _ = flat_env(step_up)
    for _ in range(30):
        env.step(act(forward=1))
    assert env.world.player[P.PY] == 11.0 and env.world.player[P.PZ] == pytest.approx(26.7, abs=1e-6)
    for _ in range(20):  # with jumps it climbs the block
        env.step(act(forward=1, jump=1))
    for _ in range(15):
        env.step(act())
    assert env.world.player[P.PY] == 12.0 and env.world.player[P.PZ] > 27.3


def test_ceiling_stops_a_jump(flat_env, act):
    def ceiling(world):  # a roof 2 blocks above the feet: the head (1.8) clears it by 0.2
        world.fill((20, 13, 20), (28, 13, 28), "stone")

    env, _, _ = flat_env(ceiling)
    peak = 0.0
    for _ in range(15):
        env.step(act(jump=1) if _ == 0 else act())
        peak = max(peak, env.world.player[P.PY])
    assert peak == pytest.approx(13.0 - P.PLAYER_HEIGHT, abs=1e-9)
    assert env.world.player[P.PY] == 11.0


def test_world_border_is_a_wall(flat_env, act):
    env, _, _ = flat_env()
    env.world.set_pose((24.5, 11.0, 44.5), yaw=0.0)
    for _ in range(40):
        env.step(act(forward=1, sprint=1))
    assert env.world.player[P.PZ] == pytest.approx(48.0 - P.PLAYER_WIDTH / 2, abs=1e-9)


def test_set_pose_rejects_positions_inside_blocks(flat_env):
    env, _, _ = flat_env()
    before = env.world.player.copy()
    with pytest.raises(ValueError, match="inside a solid block"):
        env.world.set_pose((24.5, 10.5, 24.5))
    with pytest.raises(ValueError, match=r"\[-90, 90\]"):
        env.world.set_pose(pitch=91.0)
    np.testing.assert_array_equal(env.world.player[:3], before[:3])


def test_camera_pitch_is_clamped(flat_env, act):
    env, _, _ = flat_env()
    for _ in range(3):
        env.step(act(camera=(80.0, 0.0)))
    assert env.world.player[P.PITCH] == 90.0
    for _ in range(3):
        env.step(act(camera=(-170.0, 0.0)))
    assert env.world.player[P.PITCH] == -90.0
    env.step(act(camera=(0.0, -90.0)))
    assert env.world.player[P.YAW] == 270.0
