"""Diffusion-forcing training objective with context noise augmentation and CFG action dropout.

Per clip of T latent frames (Chen et al. 2024, "Diffusion Forcing"):

- every frame gets its own timestep t_f ~ U{0..N-1};
- with probability ``context_prob`` the clip instead starts with k ~ U{1..T-1} context frames
  whose timesteps are drawn from U{0..context_noise_max} (noise augmentation of the context,
  as DIAMOND and GameNGen do against autoregressive drift); the other frames keep independent
  timesteps. This is exactly the situation of autoregressive sampling (a nearly clean context
  and a noisy newest frame) among the general diffusion-forcing one;
- each frame's action is replaced by the null action with probability ``action_dropout``
  (classifier-free guidance, Ho & Salimans 2022); the first frame of a clip always has the null
  action (no action led to it);
- loss: mean squared error between the predicted and true v over all frames (v-prediction,
  ``schedule``), plus, when a head is given, reward MSE and termination BCE on frames that are
  nearly clean (t_f <= ``context_noise_max``), have their action, and have a target.

Data alignment: a window holds frames (T) and the T-1 actions/rewards/terminations between them
(``simworld.data.windows``); ``frame_aligned`` shifts them so that frame f carries step f-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from simworld.diffusion.schedule import NoiseSchedule
from simworld.models.dit import DiT
from simworld.models.heads import RewardTerminationHead


@dataclass(frozen=True)
class DiffusionForcingConfig:
    """Training objective settings.

    Attributes:
        context_prob: share of clips trained with a low-noise context prefix.
        context_noise_max: largest timestep of a context frame (noise augmentation); also the
            largest timestep at which the reward/termination head is trained.
        action_dropout: probability of replacing a frame's action by the null action.
        extra_dropout: probability of replacing a frame's extra conditioning by its null.
        reward_weight: weight of the reward MSE.
        termination_weight: weight of the termination BCE.
    """

    context_prob: float = 0.5
    context_noise_max: int = 100
    action_dropout: float = 0.1
    extra_dropout: float = 0.1
    reward_weight: float = 1.0
    termination_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("context_prob", "action_dropout", "extra_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.context_noise_max < 0 or self.reward_weight < 0 or self.termination_weight < 0:
            raise ValueError("context_noise_max, reward_weight and termination_weight must be >= 0")


@dataclass
class LossOutput:
    """Training losses of one batch.

    Attributes:
        loss: the total, to backpropagate.
        diffusion: v-prediction MSE (detached).
        reward: reward MSE (detached; 0 without a head or targets).
        termination: termination BCE (detached; 0 without a head or targets).
    """

    loss: torch.Tensor
    diffusion: torch.Tensor
    reward: torch.Tensor
    termination: torch.Tensor


def frame_aligned(steps: torch.Tensor, fill: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift per-step values (B, T-1, ...) to per-frame (B, T, ...): frame f gets step f-1.

    Returns:
        (values (B, T, ...) with ``fill`` at frame 0, bool mask (B, T) False at frame 0).
    """
    pad = torch.full_like(steps[:, :1], fill)
    mask = torch.ones(steps.shape[:2], dtype=torch.bool, device=steps.device)
    return torch.cat([pad, steps], dim=1), torch.cat([torch.zeros_like(mask[:, :1]), mask], dim=1)


