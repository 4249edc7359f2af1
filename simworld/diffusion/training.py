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

With ``teacher_forcing=True`` (causal models) each clip is instead laid out twice in one pass: T
context copies at timesteps U{0..context_noise_max} and T noisy copies at U{0..N-1}, every noisy
copy attending to the context copies before it and to itself (``attention.teacher_forcing_mask``;
CausVid, Yin et al. 2025). The v-MSE is taken over the noisy copies and the head is trained on
the context copies. Every frame is then a next-frame prediction from a nearly clean past, the only
situation autoregressive sampling meets, at twice the tokens per clip; diffusion forcing spends
most of its frames on noisy pasts (whole-video generation), which the world model never samples.

Models with ``reference="previous"`` get each frame's clean predecessor as its reference
(``simworld.diffusion.reference``; zeros for a clip's first frame); the loss is still the v-MSE
of the frames.

``packed_diffusion_forcing_loss`` is the same objective on clips of different sizes packed into one
sequence (NaViT-style mixed-size training, ``data.sizes``); on clips of one size it equals
``diffusion_forcing_loss``.

Data alignment: a window holds frames (T) and the T-1 actions/rewards/terminations between them
(``simworld.data.windows``); ``frame_aligned`` shifts them so that frame f carries step f-1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from simworld.diffusion.reference import predict, previous_frames
from simworld.diffusion.schedule import NoiseSchedule
from simworld.models.dit import DiT
from simworld.models.heads import RewardTerminationHead
from simworld.models.packing import pack_clips


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
        teacher_forcing: train next-frame prediction from a nearly clean past for every frame
            (module docstring; causal models, clips of one size) instead of diffusion forcing.
    """

    context_prob: float = 0.5
    context_noise_max: int = 100
    action_dropout: float = 0.1
    extra_dropout: float = 0.1
    reward_weight: float = 1.0
    termination_weight: float = 1.0
    teacher_forcing: bool = False

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
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-frame training timesteps (B, T) float: diffusion forcing with optional noisy context.

    Args:
        B: clips.
        T: frames per clip (the longest clip's, with ``lengths``).
        num_timesteps: N of the schedule.
        config: the objective settings.
        generator: CPU generator for reproducibility.
        device: device of the result.
        lengths: long (B,) frames of each clip when they differ (packed training): a clip's
            context prefix k is then folded into [1, T_i - 1]; its levels past T_i are unused.
            Clips of length T draw exactly what they draw without ``lengths``.
    """
    levels = torch.randint(0, num_timesteps, (B, T), generator=generator)
    ctx_levels = torch.randint(0, config.context_noise_max + 1, (B, T), generator=generator)
    use_ctx = torch.rand(B, generator=generator) < config.context_prob
    k = torch.randint(1, max(T, 2), (B,), generator=generator)
    if lengths is not None:
        k = 1 + (k - 1) % (lengths.cpu() - 1).clamp(min=1)
    is_ctx = use_ctx[:, None] & (torch.arange(T)[None] < k[:, None])
    return torch.where(is_ctx, ctx_levels, levels).float().to(device)


@dataclass
class _Draws:
    """The random draws of one batch, in the order both losses make them."""

    levels: torch.Tensor  # float (B, T)
    noise: torch.Tensor  # the shape asked for
    keep: torch.Tensor  # bool (B, T): the frame keeps its action
    extra_keep: torch.Tensor | None  # bool (B, T): the frame keeps its extra conditioning


def _draw(
    B: int,
    T: int,
    noise_shape: tuple[int, ...],
    like: torch.Tensor,
    has_extra: bool,
    num_timesteps: int,
    config: DiffusionForcingConfig,
    generator: torch.Generator | None,
    lengths: torch.Tensor | None = None,
    levels: torch.Tensor | None = None,
) -> _Draws:
    """Noise levels (``sample_noise_levels`` unless ``levels`` (B, T) are given), noise (on ``like``'s
    device and dtype), action and extra dropout."""
    device = like.device
    if levels is None:
        levels = sample_noise_levels(B, T, num_timesteps, config, generator, device, lengths)  # (B, T)
    noise = torch.randn(noise_shape, generator=generator).to(device=device, dtype=like.dtype)
    keep = torch.rand(B, T, generator=generator).to(device) >= config.action_dropout
    extra_keep = (
        (torch.rand(B, T, generator=generator).to(device) >= config.extra_dropout) if has_extra else None
    )
    return _Draws(levels, noise, keep, extra_keep)


def _head_losses(
    reward: torch.Tensor,
    termination_logit: torch.Tensor,
    usable: torch.Tensor,
    reward_target: torch.Tensor | None,
    termination_target: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reward MSE and termination BCE over the frames where ``usable`` is True.

    Args:
        reward: float (B, T) predicted rewards (any shape, the same for every argument).
        termination_logit: float (B, T) predicted termination logits.
        usable: bool (B, T) frames that count.
        reward_target: float (B, T) frame-aligned rewards (``frame_aligned``), or None.
        termination_target: float (B, T) frame-aligned terminations, or None.
    """
    zero = reward.new_zeros(())
    n = usable.sum().clamp(min=1)
    reward_loss = termination_loss = zero
    if reward_target is not None:
        reward_loss = ((reward - reward_target) ** 2 * usable).sum() / n
    if termination_target is not None:
        bce = F.binary_cross_entropy_with_logits(termination_logit, termination_target, reduction="none")
        termination_loss = (bce * usable).sum() / n
    return reward_loss, termination_loss


def _clip_head_losses(
    head: RewardTerminationHead | None,
    features: torch.Tensor,
    usable: torch.Tensor,
    rewards: torch.Tensor | None,
    terminated: torch.Tensor | None,
    zero: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reward MSE and termination BCE of the head on frame features (B, T, N, D) of clips.

    ``rewards`` / ``terminated`` are per step (B, T-1) and get frame-aligned here; ``usable`` (B, T)
    picks the frames that count. Without a head or targets both terms are ``zero``.
    """
    if head is None or (rewards is None and terminated is None):
        return zero, zero
    pred = head(features)  # (B, T) each
    reward_target = frame_aligned(rewards.float())[0] if rewards is not None else None
    term_target = frame_aligned(terminated.float())[0] if terminated is not None else None
    return _head_losses(pred.reward, pred.termination_logit, usable, reward_target, term_target)


def _total(
    config: DiffusionForcingConfig, diffusion: torch.Tensor, reward: torch.Tensor, termination: torch.Tensor
) -> LossOutput:
    """The weighted total and the detached terms."""
    total = diffusion + config.reward_weight * reward + config.termination_weight * termination
    return LossOutput(total, diffusion.detach(), reward.detach(), termination.detach())


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
    if config.teacher_forcing:
        return _teacher_forcing_loss(
            model, schedule, config, latents, actions, rewards, terminated, head, extra, generator
        )
    N = schedule.num_train_timesteps
    d = _draw(B, T, tuple(latents.shape), latents, extra is not None, N, config, generator)
    noisy = schedule.add_noise(latents, d.noise, d.levels)  # (B, T, C, h, w)
    frame_actions, has_action = frame_aligned(actions)  # (B, T, A), (B, T)
    out = predict(
        model,
        schedule,
        noisy,
        d.levels,
        frame_actions,
        has_action & d.keep,
        reference=previous_frames(latents),
        extra=extra,
        extra_mask=d.extra_keep,
    )
    diffusion = F.mse_loss(out.prediction.float(), schedule.velocity(latents, d.noise, d.levels).float())
    usable = has_action & d.keep & (d.levels <= config.context_noise_max)  # (B, T)
    reward_loss, termination_loss = _clip_head_losses(
        head, out.features, usable, rewards, terminated, diffusion.new_zeros(())
    )
    return _total(config, diffusion, reward_loss, termination_loss)


def _teacher_forcing_loss(
    model: DiT,
    schedule: NoiseSchedule,
    config: DiffusionForcingConfig,
    latents: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor | None,
    terminated: torch.Tensor | None,
    head: RewardTerminationHead | None,
    extra: torch.Tensor | None,
    generator: torch.Generator | None,
) -> LossOutput:
    """:func:`diffusion_forcing_loss` with ``config.teacher_forcing``: context copies, then noisy copies."""
    if not model.config.causal:
        raise ValueError("teacher forcing trains next-frame prediction; it needs temporal='causal'")
    B, T = latents.shape[:2]
    N = schedule.num_train_timesteps
    context = torch.randint(0, config.context_noise_max + 1, (B, T), generator=generator)
    levels = torch.cat([context, torch.randint(0, N, (B, T), generator=generator)], 1).float()
    noise_shape = (B, 2 * T, *latents.shape[2:])
    d = _draw(
        B,
        2 * T,
        noise_shape,
        latents,
        extra is not None,
        N,
        config,
        generator,
        levels=levels.to(latents.device),
    )
    if extra is not None:
        extra = torch.cat([extra, extra], 1)  # (B, 2T, E)
    both = torch.cat([latents, latents], 1)  # (B, 2T, C, h, w)
    noisy = schedule.add_noise(both, d.noise, d.levels)  # (B, 2T, C, h, w)
    frame_actions, has_action = frame_aligned(actions)  # (B, T, A), (B, T)
    reference = previous_frames(latents)
    out = predict(
        model,
        schedule,
        noisy,
        d.levels,
        torch.cat([frame_actions, frame_actions], 1),
        torch.cat([has_action, has_action], 1) & d.keep,
        reference=torch.cat([reference, reference], 1),
        extra=extra,
        extra_mask=d.extra_keep,
        teacher_forcing=True,
    )
    target = schedule.velocity(latents, d.noise[:, T:], d.levels[:, T:])  # (B, T, C, h, w)
    diffusion = F.mse_loss(out.prediction[:, T:].float(), target.float())
    reward_loss, termination_loss = _clip_head_losses(  # on the context copies
        head, out.features[:, :T], has_action & d.keep[:, :T], rewards, terminated, diffusion.new_zeros(())
    )
    return _total(config, diffusion, reward_loss, termination_loss)


def _check_packed(latents: Sequence[torch.Tensor], actions: Sequence[torch.Tensor]) -> None:
    """Raise ``ValueError`` unless there are as many (T_i >= 2, C, h, w) clips as (T_i - 1, A) actions."""
    if not latents or len(latents) != len(actions):
        raise ValueError(
            f"need as many latent clips as action clips (>= 1), got {len(latents)}, {len(actions)}"
        )
    for i, (clip, acts) in enumerate(zip(latents, actions)):
        if clip.ndim != 4 or clip.shape[0] < 2 or acts.shape[:1] != (clip.shape[0] - 1,):
            raise ValueError(
                f"clip {i}: expected latents (T>=2, C, h, w) and actions (T-1, A); got "
                f"{tuple(clip.shape)} and {tuple(acts.shape)}"
            )


def packed_diffusion_forcing_loss(
    model: DiT,
    schedule: NoiseSchedule,
    config: DiffusionForcingConfig,
    latents: Sequence[torch.Tensor],
    actions: Sequence[torch.Tensor],
    *,
    rewards: Sequence[torch.Tensor] | None = None,
    terminated: Sequence[torch.Tensor] | None = None,
    head: RewardTerminationHead | None = None,
    extra: Sequence[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> LossOutput:
    """:func:`diffusion_forcing_loss` of clips of different sizes, packed into one sequence.

    The clips are packed NaViT-style (``simworld.models.packing.pack_clips``: attention stays
    within a clip, RoPE uses each clip's own coordinates) and go through ``DiT.forward_packed``.
    The draws are those of a (B, max T_i) batch (``lengths`` folds each clip's context prefix into
    it) with the noise drawn as one flat vector, and the v-MSE is averaged over every latent
    element of every clip, so that clips of equal size give the unpacked loss.

    Args:
        model: the DiT.
        schedule: the noise schedule.
        config: objective settings.
        latents: per clip, float (T_i, C, h_i, w_i) clean latents.
        actions: per clip, float (T_i - 1, A) flat actions between frames.
        rewards: per clip, float (T_i - 1,) rewards, or None.
        terminated: per clip, bool (T_i - 1,) terminations, or None.
        head: reward/termination head trained on the same forward pass, or None.
        extra: per clip, (T_i, E) extra conditioning, or None.
        generator: CPU generator for timesteps, noise and dropout (None: global RNG).

    Returns:
        The losses.

    Raises:
        ValueError: no clips, fewer than 2 frames or mismatched shapes.
    """
    _check_packed(latents, actions)
    if config.teacher_forcing:
        raise ValueError(
            "teacher forcing is implemented for clips of one size (data.sizes with one size); "
            "mixed sizes train with diffusion forcing (objective.teacher_forcing=false)"
        )
    if model.config.reference != "none":
        raise ValueError(
            "a previous-frame reference model (reference='previous') trains on clips of one size; "
            "mixed sizes need reference='none'"
        )
    lengths = [clip.shape[0] for clip in latents]
    numels = [clip.numel() for clip in latents]
    N = schedule.num_train_timesteps
    B, T = len(latents), max(lengths)
    d = _draw(
        B, T, (sum(numels),), latents[0], extra is not None, N, config, generator, torch.tensor(lengths)
    )
    noises = [n.view_as(clip) for n, clip in zip(d.noise.split(numels), latents)]
    levels = [d.levels[i, :L] for i, L in enumerate(lengths)]  # (T_i,) each
    aligned = [frame_aligned(acts[None]) for acts in actions]  # ((1, T_i, A), (1, T_i)) each
    masks = [has[0] & d.keep[i, :L] for i, ((_, has), L) in enumerate(zip(aligned, lengths))]
    noisy = [schedule.add_noise(c[None], n[None], lv[None])[0] for c, n, lv in zip(latents, noises, levels)]
    packed = pack_clips(noisy, levels, [a[0] for a, _ in aligned], model.config.patch_size, masks, extra)
    if d.extra_keep is not None:
        packed.extra_mask = torch.cat([d.extra_keep[i, :L] for i, L in enumerate(lengths)])[None]
    outs = model.forward_packed(packed)
    squared = [
        ((out.prediction[0].float() - schedule.velocity(c[None], n[None], lv[None])[0].float()) ** 2).sum()
        for out, c, n, lv in zip(outs, latents, noises, levels)
    ]
    diffusion = torch.stack(squared).sum() / sum(numels)
    reward_loss = termination_loss = diffusion.new_zeros(())
    if head is not None and (rewards is not None or terminated is not None):
        preds = [head(out.features) for out in outs]  # (1, T_i) each
        usable = torch.cat([m & (lv <= config.context_noise_max) for m, lv in zip(masks, levels)])
        reward_loss, termination_loss = _head_losses(
            torch.cat([p.reward[0] for p in preds]),
            torch.cat([p.termination_logit[0] for p in preds]),
            usable,
            _aligned_targets(rewards),
            _aligned_targets(terminated),
        )
    return _total(config, diffusion, reward_loss, termination_loss)


def _aligned_targets(steps: Sequence[torch.Tensor] | None) -> torch.Tensor | None:
    """Per-clip step values (T_i - 1,) as frame-aligned float targets, concatenated (sum T_i,)."""
    if steps is None:
        return None
    return torch.cat([frame_aligned(s.float()[None])[0][0] for s in steps])
