"""Rollout-to-video export of the learned world."""

from __future__ import annotations

import gymnasium as gym

import envs  # noqa: F401  (registers the ids)
from envs.learned.record import record_rollout
from simworld.video import read_video


def test_record_gif(checkpoint, tmp_path):
    env = gym.make("simworld/WorldModel-v0", checkpoint=checkpoint, termination_threshold=1.0)
    path, rollout = record_rollout(env, tmp_path / "learned.gif", steps=3, seed=0, scale=2)
    assert rollout["frames"].shape == (4, 16, 16, 3) and rollout["rewards"].shape == (3,)
    assert read_video(path).shape == (4, 32, 32, 3)
