"""The native vector env: make_vec, seeding, equivalence to single envs, autoreset, partial reset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.vector import AutoresetMode

from envs.voxel.policies import make_policy
from envs.voxel.vector import VoxelWorldVectorEnv
from simworld import actions as A

N = 4


def _vec(small, **kwargs):
    return gym.make_vec("simworld/VoxelWorld-v0", num_envs=N, **{**small, **kwargs})


def _noops(n=N):
    return A.stack([A.noop() for _ in range(n)])


def test_make_vec_uses_the_native_class(small):
    env = _vec(small)
    assert type(env) is VoxelWorldVectorEnv
    assert env.num_envs == N
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.max_episode_steps == 1000  # from the registration
    obs, _ = env.reset(seed=0)
    assert obs.shape == (N, 64, 64, 3) and obs in env.observation_space
    assert env.action_space.contains(_noops())


def test_per_env_seeds_give_different_worlds_equal_to_single_envs(small):
    env = _vec(small)
    obs, info = env.reset(seed=10)
    seeds = info["world_seed"]
    assert len(set(seeds.tolist())) == N
    assert all(not np.array_equal(obs[0], obs[i]) for i in range(1, N))
    for i in range(N):
        single = gym.make("simworld/VoxelWorld-v0", **small)
        single_obs, single_info = single.reset(seed=10 + i)
        np.testing.assert_array_equal(obs[i], single_obs)
        assert single_info["world_seed"] == seeds[i]
    # an explicit list of seeds works the same
    obs2, _ = env.reset(seed=[13, 12, 11, 10])
    np.testing.assert_array_equal(obs2[::-1], obs)


def test_stepping_matches_single_envs(small):
    """Env i of the batch, driven by the same actions, renders what a single env renders."""
    vec = _vec(small, ground_truth="all")
    singles = [gym.make("simworld/VoxelWorld-v0", ground_truth="all", **small).unwrapped for _ in range(N)]
    obs, _ = vec.reset(seed=20)
    for i, single in enumerate(singles):
        single.reset(seed=20 + i)
    policies = [make_policy("build_break") for _ in range(N)]
    for i, p in enumerate(policies):
        p.reset(vec.worlds[i], np.random.default_rng(i))
    for _ in range(40):
        actions = [p.act(w) for p, w in zip(policies, vec.worlds)]
        obs, rewards, terminated, truncated, info = vec.step(A.stack(actions))
        for i, single in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, s_info = single.step(actions[i])
            np.testing.assert_array_equal(obs[i], s_obs)
            np.testing.assert_array_equal(info["depth"][i], s_info["depth"])
            np.testing.assert_array_equal(info["segmentation"][i], s_info["segmentation"])
            np.testing.assert_array_equal(info["pose"][i], s_info["pose"])
            assert rewards[i] == s_reward and terminated[i] == s_term


def test_ground_truth_is_batched(small):
    env = _vec(small, ground_truth="all", width=40, height=24)
    env.reset(seed=0)
    _, _, _, _, info = env.step(_noops())
    assert info["depth"].shape == (N, 24, 40) and info["depth"].dtype == np.float32
    assert info["segmentation"].shape == (N, 24, 40) and info["segmentation"].dtype == np.int16
    assert info["pose"].shape == (N, 5) and info["intrinsics"].shape == (N, 3, 3)
    assert info["entities"].shape == (N, 4, 5)
    assert info["_depth"].all() and info["_pose"].all()
    for i in range(N):
        np.testing.assert_array_equal(info["pose"][i], env.worlds[i].camera())


def _single_episodes(small, seed, steps):
    """Frames of a single env: its reset, ``steps`` no-op steps, then its next reset (no seed)."""
    env = gym.make("simworld/VoxelWorld-v0", **small).unwrapped
    first, _ = env.reset(seed=seed)
    frames = [env.step(A.noop())[0] for _ in range(steps)]
    second, info = env.reset()
    return first, frames, second, info["world_seed"]


def test_next_step_autoreset(small):
    env = _vec(small, max_episode_steps=3)
    env.reset(seed=30)
    for t in range(3):
        obs, rewards, terminated, truncated, info = env.step(_noops())
        assert not terminated.any()
        assert truncated.all() == (t == 2)
    last = obs.copy()
    # the next step resets every env, ignoring the action; reward 0, not done
    action = A.stack([{**A.noop(), "forward": 1, "camera": np.array([0.0, 90.0], np.float32)}] * N)
    obs, rewards, terminated, truncated, info = env.step(action)
    assert not terminated.any() and not truncated.any() and not rewards.any()
    assert (info["tick"] == 0).all()
    for i in range(N):
        _, frames, second, world_seed = _single_episodes(small, 30 + i, 3)
        np.testing.assert_array_equal(last[i], frames[-1])
        np.testing.assert_array_equal(obs[i], second)  # the reset obs, from the env's own rng
        assert info["world_seed"][i] == world_seed
    # and the new episode runs: three more steps to the next truncation
    for _ in range(3):
        _, _, _, truncated, _ = env.step(_noops())
    assert truncated.all()


def test_same_step_autoreset_with_final_obs_and_mask(small):
    env = _vec(small, max_episode_steps=3, autoreset_mode="same_step", ground_truth=["pose"])
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    env.reset(seed=40)
    env.step(_noops())
    # restart env 0 alone: its step counter is now behind the others'
    env.reset(options={"reset_mask": np.array([True, False, False, False])})
    env.step(_noops())
    obs, rewards, terminated, truncated, info = env.step(_noops())
    mask = np.array([False, True, True, True])
    np.testing.assert_array_equal(truncated, mask)
    np.testing.assert_array_equal(info["_final_obs"], mask)
    np.testing.assert_array_equal(info["_final_info"], mask)
    assert info["final_obs"][0] is None
    for i in (1, 2, 3):
        _, frames, second, world_seed = _single_episodes(small, 40 + i, 3)
        np.testing.assert_array_equal(info["final_obs"][i], frames[-1])  # the episode's last frame
        np.testing.assert_array_equal(obs[i], second)  # already the next episode's first
        assert info["world_seed"][i] == world_seed and info["tick"][i] == 0
        assert info["final_info"]["tick"][i] == 3
    assert info["tick"][0] == 2 and info["final_info"]["_tick"][0] == np.False_
    # env 0 truncates on the next step
    _, _, _, truncated, info = env.step(_noops())
    np.testing.assert_array_equal(truncated, [True, False, False, False])
    np.testing.assert_array_equal(info["_final_obs"], [True, False, False, False])


def test_partial_reset_leaves_the_other_envs_alone(small):
    env = _vec(small, ground_truth=["pose"])
    env.reset(seed=50)
    for _ in range(5):
        obs, _, _, _, info = env.step(A.stack([{**A.noop(), "forward": 1}] * N))
    poses = info["pose"].copy()
    mask = np.array([False, True, False, True])
    new_obs, reset_info = env.reset(options={"reset_mask": mask})
    for i in range(N):
        if mask[i]:
            assert env.worlds[i].tick == 0
            assert reset_info["_pose"][i]
        else:
            assert env.worlds[i].tick == 5 and not reset_info["_pose"][i]
            np.testing.assert_array_equal(new_obs[i], obs[i])
            np.testing.assert_array_equal(env.worlds[i].camera(), poses[i])
    with pytest.raises(ValueError, match=r"reset_mask must have shape \(4,\)"):
        env.reset(options={"reset_mask": np.array([True, False])})


def test_bad_input(small):
    env = VoxelWorldVectorEnv(num_envs=2, **small)
    with pytest.raises(ResetNeeded):
        env.step(_noops(2))
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="expected a batch of 2 actions"):
        env.step(_noops(3))
    bad = _noops(2)
    bad["camera"] = np.array([[0.0, 500.0], [0.0, 0.0]], np.float32)
    with pytest.raises(InvalidAction, match=r"'camera' must be within \[-180.0, 180.0\]"):
        env.step(bad)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        VoxelWorldVectorEnv(num_envs=0, **small)
    with pytest.raises(ValueError, match="autoreset_mode must be 'next_step' or 'same_step'"):
        VoxelWorldVectorEnv(num_envs=2, autoreset_mode="sometimes", **small)
    with pytest.raises(ValueError, match="got 3 seeds for 2 envs"):
        env.reset(seed=[1, 2, 3])
    fresh = VoxelWorldVectorEnv(num_envs=2, **small)
    with pytest.raises(ValueError, match="env 1 has never been reset"):
        fresh.reset(options={"reset_mask": np.array([True, False])})


def test_render_returns_all_frames(small):
    env = _vec(small, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(env.render(), obs)
