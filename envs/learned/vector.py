"""``WorldModelVectorEnv``: N learned envs generated in one batched forward pass per denoising step.

``gymnasium.make_vec("simworld/WorldModel-v0", num_envs=N, checkpoint=...)``. One KV cache holds
every env's context; each env has its own RNG (context choice) and CPU torch generators (noise).
Autoreset follows Gymnasium 1.x: ``NEXT_STEP`` by default (the step after an episode ends resets
that env, ignores its action and returns its new context's last frame with reward 0), or
``SAME_STEP`` (reset within the step; the ended episodes' last frames and infos are returned
as ``info["final_obs"]`` / ``info["final_info"]``). Any reset rebuilds the whole KV cache (see
``envs.learned.core`` for why and what it costs).

``step_torch(actions float (N, 21))`` is the GPU-loop interface: flat canonical actions in,
tensors on the model's device out, no numpy round trip and no action validation beyond shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.autoreset import parse_autoreset_mode, per_env_seeds
from simworld import actions as A

from .contexts import Context, ContextSource
from .core import BatchedWorld, load_model
from .env import RewardFn, apply_reward_fn


class WorldModelVectorEnv(VectorEnv):
    """N learned envs stepped together; see the module docstring.

    Args:
        num_envs: N.
        checkpoint: the checkpoint folder.
        max_episode_steps: truncate episodes after this many steps (None: never).
        autoreset_mode: "next_step" (default) or "same_step".
        render_mode: None or "rgb_array".
        **kwargs: as ``WorldModelEnv`` (device, dtype, num_inference_steps, context_noise_level,
            guidance_scale, max_context_frames, use_kv_cache, uncertainty, reward_fn,
            termination_threshold, live_env, report_latency).

    Raises:
        CheckpointError: missing, corrupt or incompatible checkpoint (names the file).
        ValueError: bad arguments.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        checkpoint: str | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: str | AutoresetMode = "next_step",
        render_mode: str | None = None,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float32",
        num_inference_steps: int | None = None,
        context_noise_level: int | None = None,
        guidance_scale: float | None = None,
        max_context_frames: int | None = None,
        use_kv_cache: bool = True,
        uncertainty: str = "none",
        reward_fn: RewardFn | None = None,
        termination_threshold: float = 0.5,
        live_env: str | None = None,
        report_latency: bool = True,
    ) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if checkpoint is None:
            raise ValueError("checkpoint is required: the folder of a simworld world-model checkpoint")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.model = load_model(
            checkpoint, device, dtype, use_kv_cache, num_inference_steps, context_noise_level,
            guidance_scale, max_context_frames,
        )  # fmt: skip
        self.world = BatchedWorld(self.model, num_envs, uncertainty)
        H, W = self.model.frame_size
        self.contexts = ContextSource(
            checkpoint, (H, W), self.model.max_context_frames, self.model.training, live_env
        )
        self.num_envs, self.render_mode = num_envs, render_mode
        self.max_episode_steps = max_episode_steps
        self.autoreset_mode = parse_autoreset_mode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.reward_fn, self.termination_threshold = reward_fn, float(termination_threshold)
        self.report_latency = report_latency
        self.single_observation_space = spaces.Box(0, 255, (H, W, 3), np.uint8)
        self.single_action_space = A.action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self._elapsed = torch.zeros(num_envs, dtype=torch.long)
        self._needs_reset = torch.zeros(num_envs, dtype=torch.bool)
        self._frames: torch.Tensor | None = None  # uint8 (N, H, W, 3) on the model device
        self._sources = [""] * num_envs

    # ------------------------------------------------------------------ resets

    def _env_options(self, options: dict[str, Any], i: int) -> dict[str, Any]:
        """Env i's options: batched context_frames (N, T, H, W, 3) / actions / episode lists split."""
        out = dict(options)
        frames = out.get("context_frames")
        if frames is not None and np.ndim(frames) == 5:
            if len(frames) != self.num_envs:
                raise ValueError(f"batched context_frames must have {self.num_envs} rows, got {len(frames)}")
            out["context_frames"] = frames[i]
            if out.get("context_actions") is not None:
                out["context_actions"] = out["context_actions"][i]
        for key in ("episode", "context_index", "start"):
            if isinstance(out.get(key), (list, tuple, np.ndarray)):
                out[key] = out[key][i]
        return out

    def _reset_envs(
        self, indices: Sequence[int], seeds: dict[int, int | None], options: dict[str, Any]
    ) -> None:
        """Reset envs ``indices`` (new contexts, generators) and rebuild the cache."""
        contexts: dict[int, Context] = {}
        for i in indices:
            if seeds.get(i) is not None:
                self._rngs[i], _ = seeding.np_random(int(seeds[i]))
            contexts[i] = self.contexts.get(self._env_options(options, i), self._rngs[i])
            self._sources[i] = contexts[i].source
        fresh = [int(rng.integers(0, 2**63 - 1)) if i in contexts else 0 for i, rng in enumerate(self._rngs)]
        self.world.reset_rows(contexts, {}, fresh)
        last = torch.stack([torch.from_numpy(contexts[i].frames[-1]) for i in indices]).to(self.model.device)
        if self._frames is None:
            self._frames = last
        else:
            self._frames[torch.as_tensor(list(indices), device=self._frames.device)] = last
        self._elapsed[list(indices)] = 0
        self._needs_reset[list(indices)] = False

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all envs, or those in ``options["reset_mask"]``.

        Args:
            seed: an int (env i gets seed + i), a list of per-env seeds, or None.
            options: ``reset_mask`` (bool (N,)) and the single env's options (see
                ``envs.learned.contexts``); ``context_frames`` may be (T, H, W, 3) for every env
                or (N, T, H, W, 3) per env; ``episode``/``context_index``/``start`` may be lists.

        Returns:
            uint8 (N, H, W, 3) observations and infos.
        """
        options = dict(options or {})
        seeds = per_env_seeds(seed, self.num_envs)
        if seeds[0] is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        mask = np.asarray(options.pop("reset_mask", np.ones(self.num_envs, np.bool_)), np.bool_)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        indices = [int(i) for i in np.nonzero(mask)[0]]
        if not self.world.ready and len(indices) != self.num_envs:
            raise ValueError("the first reset must reset every env (reset_mask all True)")
        self._reset_envs(indices, dict(enumerate(seeds)), options)
        infos: dict[str, Any] = {}
        for i in indices:
            infos = self._add_info(
                infos,
                {"context_source": self._sources[i], "context_frames": int(self.world.context_frames[i])},
                i,
            )
        return self._frames.cpu().numpy(), infos

    # ------------------------------------------------------------------ steps

    def step_torch(self, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Step with flat actions float (N, 21); return tensors on the model's device.

        Returns:
            (obs uint8 (N, H, W, 3), reward float32 (N,), terminated bool (N,), truncated bool (N,),
            info dict of tensors: ``uncertainty``, ``termination_prob``, ``context_frames``, and
            with SAME_STEP ``final_obs`` uint8 (N, H, W, 3) and ``_final_obs`` bool (N,)).

        Raises:
            ResetNeeded: before ``reset``.
            InvalidAction: actions of the wrong shape or not finite.
        """
        if not self.world.ready:
            raise ResetNeeded("call reset() before step()")
        if not isinstance(actions, torch.Tensor) or tuple(actions.shape) != (self.num_envs, A.FLAT_DIM):
            shape = tuple(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__
            raise InvalidAction(
                f"step_torch takes flat canonical actions float ({self.num_envs}, {A.FLAT_DIM}) "
                f"(simworld.actions.to_flat of {self.single_action_space}), got {shape}"
            )
        if not torch.isfinite(actions).all():
            raise InvalidAction("step_torch actions must be finite")
        device = self.model.device
        out = self.world.step(actions)
        reward, terminated = apply_reward_fn(self.reward_fn, out, self.termination_threshold)
        frames = out["frames"]
        resetting = self._needs_reset.clone()
        self._elapsed += 1
        truncated = torch.zeros(self.num_envs, dtype=torch.bool)
        if self.max_episode_steps is not None:
            truncated = self._elapsed >= self.max_episode_steps
        terminated, truncated = terminated.cpu() & ~resetting, truncated & ~resetting
        reward = torch.where(resetting.to(device), torch.zeros_like(reward), reward)
        done = terminated | truncated
        info: dict[str, Any] = {
            "uncertainty": out["uncertainty"],
            "termination_prob": out["termination_prob"],
        }
        self._frames = frames.clone()
        context_frames = torch.from_numpy(self.world.context_frames.copy())
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            if resetting.any():  # the ended episodes restart now; their generated frame is dropped
                self._reset_envs([int(i) for i in torch.nonzero(resetting)[:, 0]], {}, {})
            self._needs_reset = done.clone()
        elif done.any():
            info["final_obs"], info["_final_obs"] = frames.clone(), done.to(device)
            info["final_info"] = {
                "uncertainty": out["uncertainty"],
                "termination_prob": out["termination_prob"],
                "context_frames": context_frames,
            }
            self._reset_envs([int(i) for i in torch.nonzero(done)[:, 0]], {}, {})
        info["context_frames"] = torch.from_numpy(self.world.context_frames.copy())
        return self._frames, reward, terminated.to(device), truncated.to(device), info

    def step(self, actions: dict[str, Any]):
        """Step every env with a batched canonical action (dict of arrays with leading dim N).

        Raises:
            ResetNeeded: before ``reset``.
            InvalidAction: actions not in ``action_space`` (the message names it).
        """
        if not self.world.ready:
            raise ResetNeeded("call reset() before step()")
        if not isinstance(actions, dict):
            raise InvalidAction(
                f"actions must be a batched dict in {self.action_space}, got {type(actions).__name__}"
            )
        batch = A.validate_batched(actions)
        if batch["camera"].shape != (self.num_envs, 2):
            raise InvalidAction(
                f"expected a batch of {self.num_envs} actions in {self.action_space}, "
                f"got batch shape {batch['camera'].shape[:-1]}"
            )
        flat = torch.from_numpy(A.to_flat(batch))  # (N, 21)
        obs, reward, terminated, truncated, tinfo = self.step_torch(flat)
        infos = self._numpy_infos(tinfo)
        if "final_obs" in tinfo:
            last = tinfo["final_obs"].cpu().numpy()
            done = tinfo["_final_obs"].cpu().numpy()
            ended = self._numpy_infos(tinfo["final_info"])
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_info: dict[str, Any] = {}
            for i in np.nonzero(done)[0]:
                final_obs[i] = last[i]
                final_info = self._add_info(final_info, {k: v[i] for k, v in ended.items() if k[0] != "_"}, i)
            infos["final_obs"], infos["_final_obs"] = final_obs, done
            infos["final_info"], infos["_final_info"] = final_info, done.copy()
        return (
            obs.cpu().numpy(),
            reward.cpu().numpy().astype(np.float64),
            terminated.cpu().numpy(),
            truncated.cpu().numpy(),
            infos,
        )

    def _numpy_infos(self, tinfo: dict[str, Any]) -> dict[str, Any]:
        n = self.num_envs
        infos: dict[str, Any] = {}
        for key in ("uncertainty", "termination_prob", "context_frames"):
            infos[key] = tinfo[key].cpu().numpy()
            infos[f"_{key}"] = np.ones(n, np.bool_)
        if self.report_latency:
            infos["step_latency_s"] = np.full(n, self.world.last_latency_s)
            infos["_step_latency_s"] = np.ones(n, np.bool_)
        return infos

    @property
    def last_latency_s(self) -> float:
        """Wall-clock seconds of the last step's generation (all envs)."""
        return self.world.last_latency_s

    def render(self) -> np.ndarray | None:
        """The N current frames, uint8 (N, H, W, 3), when render_mode is "rgb_array"."""
        if self.render_mode == "rgb_array" and self._frames is not None:
            return self._frames.cpu().numpy()
        return None

    def close_extras(self, **kwargs: Any) -> None:
        """Close the live env, if one was made."""
        self.contexts.close()
