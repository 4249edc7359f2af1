"""``WorldModel``: the learned simulator's Python API (load, reset, step, rollout, save).

A world model is a latent space (``VideoVAE`` or lossless ``PixelSpace``), a causal DiT, a
reward/termination head and sampler settings. It runs B environments at once:

- ``reset(context_frames, context_actions, seed=...)`` encodes real frames as the context;
- ``step(actions)`` generates the next frame of every env (only the newest latent frame is
  denoised, context frames held at ``context_noise_level``, a KV cache over a sliding window
  of ``max_context_frames``) and predicts its reward and termination;
- ``rollout(context_frames, actions, ...)`` does a reset and one step per action.

Determinism: each env has its own CPU ``torch.Generator``, seeded ``seed + i`` (or from a list of
seeds), which draws all of that env's noise; the same checkpoint, seeds and actions give the same
frames, whatever else is in the batch (up to batched-matmul numerics across batch sizes).

Temporal compression: ``step`` produces one env frame per call, so it needs a latent space whose
latent frames are single env frames (``temporal_factor == 1``). A causal 3D VAE with
``temporal_factor`` k > 1 packs k frames into one latent frame, so one action cannot be turned
into one frame; ``reset``/``step``/``rollout`` refuse such checkpoints with a ``ValueError``
(the DiT and ``simworld.diffusion.generate`` still work on their latents, e.g. for video modes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.error import InvalidAction

from simworld import actions as A
from simworld.checkpoint import load_checkpoint, save_checkpoint
from simworld.diffusion.generate import AutoregressiveSampler
from simworld.diffusion.samplers import SamplerConfig
from simworld.diffusion.schedule import NoiseSchedule, NoiseScheduleConfig
from simworld.diffusion.training import frame_aligned
from simworld.models.dit import DiT
from simworld.models.heads import RewardTerminationHead
from simworld.models.pixel_space import PixelSpace
from simworld.models.vae import VideoVAE


@dataclass
class StepOutput:
    """What ``step`` returns for B envs.

    Attributes:
        frames: uint8 (B, H, W, 3) generated frames, on the model's device.
        reward: float32 (B,) predicted reward of the step.
        termination_prob: float32 (B,) predicted probability that the new frame is terminal.
        terminated: bool (B,) ``termination_prob > 0.5``.
    """

    frames: torch.Tensor
    reward: torch.Tensor
    termination_prob: torch.Tensor
    terminated: torch.Tensor


@dataclass
class RolloutOutput:
    """What ``rollout`` returns for B envs and K actions.

    Attributes:
        frames: uint8 (B, K, H, W, 3) generated frames.
        reward: float32 (B, K).
        termination_prob: float32 (B, K).
    """

    frames: torch.Tensor
    reward: torch.Tensor
    termination_prob: torch.Tensor


def align_actions(actions: Any, B: int, T: int, name: str = "actions") -> tuple[torch.Tensor, torch.Tensor]:
    """Frame-aligned actions (B, T, A) and their mask (B, T) for a T-frame clip.

    Args:
        actions: float (B, T-1, A) — the actions between the frames (frame 0 then gets the null
            action, masked) — or (B, T, A) — the action that led to each frame; None: all null.
        B, T: batch size and clip length.
        name: the argument's name in the error message.

    Raises:
        ValueError: another shape, a non-float dtype or non-finite values.
    """
    if actions is None:
        return torch.zeros(B, T, A.FLAT_DIM), torch.zeros(B, T, dtype=torch.bool)
    a = torch.as_tensor(np.asarray(actions) if not isinstance(actions, torch.Tensor) else actions)
    if (
        a.ndim != 3
        or a.shape[0] != B
        or a.shape[1] not in (T - 1, T)
        or a.shape[2] != A.FLAT_DIM
        or not a.is_floating_point()
        or not torch.isfinite(a).all()
    ):
        raise ValueError(
            f"{name} must be finite float ({B}, {T - 1}, {A.FLAT_DIM}) (between the {T} frames) or "
            f"({B}, {T}, {A.FLAT_DIM}) (the action that led to each frame), got {a.dtype} {tuple(a.shape)}"
        )
    a = a.float().cpu()
    if a.shape[1] == T:
        return a, torch.ones(B, T, dtype=torch.bool)
    if T == 1:
        return torch.zeros(B, 1, A.FLAT_DIM), torch.zeros(B, 1, dtype=torch.bool)
    return frame_aligned(a)


class WorldModel:
    """A learned environment simulator over a latent space; see the module docstring.

    Args:
        latent_space: ``VideoVAE`` or ``PixelSpace``.
        dit: causal DiT on its latents.
        head: reward/termination head on the DiT features.
        frame_size: (H, W) of env frames.
        sampler: sampler defaults (may be replaced later through ``sampler``).
        max_context_frames: sliding window of context frames.
        noise_schedule: the DiT's training schedule.
        training: training summary kept in the checkpoint.
        use_kv_cache: cache context keys/values (default True; the uncached path recomputes the window).
    """

    def __init__(
        self,
        latent_space: VideoVAE | PixelSpace,
        dit: DiT,
        head: RewardTerminationHead,
        frame_size: tuple[int, int],
        sampler: SamplerConfig | None = None,
        max_context_frames: int = 32,
        noise_schedule: NoiseScheduleConfig | None = None,
        training: dict[str, Any] | None = None,
        use_kv_cache: bool = True,
    ) -> None:
        self.latent_space, self.dit, self.head = latent_space, dit, head
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.sampler = sampler or SamplerConfig()
        self.max_context_frames = max_context_frames
        self.noise_schedule = noise_schedule or NoiseScheduleConfig()
        self.schedule = NoiseSchedule(self.noise_schedule)
        self.training = dict(training or {})
        self.use_kv_cache = use_kv_cache
        self._ar: AutoregressiveSampler | None = None
        self._generators: list[torch.Generator] | None = None

    # ------------------------------------------------------------------ persistence

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        use_kv_cache: bool = True,
    ) -> WorldModel:
        """Load a checkpoint folder (``simworld.checkpoint``), strictly.

        Raises:
            CheckpointError: a bad or mismatching checkpoint (names the file).
        """
        ckpt = load_checkpoint(path, device, dtype)
        m = ckpt.manifest
        return cls(
            ckpt.latent_space,
            ckpt.dit,
            ckpt.head,
            tuple(m.frame_size),
            ckpt.sampler,
            m.max_context_frames,
            ckpt.noise_schedule,
            m.training,
            use_kv_cache,
        )

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint folder; return it."""
        return save_checkpoint(
            path,
            latent_space=self.latent_space,
            dit=self.dit,
            head=self.head,
            frame_size=self.frame_size,
            sampler=self.sampler,
            max_context_frames=self.max_context_frames,
            noise_schedule=self.noise_schedule,
            training=self.training,
        )

    @property
    def device(self) -> torch.device:
        """Device of the DiT."""
        return next(self.dit.parameters()).device

    @property
    def num_envs(self) -> int:
        """Number of envs since the last ``reset`` (0 before)."""
        return 0 if self._generators is None else len(self._generators)

    # ------------------------------------------------------------------ input checks

    def _frames(self, frames: Any) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) tensor of the model's frame size, or ValueError."""
        H, W = self.frame_size
        x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
        if x.dtype != torch.uint8:
            raise ValueError(
                f"context_frames must be uint8 in [0, 255] with shape (B, T, {H}, {W}, 3), "
                f"got dtype {x.dtype}"
            )
        if x.ndim != 5 or tuple(x.shape[2:]) != (H, W, 3) or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(
                f"context_frames must have shape (B, T, {H}, {W}, 3) with B, T >= 1, got {tuple(x.shape)}"
            )
        return x

    def _flat_actions(self, actions: Any, B: int, name: str = "actions") -> torch.Tensor:
        """float32 (B, FLAT_DIM) from flat vectors or a list of canonical dicts, or ValueError."""
        if isinstance(actions, Mapping) or (
            isinstance(actions, Sequence) and actions and isinstance(actions[0], Mapping)
        ):
            try:
                flat = A.to_flat(actions)
            except InvalidAction as err:
                raise ValueError(f"{name}: {err}") from err
        else:
            flat = (
                actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
            )
        flat = np.asarray(flat)
        if flat.ndim == 1 and B == 1:
            flat = flat[None]
        if flat.shape != (B, A.FLAT_DIM) or flat.dtype.kind not in "biuf" or not np.all(np.isfinite(flat)):
            raise ValueError(
                f"{name} must be {B} canonical action dicts or finite flat float vectors "
                f"({B}, {A.FLAT_DIM}) (simworld.actions.to_flat), got shape {flat.shape} "
                f"dtype {flat.dtype}"
            )
        return torch.from_numpy(flat.astype(np.float32))

    def _context_actions(self, actions: Any, B: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame-aligned actions (B, T, A) and mask (B, T) from (B, T-1, A) or (B, T, A)."""
        return align_actions(actions, B, T, "context_actions")

    def _seed_generators(self, seed: int | Sequence[int] | None, B: int) -> list[torch.Generator]:
        if seed is None:
            return [torch.Generator().manual_seed(int(torch.seed()) + i) for i in range(B)]
        seeds = (
            [int(seed) + i for i in range(B)]
            if isinstance(seed, (int, np.integer))
            else [int(s) for s in seed]
        )
        if len(seeds) != B:
            raise ValueError(f"seed must be an int or {B} ints (one per env), got {len(seeds)}")
        return [torch.Generator().manual_seed(s) for s in seeds]

    # ------------------------------------------------------------------ simulation

    def autoregressive_sampler(self) -> AutoregressiveSampler:
        """A next-frame sampler over this model's DiT, schedule, sampler settings and window (KV-cached
        when ``use_kv_cache`` and the DiT is causal)."""
        return AutoregressiveSampler(
            self.dit,
            self.schedule,
            self.sampler,
            self.max_context_frames,
            use_kv_cache=self.use_kv_cache and self.dit.config.causal,
        )

    @torch.no_grad()
    def reset(
        self,
        context_frames: Any,
        context_actions: Any = None,
        seed: int | Sequence[int] | None = None,
        extra: torch.Tensor | None = None,
    ) -> None:
        """Start B envs from real frames.

        Args:
            context_frames: uint8 (B, T, H, W, 3), T >= 1 (only the last ``max_context_frames`` are used).
            context_actions: float (B, T-1, FLAT_DIM), the actions between the frames (the first
                frame then gets the null action), or (B, T, FLAT_DIM), the action that led to each
                frame; None: null actions.
            seed: env i's generator is seeded ``seed + i``, or ``seed[i]`` for a list; None: random.
            extra: (B, E) extra conditioning for models with ``extra_cond_dim > 0``.

        Raises:
            ValueError: bad frames, actions or seeds, or a latent space with temporal_factor > 1.
        """
        tf = self.latent_space.config.temporal_factor
        if tf != 1:
            raise ValueError(
                f"step-by-step simulation needs a latent space with temporal_factor == 1 (one latent "
                f"frame per env frame); this checkpoint's has temporal_factor={tf}"
            )
        frames = self._frames(context_frames)
        B, T = frames.shape[:2]
        actions, mask = self._context_actions(context_actions, B, T)
        self._generators = self._seed_generators(seed, B)
        dtype = next(self.dit.parameters()).dtype
        latents = self.latent_space.encode(frames.to(self.device)).to(device=self.device, dtype=dtype)
        self._ar = self.autoregressive_sampler()
        self._ar.reset(latents, actions.to(self.device, dtype), mask.to(self.device), self._generators, extra)

    @torch.no_grad()
    def step(self, actions: Any) -> StepOutput:
        """Generate the next frame of every env.

        Args:
            actions: float (B, FLAT_DIM) flat canonical actions, or a list of B canonical action dicts.

        Returns:
            Frames, predicted rewards and terminations.

        Raises:
            ValueError: before ``reset``, or bad actions.
        """
        if self._ar is None or self._generators is None:
            raise ValueError("call reset() before step()")
        flat = self._flat_actions(actions, self.num_envs).to(self.device, next(self.dit.parameters()).dtype)
        result = self._ar.next_frame(flat, self._generators)
        frames = self.latent_space.decode(result.latent[:, None])[:, 0]  # (B, H, W, 3)
        out = self.head(result.features[:, None])
        prob = torch.sigmoid(out.termination_logit[:, 0])
        return StepOutput(
            frames=frames, reward=out.reward[:, 0], termination_prob=prob, terminated=prob > 0.5
        )

    def rollout(
        self,
        context_frames: Any,
        actions: Any,
        context_actions: Any = None,
        seed: int | Sequence[int] | None = None,
    ) -> RolloutOutput:
        """Reset on ``context_frames`` and step through ``actions`` (B, K, FLAT_DIM).

        Returns:
            Generated frames (B, K, H, W, 3) with predicted rewards and termination probabilities.

        Raises:
            ValueError: bad inputs (see ``reset`` and ``step``).
        """
        acts = torch.as_tensor(np.asarray(actions) if not isinstance(actions, torch.Tensor) else actions)
        B = len(context_frames)
        if acts.ndim != 3 or acts.shape[0] != B or acts.shape[2] != A.FLAT_DIM or acts.shape[1] < 1:
            raise ValueError(f"actions must be float ({B}, K >= 1, {A.FLAT_DIM}), got {tuple(acts.shape)}")
        self.reset(context_frames, context_actions, seed)
        steps = [self.step(acts[:, k]) for k in range(acts.shape[1])]
        return RolloutOutput(
            frames=torch.stack([s.frames for s in steps], 1),
            reward=torch.stack([s.reward for s in steps], 1),
            termination_prob=torch.stack([s.termination_prob for s in steps], 1),
        )
