"""Rollout-to-video export: run a policy in any single Gymnasium env and write an mp4 or GIF.

Works for the learned world (``simworld/WorldModel-v0``) and the real voxel world alike, so the
two can be recorded from the same seed and compared. The first frame is the reset observation
(for the learned world: the last real context frame), then one frame per step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from simworld.video import write_video

Policy = Callable[[np.ndarray], Any]
"""``policy(obs uint8 (H, W, 3)) -> action`` in the env's action space."""


def record_rollout(
    env: gym.Env,
    path: str | Path,
    steps: int,
    policy: Policy | None = None,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    fps: float = 20.0,
    scale: int = 1,
) -> tuple[Path, dict[str, np.ndarray]]:
    """Reset ``env``, step it up to ``steps`` times (stopping when the episode ends), write the video.

    Args:
        env: a single (not vector) env with uint8 (H, W, 3) observations.
        path: ``.mp4`` or ``.gif`` destination.
        steps: most steps to take.
        policy: maps an observation to an action; None samples the action space (seeded by ``seed``).
        seed: reset seed (and action-sampling seed).
        options: reset options (e.g. a starting context for the learned world).
        fps: frames per second of the video.
        scale: integer upscaling of the frames.

    Returns:
        The path written and the rollout: ``frames`` uint8 (T+1, H, W, 3), ``rewards`` float (T,).

    Raises:
        ValueError: ``steps`` < 1, or a bad video suffix.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if policy is None:
        env.action_space.seed(seed)
        policy = lambda _obs: env.action_space.sample()  # noqa: E731
    obs, _ = env.reset(seed=seed, options=options)
    frames, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        frames.append(obs)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    rollout = {"frames": np.stack(frames), "rewards": np.asarray(rewards)}
    return write_video(path, rollout["frames"], fps=fps, scale=scale), rollout