def sample_noise_levels(
    B: int,
    T: int,
    num_timesteps: int,
    config: DiffusionForcingConfig,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Per-frame training timesteps (B, T) float: diffusion forcing with optional noisy context.

    Args:
        B: clips; T: frames per clip.
        T: frames per clip.
        num_timesteps: N of the schedule.
        config: the objective settings.
        generator: CPU generator for reproducibility.
        device: device of the result.
    """
    levels = torch.randint(0, num_timesteps, (B, T), generator=generator)
    ctx_levels = torch.randint(0, config.context_noise_max + 1, (B, T), generator=generator)
    use_ctx = torch.rand(B, generator=generator) < config.context_prob
    k = torch.randint(1, max(T, 2), (B,), generator=generator)
    is_ctx = use_ctx[:, None] & (torch.arange(T)[None] < k[:, None])
    return torch.where(is_ctx, ctx_levels, levels).float().to(device)


def _head_losses(
    head: RewardTerminationHead,
    features: torch.Tensor,
    usable: torch.Tensor,
    rewards: torch.Tensor | None,
    terminated: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reward MSE and termination BCE over the frames where ``usable`` (B, T) is True."""
    zero = features.new_zeros(())
    out = head(features)
    n = usable.sum().clamp(min=1)
    reward_loss = termination_loss = zero
    if rewards is not None:
        target, _ = frame_aligned(rewards.float())
        reward_loss = ((out.reward - target) ** 2 * usable).sum() / n
    if terminated is not None:
        target, _ = frame_aligned(terminated.float())
        bce = F.binary_cross_entropy_with_logits(out.termination_logit, target, reduction="none")
        termination_loss = (bce * usable).sum() / n
    return reward_loss, termination_loss


def diffusion_forcing_loss(
    model: DiT,
    schedule: NoiseSchedule,
    config: DiffusionForcingConfig,
    latents: torch.Tensor,
    actions: torch.Tensor,
    *,
    rewards: torch.Tensor | None = None,
    terminated: torch.Tensor | None = None,
    head: RewardTerminationHead | None = None,
    extra: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> LossOutput:
    """The training loss of one batch of latent clips.

    Args:
        model: the DiT.
        schedule: the noise schedule.
        config: objective settings.
        latents: float (B, T, C, h, w) clean latents.
        actions: float (B, T-1, A) flat actions between frames.
        rewards: float (B, T-1) rewards of the steps, or None.
        terminated: bool (B, T-1) terminations of the steps, or None.
        head: reward/termination head trained on the same forward pass, or None.
        extra: (B, T, E) extra conditioning for models with ``extra_cond_dim > 0``.
        generator: CPU generator for timesteps, noise and dropout (None: global RNG).

    Returns:
        The losses.

    Raises:
        ValueError: fewer than 2 frames or mismatched shapes.
    """
    B, T = latents.shape[:2]
    if T < 2 or actions.shape[:2] != (B, T - 1):
        raise ValueError(
            f"expected latents (B, T>=2, C, h, w) and actions (B, T-1, A); got "
            f"{tuple(latents.shape)} and {tuple(actions.shape)}"
        )
    device = latents.device
    levels = sample_noise_levels(B, T, schedule.num_train_timesteps, config, generator, device)  # (B, T)
    noise = torch.randn(latents.shape, generator=generator).to(device=device, dtype=latents.dtype)
    noisy = schedule.add_noise(latents, noise, levels)  # (B, T, C, h, w)
    frame_actions, has_action = frame_aligned(actions)  # (B, T, A), (B, T)
    keep = torch.rand(B, T, generator=generator).to(device) >= config.action_dropout
    extra_mask = (
        (torch.rand(B, T, generator=generator).to(device) >= config.extra_dropout)
        if extra is not None
        else None
    )
    out = model(noisy, levels, frame_actions, has_action & keep, extra=extra, extra_mask=extra_mask)
    diffusion = F.mse_loss(out.prediction.float(), schedule.velocity(latents, noise, levels).float())
    reward_loss = termination_loss = diffusion.new_zeros(())
    if head is not None and (rewards is not None or terminated is not None):
        usable = has_action & keep & (levels <= config.context_noise_max)  # (B, T)
        reward_loss, termination_loss = _head_losses(head, out.features, usable, rewards, terminated)
    total = diffusion + config.reward_weight * reward_loss + config.termination_weight * termination_loss
    return LossOutput(total, diffusion.detach(), reward_loss.detach(), termination_loss.detach())
