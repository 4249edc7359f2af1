"""The Doom adapter: Gymnasium API, determinism, action mapping, ground truth."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from simworld import actions as A

pytest.importorskip("vizdoom")

from envs.vizdoom.env import DEPTH_UNITS_PER_LEVEL, DoomEnv, doom_to_pose  # noqa: E402


def _camera(pitch: float = 0.0, yaw: float = 0.0, **keys: int) -> A.Action:
    action = A.noop()
    action.update(keys)
    action["camera"] = np.array([pitch, yaw], np.float32)
    return action


@pytest.fixture(scope="module")
def env():
    env = DoomEnv("my_way_home")
    yield env
    env.close()


def test_check_env() -> None:
    env = DoomEnv("basic", frame_size=(64, 64), ground_truth="all")
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_registered_ids_make() -> None:
    import envs  # noqa: F401

    env = gym.make("simworld/Doom-v0")
    try:
        obs, info = env.reset(seed=0)
        assert obs.shape == (120, 160, 3) and obs.dtype == np.uint8
        assert {"pose", "intrinsics", "depth", "world_seed"} <= set(info)
    finally:
        env.close()


def test_same_seed_same_frames() -> None:
    def rollout() -> list[np.ndarray]:
        env = DoomEnv("deathmatch", frame_size=(60, 80), ground_truth=None)
        try:
            env.action_space.seed(7)
            frames = [env.reset(seed=123)[0]]
            for _ in range(40):
                frames.append(env.step(env.action_space.sample())[0])
            return frames
        finally:
            env.close()

    first, second = rollout(), rollout()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(first[0], f) for f in first[1:])  # the camera did move


def test_camera_sign_conventions(env: DoomEnv) -> None:
    _, info = env.reset(seed=0)
    yaw0, doom_angle0 = info["pose"][3], info["doom_pose"][3]
    _, _, _, _, info = env.step(_camera(yaw=30.0))  # camera[1] > 0 turns right
    assert (info["pose"][3] - yaw0 - 30.0 + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=0.1)
    assert (doom_angle0 - info["doom_pose"][3]) % 360.0 == pytest.approx(30.0, abs=0.1)  # clockwise
    pitch0 = info["pose"][4]
    _, _, _, _, info = env.step(_camera(pitch=10.0))  # camera[0] > 0 looks down
    assert info["pose"][4] - pitch0 == pytest.approx(10.0, abs=0.1)


def test_forward_moves_along_yaw(env: DoomEnv) -> None:
    _, info = env.reset(seed=0)
    start = info["pose"]
    for _ in range(3):
        _, _, _, _, info = env.step(_camera(forward=1))
    moved = info["pose"][[0, 2]] - start[[0, 2]]
    yaw = np.radians(start[3])
    heading = np.array([-np.sin(yaw), np.cos(yaw)])  # Minecraft forward in (x, z)
    assert np.linalg.norm(moved) > 5.0
    assert moved @ heading / np.linalg.norm(moved) > 0.99
    assert info["pose"][1] == pytest.approx(41.0, abs=4.0)  # eye 41 above the floor, bobbing


def test_pose_convention() -> None:
    pose = doom_to_pose(np.array([10.0, 20.0, 41.0, 0.0, 5.0]))  # facing +x (east)
    np.testing.assert_allclose(pose, [10.0, 41.0, -20.0, -90.0, 5.0])  # Minecraft east is yaw -90
    assert doom_to_pose(np.array([0, 0, 0, 90.0, 0]))[3] == pytest.approx(-180.0)  # north


def test_depth_and_intrinsics(env: DoomEnv) -> None:
    _, info = env.reset(seed=0)
    depth, K = info["depth"], info["intrinsics"]
    assert depth.shape == (120, 160) and depth.dtype == np.float32
    assert np.all(depth >= 0) and np.all(depth <= 255 * DEPTH_UNITS_PER_LEVEL)
    assert np.all(np.mod(depth, DEPTH_UNITS_PER_LEVEL) == 0)
    np.testing.assert_allclose(K, [[80, 0, 80], [0, 80, 60], [0, 0, 1]])  # 90-degree FOV


def test_labels_and_segmentation() -> None:
    env = DoomEnv("basic", ground_truth=["segmentation", "labels", "pose"])
    try:
        _, info = env.reset(seed=0)
        names = [label["name"] for label in info["labels"]]
        assert names, "basic spawns a monster in view"
        for label in info["labels"]:
            assert np.any(info["segmentation"] == label["value"])
            assert label["position"].shape == (3,)
        assert "depth" not in info
    finally:
        env.close()


def test_episode_ends_at_timeout() -> None:
    env = DoomEnv("basic", frame_skip=35, ground_truth=None)  # 300-tic timeout: 9 steps
    try:
        env.reset(seed=0)
        for step in range(20):  # noqa: B007 (read after the loop)
            obs, _, terminated, truncated, _ = env.step(A.noop())
            if terminated or truncated:
                break
        assert truncated and not terminated and step < 10
        assert obs.shape == (120, 160, 3)
        with pytest.raises(gym.error.ResetNeeded):
            env.step(A.noop())
    finally:
        env.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scenario": "nope"}, "my_way_home"),
        ({"resolution": (100, 100)}, r"\(120, 160\)"),
        ({"ground_truth": ["normals"]}, "segmentation"),
        ({"frame_skip": 0}, "frame_skip"),
    ],
)
def test_bad_arguments_name_valid_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DoomEnv(**kwargs)


def test_reset_options(env: DoomEnv) -> None:
    calls = []
    _, info = env.reset(seed=1, options={"world_seed": 5, "scenario": calls.append})
    assert info["world_seed"] == 5 and calls == [env.game]
    with pytest.raises(ValueError, match="world_seed"):
        env.reset(options={"map": 2})
