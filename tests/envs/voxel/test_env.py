"""The Gymnasium env: registration, check_env, rendering, ground-truth flags, reset options, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils.env_checker import check_env

from envs.registration import VOXEL_IDS
from envs.voxel.blocks import NUM_BLOCKS
from envs.voxel.env import GROUND_TRUTH_KEYS, VoxelWorldEnv
from envs.voxel.vector import VoxelWorldVectorEnv
from simworld import actions as A


@pytest.mark.parametrize("env_id", sorted(VOXEL_IDS))
def test_ids_are_registered_with_a_native_vector_entry_point(env_id):
    spec = gym.spec(env_id)
    assert spec.max_episode_steps == VOXEL_IDS[env_id][1]
    assert spec.vector_entry_point == "envs.voxel.vector:VoxelWorldVectorEnv"
    assert isinstance(
        gym.make(env_id, world_size=48, world_height=32, terrain_height=12, terrain_amplitude=4.0).unwrapped,
        VoxelWorldEnv,
    )


def _check_env(env) -> None:
    """check_env, failing on any warning but its advice to normalise Box action spaces (the camera
    is MineRL's Box(-180, 180) in degrees by design)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
    unexpected = [str(w.message) for w in caught if "symmetric and normalized space" not in str(w.message)]
    assert not unexpected


def test_check_env_default():
    _check_env(gym.make("simworld/VoxelWorld-v0").unwrapped)


@pytest.mark.parametrize(
    "env_id", ["simworld/VoxelWorld-v0", "simworld/VoxelNavigate-v0", "simworld/VoxelCollectLog-v0"]
)
def test_check_env_with_all_ground_truth(env_id, small):
    _check_env(gym.make(env_id, ground_truth="all", render_mode="rgb_array", **small).unwrapped)


def test_render_returns_the_frame(small):
    env = gym.make("simworld/VoxelWorld-v0", render_mode="rgb_array", **small)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(env.render(), obs)
    for _ in range(3):
        obs, *_ = env.step({**A.noop(), "forward": 1, "camera": np.array([1.0, 5.0], np.float32)})
        frame = env.render()
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame, obs)
    no_render = gym.make("simworld/VoxelWorld-v0", **small)
    no_render.reset(seed=0)
    assert no_render.render() is None


def test_observation_is_a_copy(small):
    env = gym.make("simworld/VoxelWorld-v0", **small)
    obs, _ = env.reset(seed=0)
    kept = obs.copy()
    env.step({**A.noop(), "camera": np.array([0.0, 90.0], np.float32)})
    np.testing.assert_array_equal(obs, kept)


def test_ground_truth_only_on_request(small):
    env = gym.make("simworld/VoxelWorld-v0", **small)
    _, info = env.reset(seed=0)
    assert not set(info) & set(GROUND_TRUTH_KEYS)
    env = gym.make("simworld/VoxelWorld-v0", ground_truth=["depth", "pose"], **small)
    _, info = env.reset(seed=0)
    assert set(info) & set(GROUND_TRUTH_KEYS) == {"depth", "pose"}


def test_ground_truth_types_and_shapes(small):
    env = gym.make("simworld/VoxelWorld-v0", ground_truth="all", width=40, height=24, **small)
    env.reset(seed=0)
    _, _, _, _, info = env.step(A.noop())
    assert set(GROUND_TRUTH_KEYS) <= set(info)
    expect = {
        "pose": (np.float64, (5,)),
        "intrinsics": (np.float64, (3, 3)),
        "depth": (np.float32, (24, 40)),
        "segmentation": (np.int16, (24, 40)),
        "entities": (np.float64, (4, 5)),
        "inventory": (np.int64, (NUM_BLOCKS,)),
        "target": (np.int64, (7,)),
    }
    for key, (dtype, shape) in expect.items():
        assert info[key].dtype == dtype and info[key].shape == shape, key
    assert isinstance(info["events"], tuple)
    np.testing.assert_array_equal(info["pose"], env.unwrapped.world.camera())


def test_same_seed_same_episode_and_world_seed_option(small):
    env = gym.make("simworld/VoxelWorld-v0", ground_truth="all", **small)
    a, info_a = env.reset(seed=11)
    b, info_b = env.reset(seed=11)
    c, info_c = env.reset(seed=12)
    np.testing.assert_array_equal(a, b)
    assert info_a["world_seed"] == info_b["world_seed"] != info_c["world_seed"]
    d, info_d = env.reset(seed=99, options={"world_seed": info_a["world_seed"]})
    np.testing.assert_array_equal(a, d)
    # a fixed world_seed in the constructor fixes the world for every episode
    fixed = gym.make("simworld/VoxelWorld-v0", world_seed=5, **small)
    e, _ = fixed.reset(seed=1)
    f, _ = fixed.reset(seed=2)
    np.testing.assert_array_equal(e, f)


