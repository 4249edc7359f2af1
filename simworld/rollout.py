"""Record trajectories: run a policy in an env and keep frames, actions, rewards and ground truth."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from simworld import actions as A


@dataclass
class Trajectory:
    """One recorded episode (T steps after the reset frame).

    Attributes:
        frames: uint8 (T + 1, H, W, 3), the reset observation first.
        actions: float32 (T, FLAT_DIM) canonical actions in flat form (``simworld.actions``).
        rewards: float32 (T,).
        terminated: bool (T,).
        truncated: bool (T,).
        poses: float64 (T + 1, 5) eye x, y, z, yaw, pitch when the env reports ``pose``, else empty.
        events: number of block events per step, int64 (T,).
        seconds: wall time of the stepping loop.
        reset_info: the info returned by ``reset``.
    """

    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    poses: np.ndarray
    events: np.ndarray
    seconds: float
    reset_info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.actions)


def record_scripted(
    env: gym.Env, policy: Any, steps: int, seed: int, progress: str | None = None
) -> Trajectory:
    """Run a scripted voxel policy (``envs.voxel.policies``) for ``steps`` steps from ``reset(seed=seed)``.

    Stops early when the episode terminates or is truncated.

    Args:
        env: a voxel env (made with ``ground_truth`` including "pose" to record poses).
        policy: a ``ScriptedPolicy``; it reads ``env.unwrapped.world``.
        steps: maximum number of steps.
        seed: reset seed of the env and seed of the policy's generator.
        progress: label of a progress bar (None: no bar).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    obs, info = env.reset(seed=seed)
    reset_info = {k: info[k] for k in ("world_seed", "task") if k in info}
    world = env.unwrapped.world
    policy.reset(world, np.random.default_rng(seed))
    frames, actions, rewards, terms, truncs, events = [obs], [], [], [], [], []
    poses = [info["pose"]] if "pose" in info else []
    t0 = time.perf_counter()
    for _ in tqdm(range(steps), desc=progress, disable=progress is None, leave=False):
        action = policy.act(world)
        obs, reward, terminated, truncated, info = env.step(action)
        frames.append(obs)
        actions.append(A.to_flat(action))
        rewards.append(reward)
        terms.append(terminated)
        truncs.append(truncated)
        events.append(len(info.get("events", ())))
        if "pose" in info:
            poses.append(info["pose"])
        if terminated or truncated:
            break
    seconds = time.perf_counter() - t0
    return Trajectory(
        frames=np.stack(frames),
        actions=np.stack(actions).astype(np.float32),
        rewards=np.asarray(rewards, np.float32),
        terminated=np.asarray(terms),
        truncated=np.asarray(truncs),
        poses=np.stack(poses) if poses else np.zeros((0, 5)),
        events=np.asarray(events, np.int64),
        seconds=seconds,
        reset_info=reset_info,
    )
