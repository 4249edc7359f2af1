"""``WorldModelEnv``: a trained world-model checkpoint as a Gymnasium ``Env`` (``simworld/WorldModel-v0``).

Observations are uint8 (H, W, 3) frames of the checkpoint's size; the action space is the
canonical ``simworld.actions.action_space()``, the same as the real voxel env's, so a policy moves
between the real and the learned world unchanged. ``reset`` starts from real frames (see
``envs.learned.contexts`` for the options) and returns the context's last frame; ``step``
returns the next generated frame, the learned head's reward and termination (or those of a
user ``reward_fn``), and an ``info`` with ``uncertainty``, ``context_frames``,
``step_latency_s`` and ``termination_prob``. Truncation comes from ``max_episode_steps``
(``gymnasium.make`` adds the ``TimeLimit``). See docs/learned_env.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.error import InvalidAction, ResetNeeded

from simworld import actions as A

from .contexts import ContextSource
from .core import BatchedWorld, load_model

RewardFn = Callable[[torch.Tensor], tuple[Any, Any]]
"""``reward_fn(frames uint8 (B, H, W, 3) on the model device) -> (reward (B,), terminated (B,))``."""


def apply_reward_fn(
    reward_fn: RewardFn | None, out: dict[str, torch.Tensor], threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward float32 (B,), terminated bool (B,)) from the learned head or ``reward_fn``."""
    if reward_fn is None:
        return out["reward"], out["termination_prob"] > threshold
    reward, terminated = reward_fn(out["frames"])
    device = out["frames"].device
    reward = torch.as_tensor(reward, device=device).float().reshape(-1)
    terminated = torch.as_tensor(terminated, device=device).bool().reshape(-1)
    B = out["frames"].shape[0]
    if reward.shape != (B,) or terminated.shape != (B,):
        raise ValueError(
            f"reward_fn must return (reward ({B},), terminated ({B},)), "
            f"got {tuple(reward.shape)}, {tuple(terminated.shape)}"
        )
    return reward, terminated


class WorldModelEnv(gym.Env):
    """A learned world as a Gymnasium env; see the module docstring.

    Args:
        checkpoint: the checkpoint folder (``simworld.checkpoint``).
        device: torch device of the model.
        dtype: "float32", "bfloat16", "float16" or a torch dtype.
        num_inference_steps: denoising steps per frame (None: the checkpoint's).
        context_noise_level: timestep at which context frames are fed (None: the checkpoint's).
        guidance_scale: classifier-free guidance (None: the checkpoint's).
        max_context_frames: sliding window (None: the checkpoint's).
        use_kv_cache: cache context keys/values (False recomputes the window every denoising step).
        uncertainty: "none" or "two_sample" (``info["uncertainty"]``; see ``envs.learned.core``).
        reward_fn: replaces the learned reward/termination head; see ``RewardFn``.
        termination_threshold: terminated when the head's termination probability exceeds it.
        live_env: env id for ``{"live": True}`` resets instead of the checkpoint's ``training["env"]``.
        report_latency: put ``step_latency_s`` (wall clock, so not reproducible) in ``info``; turn it
            off where infos are compared for determinism (``check_env``). Always in ``last_latency_s``.
        render_mode: None or "rgb_array".

    Raises:
        CheckpointError: missing, corrupt or incompatible checkpoint (names the file).
        ValueError: bad arguments.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        checkpoint: str,
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
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.model = load_model(
            checkpoint, device, dtype, use_kv_cache, num_inference_steps, context_noise_level,
            guidance_scale, max_context_frames,
        )  # fmt: skip
        self.world = BatchedWorld(self.model, 1, uncertainty)
        H, W = self.model.frame_size
        self.contexts = ContextSource(
            checkpoint, (H, W), self.model.max_context_frames, self.model.training, live_env
        )
        self.observation_space = spaces.Box(0, 255, (H, W, 3), np.uint8)
        self.action_space = A.action_space()
        self.render_mode, self.report_latency = render_mode, report_latency
        self.reward_fn, self.termination_threshold = reward_fn, float(termination_threshold)
        self._frame: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode from a real context; return its last frame and info.

        Args:
            seed: seeds the env's RNG, which picks the context and seeds the sampling noise.
            options: see ``envs.learned.contexts`` (``context_frames``/``context_actions``,
                ``dataset``/``episode``/``start``, ``live``, ``context_index``).

        Raises:
            ValueError: bad options or context data.
        """
        super().reset(seed=seed)
        ctx = self.contexts.get(dict(options or {}), self.np_random)
        fresh = [int(self.np_random.integers(0, 2**63 - 1))]
        self.world.reset_rows({0: ctx}, {0: None}, fresh)
        self._frame = ctx.frames[-1].copy()
        info = {"context_source": ctx.source, "context_frames": int(self.world.context_frames[0])}
        return self._frame.copy(), info

    def step(self, action: Mapping[str, Any]):
        """Generate the next frame for a canonical action dict.

        Raises:
            ResetNeeded: before ``reset``.
            InvalidAction: the action is not in the action space (the message names it).
        """
        if not self.world.ready:
            raise ResetNeeded("call reset() before step()")
        if not isinstance(action, Mapping):
            raise InvalidAction(f"action must be a dict in {self.action_space}, got {type(action).__name__}")
        flat = torch.from_numpy(A.to_flat(A.validate(action)))[None]  # (1, 21)
        out = self.world.step(flat)
        reward, terminated = apply_reward_fn(self.reward_fn, out, self.termination_threshold)
        self._frame = out["frames"][0].cpu().numpy()
        info = {
            "uncertainty": float(out["uncertainty"][0]),
            "termination_prob": float(out["termination_prob"][0]),
            "context_frames": int(self.world.context_frames[0]),
        }
        if self.report_latency:
            info["step_latency_s"] = self.world.last_latency_s
        return self._frame.copy(), float(reward[0]), bool(terminated[0]), False, info

    @property
    def last_latency_s(self) -> float:
        """Wall-clock seconds of the last ``step``'s generation."""
        return self.world.last_latency_s

    def render(self) -> np.ndarray | None:
        """The current frame, uint8 (H, W, 3), when render_mode is "rgb_array"."""
        if self.render_mode == "rgb_array" and self._frame is not None:
            return self._frame.copy()
        return None

    def close(self) -> None:
        """Close the live env, if one was made."""
        self.contexts.close()
