"""WorldModelEnv: Gymnasium checks, spaces, reset sources, determinism, KV window, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from envs.learned.contexts import CONTEXTS_FILE
from envs.learned.env import WorldModelEnv
from simworld import actions as A
from simworld.checkpoint import CheckpointError

ID = "simworld/WorldModel-v0"


def rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0, options=None) -> np.ndarray:
    obs, _ = env.reset(seed=seed, options=options)
    space = A.action_space(seed=action_seed)
    frames = [obs]
    for _ in range(steps):
        frames.append(env.step(space.sample())[0])
    return np.stack(frames)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_check_env_passes(checkpoint):
    env = gym.make(ID, checkpoint=checkpoint, report_latency=False, max_episode_steps=20)
    check_env(env.unwrapped)


def test_registered_beside_the_voxel_ids():
    spec = gym.spec(ID)
    assert spec.entry_point == "envs.learned.env:WorldModelEnv"
    assert spec.vector_entry_point == "envs.learned.vector:WorldModelVectorEnv"
    assert "simworld/VoxelWorld-v0" in gym.registry and "simworld/VoxelNavigate-v0" in gym.registry


def test_spaces_come_from_the_checkpoint(checkpoint):
    env = gym.make(ID, checkpoint=checkpoint)
    assert env.observation_space == gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
    assert env.action_space == A.action_space()
    voxel = gym.make("simworld/VoxelWorld-v0", width=16, height=16)
    assert env.action_space == voxel.action_space


def test_step_returns_frame_reward_and_info(checkpoint):
    env = gym.make(ID, checkpoint=checkpoint, max_episode_steps=3)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (16, 16, 3)
    assert info["context_frames"] == 4 and info["context_source"].startswith("bundled:")
    obs, reward, terminated, truncated, info = env.step(A.noop())
    assert obs in env.observation_space
    assert isinstance(reward, float) and isinstance(terminated, bool)
    assert set(info) >= {"uncertainty", "context_frames", "step_latency_s", "termination_prob"}
    assert info["context_frames"] == 5 and info["step_latency_s"] > 0
    env.step(A.noop())
    assert env.step(A.noop())[3] is True  # TimeLimit truncation at max_episode_steps


def test_same_seed_and_actions_give_same_frames(checkpoint):
    a = rollout(gym.make(ID, checkpoint=checkpoint), seed=5, steps=6)
    b = rollout(gym.make(ID, checkpoint=checkpoint), seed=5, steps=6)
    c = rollout(gym.make(ID, checkpoint=checkpoint), seed=6, steps=6, options={"context_index": 0})
    d = rollout(gym.make(ID, checkpoint=checkpoint), seed=7, steps=6, options={"context_index": 0})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(c[1:], d[1:])  # same context, other noise


def test_given_context_is_used(checkpoint):
    env = gym.make(ID, checkpoint=checkpoint)
    frames = np.full((3, 16, 16, 3), 7, np.uint8)
    frames[-1] = 200
    actions = A.to_flat([A.noop(), A.noop()])
    obs, info = env.reset(seed=0, options={"context_frames": frames, "context_actions": actions})
    assert (obs == 200).all() and info["context_frames"] == 3 and info["context_source"] == "given"
    obs, _ = env.reset(seed=0, options={"context_frames": frames[:1]})  # one frame, no actions
    assert (obs == 7).all()


def test_sliding_window_bounds_context_and_cache(checkpoint):
    env = WorldModelEnv(checkpoint)
    env.reset(seed=0)
    sizes = []
    for _ in range(20):
        info = env.step(A.noop())[4]
        sizes.append(env.world.ar.cache.nbytes())
    assert info["context_frames"] == 8  # the checkpoint's max_context_frames
    assert len(set(sizes[8:])) == 1


def test_uncertainty_two_sample_leaves_the_trajectory_alone(checkpoint):
    plain = rollout(gym.make(ID, checkpoint=checkpoint), seed=1, steps=4)
    env = gym.make(ID, checkpoint=checkpoint, uncertainty="two_sample")
    np.testing.assert_array_equal(rollout(env, seed=1, steps=4), plain)
    score = env.step(A.noop())[4]["uncertainty"]
    assert 0 < score <= 1
    assert gym.make(ID, checkpoint=checkpoint).reset(seed=0) is not None


def test_reward_fn_replaces_the_head(checkpoint):
    def brightness(frames):
        mean = frames.float().mean(dim=(1, 2, 3)) / 255
        return mean, mean > 2  # never terminal

    env = gym.make(ID, checkpoint=checkpoint, reward_fn=brightness)
    env.reset(seed=0)
    obs, reward, terminated, _, _ = env.step(A.noop())
    assert reward == pytest.approx(obs.mean() / 255, abs=1e-6) and terminated is False


def test_sampler_overrides_and_uncached_path(checkpoint):
    env = WorldModelEnv(checkpoint, num_inference_steps=1, context_noise_level=0, max_context_frames=4)
    assert env.model.sampler.num_inference_steps == 1 and env.model.max_context_frames == 4
    env.reset(seed=0)
    assert env.step(A.noop())[4]["context_frames"] == 4
    uncached = WorldModelEnv(checkpoint, use_kv_cache=False)
    uncached.reset(seed=0)
    assert uncached.step(A.noop())[0].shape == (16, 16, 3)
    with pytest.raises(ValueError, match="num_inference_steps"):
        WorldModelEnv(checkpoint, num_inference_steps=0)
    with pytest.raises(ValueError, match="uncertainty must be one of"):
        WorldModelEnv(checkpoint, uncertainty="ensemble")


def test_dataset_context(checkpoint, tmp_path):
    from simworld.data.format import Manifest, canonical_action_schema
    from simworld.data.writer import DatasetWriter

    header = Manifest(
        env={"id": "test/synthetic", "params": {}},
        action_schema=canonical_action_schema(),
        frames_encoding="npz",
        ground_truth=[],
        source={"kind": "test"},
    )
    frames = np.arange(12, dtype=np.uint8)[:, None, None, None] * np.ones((12, 16, 16, 3), np.uint8)
    episode = {
        "frames": frames,
        "actions": np.zeros((11, A.FLAT_DIM), np.float32),
        "raw_actions": np.array(["{}"] * 11),
        "rewards": np.zeros(11, np.float32),
        "terminated": np.zeros(11, bool),
        "truncated": np.zeros(11, bool),
    }
    DatasetWriter(tmp_path, header).write(0, episode, {})
    env = gym.make(ID, checkpoint=checkpoint)
    obs, info = env.reset(seed=0, options={"dataset": str(tmp_path), "episode": 0, "start": 2})
    assert (obs == 9).all() and info["context_frames"] == 8  # frames 2..9 (the window)
    with pytest.raises(ValueError, match="no episode 3"):
        env.reset(options={"dataset": str(tmp_path), "episode": 3})


def test_live_reset_from_the_recorded_env(tmp_path):
    from simworld.testing import build_tiny_checkpoint

    world = {"width": 16, "height": 16, "world_size": 48, "world_height": 32, "terrain_height": 12}
    path = build_tiny_checkpoint(
        tmp_path / "ck", num_contexts=0, env={"id": "simworld/VoxelWorld-v0", "params": world}
    )
    env = gym.make(ID, checkpoint=str(path))
    obs, info = env.reset(seed=3)  # no bundled contexts: live reset of the recorded env
    assert info["context_source"].startswith("live:simworld/VoxelWorld-v0@")
    live_seed = int(info["context_source"].split("@")[1])
    real, _ = gym.make("simworld/VoxelWorld-v0", **world).reset(seed=live_seed)
    np.testing.assert_array_equal(obs, real)
    env.step(A.noop())
    env.close()


def test_bad_input_errors(checkpoint, bare_checkpoint):
    env = gym.make(ID, checkpoint=checkpoint)
    with pytest.raises(ResetNeeded):
        env.unwrapped.step(A.noop())
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match="camera"):
        env.step({**A.noop(), "jumpp": 1})
    with pytest.raises(InvalidAction, match="Dict"):
        env.step(np.zeros(21))
    with pytest.raises(ValueError, match=r"uint8 in \[0, 255\] with shape \(T >= 1, 16, 16, 3\)"):
        env.reset(options={"context_frames": np.zeros((2, 8, 8, 3), np.uint8)})
    with pytest.raises(ValueError, match="got dtype float32"):
        env.reset(options={"context_frames": np.zeros((2, 16, 16, 3), np.float32)})
    with pytest.raises(ValueError, match=r"context_actions must be finite float \(1, 21\)"):
        env.reset(
            options={
                "context_frames": np.zeros((2, 16, 16, 3), np.uint8),
                "context_actions": np.zeros((3, 21)),
            }
        )
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"contxt": 1})
    with pytest.raises(ValueError, match="no starting context"):
        gym.make(ID, checkpoint=str(bare_checkpoint)).reset(seed=0)


def test_checkpoint_errors_name_the_file(checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="world_model.json"):
        gym.make(ID, checkpoint=str(tmp_path / "missing"))
    broken = Path(shutil.copytree(checkpoint, tmp_path / "broken"))
    (broken / "world_model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="world_model.json"):
        gym.make(ID, checkpoint=str(broken))
    future = Path(shutil.copytree(checkpoint, tmp_path / "future"))
    manifest = json.loads((future / "world_model.json").read_text())
    (future / "world_model.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version 99"):
        gym.make(ID, checkpoint=str(future))
    bad_contexts = Path(shutil.copytree(checkpoint, tmp_path / "ctx"))
    (bad_contexts / CONTEXTS_FILE).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="contexts.npz"):
        gym.make(ID, checkpoint=str(bad_contexts))
