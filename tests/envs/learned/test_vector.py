"""WorldModelVectorEnv: vector API checks (spaces, shapes, autoreset), determinism, torch interface.

Gymnasium 1.4 has no checker for vector envs, so these tests do what one would: batched spaces,
reset/step shapes and dtypes inside the spaces, seeding determinism, and both autoreset modes'
semantics (``NEXT_STEP``: the step after an episode ends returns the new start with reward 0 and
ignores the action; ``SAME_STEP``: ``final_obs``/``final_info`` hold the ended episode's end).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

import envs  # noqa: F401  (registers the ids)
from envs.learned.vector import WorldModelVectorEnv
from simworld import actions as A

ID = "simworld/WorldModel-v0"
N = 4


def make(checkpoint, **kwargs) -> WorldModelVectorEnv:
    return gym.make_vec(
        ID, num_envs=N, checkpoint=checkpoint, vectorization_mode="vector_entry_point", **kwargs
    )


def never_done(frames: torch.Tensor):
    return torch.zeros(len(frames)), torch.zeros(len(frames), dtype=torch.bool)


def test_spaces_and_shapes(checkpoint):
    env = make(checkpoint)
    assert isinstance(env, WorldModelVectorEnv) and env.num_envs == N
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_action_space == A.action_space()
    assert env.action_space == batch_space(A.action_space(), N)
    assert env.observation_space == batch_space(env.single_observation_space, N)
    obs, info = env.reset(seed=0)
    assert obs in env.observation_space and info["context_frames"].shape == (N,)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs in env.observation_space and obs.shape == (N, 16, 16, 3)
    assert reward.shape == (N,) and reward.dtype == np.float64
    assert terminated.shape == truncated.shape == (N,) and terminated.dtype == truncated.dtype == np.bool_
    for key in ("uncertainty", "context_frames", "step_latency_s", "termination_prob"):
        assert info[key].shape == (N,) and info[f"_{key}"].all()


def test_seeding_is_deterministic_and_per_env(checkpoint):
    def run(seed):
        env = make(checkpoint, reward_fn=never_done)
        frames = [env.reset(seed=seed, options={"context_index": 0})[0]]
        space = batch_space(A.action_space(), N)
        space.seed(0)
        for _ in range(3):
            frames.append(env.step(space.sample())[0])
        return np.stack(frames, 1)  # (N, T, H, W, 3)

    a, b, c = run(3), run(3), run([3, 4, 5, 100])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:3], c[:3])  # env i's seed is seed + i
    assert not np.array_equal(a[3, 1:], c[3, 1:])
    assert not np.array_equal(a[0, 1:], a[1, 1:])  # same context, different per-env noise


def test_matches_the_single_env_in_a_batch_of_one(checkpoint):
    single = gym.make(ID, checkpoint=checkpoint, reward_fn=never_done)
    vec = gym.make_vec(ID, num_envs=1, checkpoint=checkpoint, reward_fn=never_done)  # no autoreset
    o1, _ = single.reset(seed=9)
    o2, _ = vec.reset(seed=9)
    np.testing.assert_array_equal(o1, o2[0])
    space = A.action_space(seed=1)
    for _ in range(3):
        action = space.sample()
        np.testing.assert_array_equal(single.step(action)[0], vec.step(A.stack([action]))[0][0])


def test_next_step_autoreset(checkpoint):
    env = make(checkpoint, max_episode_steps=2, reward_fn=never_done)
    env.reset(seed=0)
    starts = np.load(f"{checkpoint}/contexts/contexts.npz")["frames"][:, -1]
    actions = env.action_space.sample()
    env.step(actions)
    _, _, terminated, truncated, _ = env.step(actions)
    assert truncated.all() and not terminated.any()
    obs, reward, terminated, truncated, info = env.step(actions)  # resets, ignores actions
    assert (reward == 0).all() and not (terminated | truncated).any()
    for frame in obs:
        assert any(np.array_equal(frame, s) for s in starts)
    assert (info["context_frames"] == 4).all()
    assert not env.step(actions)[3].any()  # a fresh episode: step 1 of 2


def test_same_step_autoreset(checkpoint):
    env = make(checkpoint, max_episode_steps=2, reward_fn=never_done, autoreset_mode="same_step")
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    env.reset(seed=0)
    starts = np.load(f"{checkpoint}/contexts/contexts.npz")["frames"][:, -1]
    env.step(env.action_space.sample())
    obs, _, _, truncated, info = env.step(env.action_space.sample())
    assert truncated.all() and info["_final_obs"].all() and info["_final_info"].all()
    for i in range(N):
        assert any(np.array_equal(obs[i], s) for s in starts)  # already reset
        assert info["final_obs"][i].shape == (16, 16, 3)
        assert not np.array_equal(info["final_obs"][i], obs[i])
    assert info["final_info"]["context_frames"].shape == (N,)
    assert "final_obs" not in env.step(env.action_space.sample())[4]


def test_partial_reset_with_reset_mask_and_per_env_contexts(checkpoint):
    env = make(checkpoint)
    frames = np.stack([np.full((2, 16, 16, 3), 10 * i, np.uint8) for i in range(N)])
    obs, _ = env.reset(seed=0, options={"context_frames": frames})
    assert [int(o[0, 0, 0]) for o in obs] == [0, 10, 20, 30]
    for _ in range(3):
        obs, *_ = env.step(env.action_space.sample())
    mask = np.array([False, True, False, False])
    new, info = env.reset(
        options={"reset_mask": mask, "context_frames": np.full((1, 16, 16, 3), 99, np.uint8)}
    )
    assert (
        (new[1] == 99).all()
        and np.array_equal(new[0], obs[0])
        and info["_context_frames"].tolist() == mask.tolist()
    )
    assert env.world.context_frames.tolist() == [5, 1, 5, 5]
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (N, 16, 16, 3)


def test_step_torch_returns_tensors_on_the_model_device(checkpoint):
    env = make(checkpoint, max_episode_steps=3)
    env.reset(seed=0)
    flat = torch.from_numpy(A.to_flat(env.action_space.sample()))
    obs, reward, terminated, truncated, info = env.step_torch(flat)
    for t in (obs, reward, terminated, truncated, info["uncertainty"]):
        assert isinstance(t, torch.Tensor) and t.device == env.model.device
    assert obs.dtype == torch.uint8 and obs.shape == (N, 16, 16, 3)
    with pytest.raises(InvalidAction, match=r"\(4, 21\)"):
        env.step_torch(flat[:2])


def test_bad_input(checkpoint):
    env = make(checkpoint)
    with pytest.raises(ResetNeeded):
        env.step(env.action_space.sample())
    with pytest.raises(ValueError, match="first reset must reset every env"):
        env.reset(options={"reset_mask": np.array([True, False, False, False])})
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="batch of 4"):
        env.step(A.stack([A.noop()] * 3))
    with pytest.raises(ValueError, match="autoreset_mode must be 'next_step' or 'same_step'"):
        make(checkpoint, autoreset_mode="later")