def test_scenario_option_edits_the_world_before_the_first_frame(small):
    env = gym.make("simworld/VoxelWorld-v0", ground_truth="all", **small)

    def scene(world):
        world.set_pose(yaw=0.0, pitch=0.0)
        x, y, z = np.floor(world.eye()).astype(int)
        world.set_block(x, y, z + 2, "magenta_wool")

    _, info = env.reset(seed=0, options={"scenario": scene})
    H, W = info["segmentation"].shape
    assert info["segmentation"][H // 2, W // 2] == 14  # magenta wool, straight ahead
    assert info["events"] == ()  # the scene's edits are not events of the episode


def test_step_before_reset_raises_reset_needed(small):
    with pytest.raises(ResetNeeded):
        VoxelWorldEnv(**small).step(A.noop())
    with pytest.raises(ResetNeeded):
        gym.make("simworld/VoxelWorld-v0", **small).step(A.noop())


def _bad_actions():
    noop = A.noop()
    missing = dict(noop)
    del missing["jump"]
    return {
        "missing key": missing,
        "unknown key": {**noop, "crouch": 1},
        "camera shape (3,)": {**noop, "camera": np.zeros(3, np.float32)},
        "camera shape (1, 2)": {**noop, "camera": np.zeros((1, 2), np.float32)},
        "camera out of range": {**noop, "camera": np.array([0.0, 181.0], np.float32)},
        "camera nan": {**noop, "camera": np.array([np.nan, 0.0], np.float32)},
        "camera dtype str": {**noop, "camera": np.array(["a", "b"])},
        "key float dtype": {**noop, "forward": 0.7},
        "key out of range": {**noop, "attack": 2},
        "key shape": {**noop, "use": np.array([1, 0])},
        "hotbar out of range": {**noop, "hotbar": 10},
        "hotbar negative": {**noop, "hotbar": -1},
        "not a dict": [0] * 11,
    }


@pytest.mark.parametrize("name", list(_bad_actions()))
def test_invalid_actions_raise_invalid_action_naming_the_space(small, name):
    env = gym.make("simworld/VoxelWorld-v0", **small)
    env.reset(seed=0)
    tick = env.unwrapped.world.tick
    expected = r"expected Dict\(forward, back.*camera: Box\(-180.0, 180.0, \(2,\)"
    with pytest.raises(InvalidAction, match=expected):
        env.step(_bad_actions()[name])
    assert env.unwrapped.world.tick == tick  # nothing happened


def test_valid_action_forms_are_accepted(small):
    env = gym.make("simworld/VoxelWorld-v0", **small)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.step({**A.noop(), "forward": True, "jump": np.int8(1), "camera": [1, -2], "hotbar": np.int64(3)})
    env.step({**A.noop(), "camera": (0.5, 180.0)})


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"world_size": 5}, r"world_size must be in \[32, 1024\], got 5"),
        ({"world_size": 48.0}, r"world_size must be an integer in \[32, 1024\]"),
        ({"fov_y": 0}, r"fov_y must be in \[10.0, 160.0\], got 0"),
        ({"fov_y": 170.0}, r"fov_y must be in \[10.0, 160.0\]"),
        ({"width": 4}, r"width must be in \[8, 4096\]"),
        ({"height": 0}, r"height must be in \[8, 4096\]"),
        ({"ticks_per_step": 0}, r"ticks_per_step must be in \[1, 100\]"),
        ({"view_distance": 10.0, "fog_start": 20.0}, r"fog_start must be <= view_distance=10.0"),
        ({"world_height": 16}, r"room for trees.*world_height=16"),
        (
            {"wrold_size": 64},
            r"unknown voxel world parameters \['wrold_size'\]; valid parameters: \['world_s",
        ),
    ],
)
def test_invalid_world_parameters_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VoxelWorldEnv(**kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make("simworld/VoxelWorld-v0", **kwargs)
    with pytest.raises(ValueError, match=message):
        VoxelWorldVectorEnv(num_envs=2, **kwargs)


def test_unknown_ground_truth_task_render_mode_and_reset_option(small):
    with pytest.raises(
        ValueError,
        match=r"unknown ground_truth keys \['normals'\]; valid: None, 'all' or any of "
        r"\['pose', 'intrinsics', 'depth', 'segmentation'",
    ):
        VoxelWorldEnv(ground_truth=["depth", "normals"], **small)
    with pytest.raises(ValueError, match=r"unknown task 'mine'; valid tasks: free, navigate, collect"):
        VoxelWorldEnv(task="mine", **small)
    with pytest.raises(ValueError, match=r"unknown block 'diamond'; valid blocks: air, grass"):
        VoxelWorldEnv(task="collect", task_kwargs={"block": "diamond"}, **small)
    with pytest.raises(ValueError, match=r"count must be >= 1"):
        VoxelWorldEnv(task="collect", task_kwargs={"count": 0}, **small)
    with pytest.raises(ValueError, match=r"render_mode must be one of \[None, 'rgb_array'\]"):
        VoxelWorldEnv(render_mode="human", **small)
    env = VoxelWorldEnv(**small)
    with pytest.raises(ValueError, match=r"unknown reset options \['seed'\]; valid: \['world_seed', 'scen"):
        env.reset(options={"seed": 3})


def test_scenario_api_rejects_bad_input(small):
    env = VoxelWorldEnv(**small)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"outside the world \[0, 48\)"):
        env.world.set_block(48, 5, 5, "stone")
    with pytest.raises(ValueError, match=r"unknown block 'obsidian'; valid blocks:"):
        env.world.set_block(5, 5, 5, "obsidian")
