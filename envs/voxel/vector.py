"""Native batched voxel world: N worlds simulated in one process and rendered in one call.

The worlds' blocks live in one stacked array (N, X, Y, Z), so the compiled renderer draws every
env's frame in a single parallel pass, and nothing crosses a process boundary. Autoreset
follows Gymnasium 1.x: ``NEXT_STEP`` by default (the step after an episode ends resets that
env and ignores its action), or ``SAME_STEP`` (the reset happens in the same step and the last
observation and info of the ended episode are returned as ``info["final_obs"]`` and
``info["final_info"]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.autoreset import parse_autoreset_mode, per_env_seeds
from simworld import actions as A

from .env import FrameRenderer, make_config, parse_ground_truth
from .tasks import Task, make_task
from .world import VoxelWorld


class VoxelWorldVectorEnv(VectorEnv):
    """N voxel worlds stepped and rendered together.

    Args:
        num_envs: number of worlds.
        max_episode_steps: truncate episodes after this many steps (None: never).
        autoreset_mode: "next_step" (default) or "same_step".
        render_mode: None or "rgb_array" (``render()`` returns the N current frames).
        task, task_kwargs, ground_truth, world_seed, **world_kwargs: as ``VoxelWorldEnv``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: str | AutoresetMode = "next_step",
        render_mode: str | None = None,
        task: str | Task | None = "free",
        task_kwargs: dict | None = None,
        ground_truth: str | Iterable[str] | None = None,
        world_seed: int | None = None,
        **world_kwargs: Any,
    ) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if isinstance(task, Task) and num_envs > 1:
            raise ValueError("pass the task by name (and task_kwargs) so that each env gets its own instance")
        self.config = make_config(world_kwargs)
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.tasks = [make_task(task, **(task_kwargs or {})) for _ in range(num_envs)]
        self.ground_truth = parse_ground_truth(ground_truth)
        self._want_pixels_gt = bool(self.ground_truth & {"depth", "segmentation"})
        self.world_seed = world_seed
        c = self.config
        self.single_observation_space = spaces.Box(0, 255, (c.height, c.width, 3), np.uint8)
        self.single_action_space = A.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._renderer = FrameRenderer(c, num_envs)
        self.worlds: list[VoxelWorld | None] = [None] * num_envs
        self._rngs = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self._elapsed = np.zeros(num_envs, np.int64)
        self._needs_reset = np.zeros(num_envs, np.bool_)

    def _reset_one(self, i: int, seed: int | None, options: dict[str, Any]) -> dict[str, Any]:
        if seed is not None:
            self._rngs[i], _ = seeding.np_random(seed)
        world_seed = options.get("world_seed", self.world_seed)
        if world_seed is None:
            world_seed = int(self._rngs[i].integers(0, 2**31 - 1))
        world = self._renderer.new_world(i, int(world_seed))
        scenario = options.get("scenario")
        if scenario is not None:
            scenario(world)
            world.events = []
        self.worlds[i] = world
        self._elapsed[i] = 0
        self._needs_reset[i] = False
        return {"world_seed": int(world_seed), **self.tasks[i].reset(world, self._rngs[i])}

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all envs, or those in ``options["reset_mask"]``.

        Args:
            seed: an int (env i gets seed + i), a list of per-env seeds, or None.
            options: ``reset_mask`` (bool (N,)), ``world_seed`` and ``scenario`` as for the single env.
        """
        options = dict(options or {})
        unknown = sorted(set(options) - {"world_seed", "scenario", "reset_mask"})
        if unknown:
            raise ValueError(
                f"unknown reset options {unknown}; valid: ['reset_mask', 'world_seed', 'scenario']"
            )
        seeds = per_env_seeds(seed, self.num_envs)
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, np.bool_)), np.bool_)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        infos: dict[str, Any] = {}
        extras = {i: self._reset_one(i, seeds[i], options) for i in np.nonzero(mask)[0]}
        for i in range(self.num_envs):
            if self.worlds[i] is None:
                raise ValueError(f"env {i} has never been reset; include it in reset_mask")
        self._renderer.render(self.worlds, self._want_pixels_gt)
        for i, extra in extras.items():
            infos = self._add_info(infos, self._info(i, extra), i)
        return self._renderer.rgb.copy(), infos

    def _info(self, i: int, extra: dict[str, Any]) -> dict[str, Any]:
        info = {"tick": self.worlds[i].tick, **extra}
        if self.ground_truth:
            info.update(self._renderer.info(i, self.worlds[i], self.ground_truth))
        return info

    def _infos(self, extras: list[dict[str, Any]]) -> dict[str, Any]:
        """Batched infos: the tick as one array, task and ground-truth entries per env."""
        infos: dict[str, Any] = {
            "tick": np.array([w.tick for w in self.worlds], np.int64),
            "_tick": np.ones(self.num_envs, np.bool_),
        }
        for i, extra in enumerate(extras):
            if self.ground_truth:
                extra = {**extra, **self._renderer.info(i, self.worlds[i], self.ground_truth)}
            if extra:
                infos = self._add_info(infos, extra, i)
        return infos

    def step(self, actions: dict[str, Any]):
        """Step every env with a batched canonical action (dict of arrays with leading dim N)."""
        if any(w is None for w in self.worlds):
            raise ResetNeeded("call reset() before step()")
        batch = A.validate_batched(actions)
        if batch["camera"].shape[0] != self.num_envs:
            raise InvalidAction(
                f"expected a batch of {self.num_envs} actions in {self.action_space}, "
                f"got {batch['camera'].shape[0]}"
            )
        n = self.num_envs
        rewards = np.zeros(n)
        terminated = np.zeros(n, np.bool_)
        truncated = np.zeros(n, np.bool_)
        extras: list[dict[str, Any]] = [{} for _ in range(n)]
        active = ~self._needs_reset
        for i in np.flatnonzero(self._needs_reset).tolist():  # NEXT_STEP autoreset: this step only resets
            extras[i] = self._reset_one(i, None, {})
        # the other worlds step together: one compiled call per tick for all players, one for all mobs
        self._renderer.step(self.worlds, batch, active)
        for i in np.flatnonzero(active).tolist():
            world = self.worlds[i]
            rewards[i], terminated[i], extras[i] = self.tasks[i].score(world, world.events)
        self._elapsed += active
        if self.max_episode_steps is not None:
            truncated = active & (self._elapsed >= self.max_episode_steps)
        self._renderer.render(self.worlds, self._want_pixels_gt)
        done = terminated | truncated
        infos: dict[str, Any] = {}
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._needs_reset = done
            return self._renderer.rgb.copy(), rewards, terminated, truncated, self._infos(extras)
        # SAME_STEP: keep the ended episodes' last frame and info, reset them, render again
        obs = self._renderer.rgb.copy()
        final_obs = np.full(n, None, dtype=object)
        final_info: dict[str, Any] = {}
        for i in np.nonzero(done)[0]:
            final_obs[i] = obs[i].copy()
            final_info = self._add_info(final_info, self._info(i, extras[i]), i)
            extras[i] = self._reset_one(i, None, {})
        if done.any():
            self._renderer.render(self.worlds, self._want_pixels_gt)
            obs = self._renderer.rgb.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"], infos["_final_info"] = final_info, done.copy()
        return obs, rewards, terminated, truncated, {**infos, **self._infos(extras)}

    def render(self) -> np.ndarray | None:
        """The N current frames, uint8 (N, H, W, 3), when render_mode is "rgb_array"."""
        if self.render_mode == "rgb_array" and all(w is not None for w in self.worlds):
            return self._renderer.rgb.copy()
        return None
