"""Sora's generation modes over a ``WorldModel``: animate, extend, interpolate, edit, image.

Every mode is one call of ``simworld.diffusion.generate.generate`` (per-frame noise levels,
diffusion forcing, Chen et al. 2024) on the checkpoint's latents, with a schedule that says which
frames are given and which are denoised:

- ``image_to_video``: one given frame, the rest generated autoregressively (= ``extend`` forward).
- ``extend(direction="forward")``: new frames after the clip, one at a time, each denoised with
  the last ``max_context_frames`` frames as clean context (works with causal attention).
- ``extend(direction="backward")``: the frames that led to the clip, denoised jointly while the
  clip is held clean after them (temporal inpainting; needs bidirectional attention).
- ``interpolate``: a transition between clip A and clip B, denoised jointly with A before and B
  after held clean (temporal inpainting; needs bidirectional attention).
- ``edit``: SDEdit (Meng et al. 2022): the clip's latents are noised to t = strength·(N - 1) and
  denoised under new actions or conditions; strength 0 returns the clip (up to VAE
  reconstruction), 1 generates from scratch.
- ``generate_video`` / ``generate_image``: every frame generated (an image is a one-frame video).

Frames given to a mode are held at noise level -1 (clean) and come back unchanged up to VAE
reconstruction (exactly with a pixel-space checkpoint). The DiT positions tokens with 3D RoPE, so
any height and width that are multiples of the latent factor × patch size and any duration work;
frames larger or smaller than the training size are out of distribution for a model trained on
one size only (Sora/NaViT train on mixed sizes to make them in-distribution).

Backward extension and interpolation condition a frame on frames after it, which a causal
(world-model) DiT cannot see: they raise ``ValueError`` for a checkpoint trained with
``model.temporal=causal``; train with ``model.temporal=bidirectional`` for them.

Conditioning: ``actions`` are frame-aligned over the returned video (row f is the action that led
to frame f; give T - 1 rows, the actions between frames, and frame 0 gets the null action;
None: the null action everywhere). ``condition`` is an optional (B, E) embedding per clip fed to
the DiT's extra conditioning (``DiTConfig.extra_cond_dim = E``); it is where a text or
scene-label embedding plugs in. It is off by default (checkpoints with ``extra_cond_dim = 0``).

Determinism: clip i draws all its noise from a CPU generator seeded ``seed + i`` (or ``seed[i]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from simworld.diffusion.generate import autoregressive_levels, generate, randn_per_env
from simworld.world_model import WorldModel, align_actions

MODES = ("image_to_video", "extend", "interpolate", "edit", "video", "image")
"""Mode names of ``simworld sample mode=...``."""

DIRECTIONS = ("forward", "backward")
"""Directions of ``extend``."""

Seed = int | Sequence[int] | None


# ---------------------------------------------------------------------------------- checks


def size_multiple(model: WorldModel) -> int:
    """Frame height and width must be multiples of this: latent spatial factor × DiT patch size."""
    return int(model.latent_space.config.spatial_factor) * int(model.dit.config.patch_size)


def _check_size(model: WorldModel, height: int, width: int) -> None:
    m = size_multiple(model)
    if height < m or width < m or height % m or width % m:
        raise ValueError(
            f"height and width must be positive multiples of {m} (latent spatial factor × patch size), "
            f"got {height}x{width}"
        )


def _video(frames: Any, name: str) -> tuple[torch.Tensor, bool]:
    """uint8 (B, T, H, W, 3) from (T, H, W, 3) or (B, T, H, W, 3); and whether it was batched."""
    x = frames if isinstance(frames, torch.Tensor) else torch.as_tensor(np.asarray(frames))
    if x.dtype != torch.uint8 or x.ndim not in (4, 5) or x.shape[-1] != 3 or 0 in x.shape:
        raise ValueError(
            f"{name} must be uint8 in [0, 255] with shape (T, H, W, 3) or (B, T, H, W, 3), "
            f"got {x.dtype} {tuple(x.shape)}"
        )
    return (x, True) if x.ndim == 5 else (x[None], False)


def _require_frame_latents(model: WorldModel) -> None:
    tf = model.latent_space.config.temporal_factor
    if tf != 1:
        raise ValueError(
            f"generation modes need a latent space with temporal_factor == 1 (one latent frame per "
            f"frame); this checkpoint's has temporal_factor={tf}"
        )


def require_bidirectional(model: WorldModel, mode: str) -> None:
    """Raise ``ValueError`` naming ``mode`` when the checkpoint's DiT has causal temporal attention."""
    if model.dit.config.causal:
        raise ValueError(
            f"{mode} needs bidirectional temporal attention (frames conditioned on later frames); "
            f"this checkpoint's DiT is causal: train one with model.temporal=bidirectional"
        )


def _check_count(value: int, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _actions(actions: Any, B: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame-aligned actions (B, T, FLAT_DIM) and mask (B, T) from None, (T-1 | T, A) or (B, T-1 | T, A)."""
    if actions is not None:
        actions = actions if isinstance(actions, torch.Tensor) else torch.as_tensor(np.asarray(actions))
        if actions.ndim == 2:
            actions = actions[None].expand(B, -1, -1)
    return align_actions(actions, B, T, "actions")


def _condition(model: WorldModel, condition: Any, B: int) -> torch.Tensor | None:
    """The extra conditioning (B, E) or None, checked against the DiT's ``extra_cond_dim``."""
    E = model.dit.config.extra_cond_dim
    if condition is None:
        return None
    if E == 0:
        raise ValueError(
            "this checkpoint has no extra conditioning (DiT extra_cond_dim=0); pass condition=None"
        )
    c = condition if isinstance(condition, torch.Tensor) else torch.as_tensor(np.asarray(condition))
    if c.ndim == 1:
        c = c[None].expand(B, -1)
    if c.ndim != 2 or tuple(c.shape) != (B, E) or not c.is_floating_point() or not torch.isfinite(c).all():
        raise ValueError(
            f"condition must be finite float ({E},) or ({B}, {E}), got {c.dtype} {tuple(c.shape)}"
        )
    return c.float()


def _generators(seed: Seed, B: int) -> list[torch.Generator]:
    if seed is None:
        base = int(torch.seed())
        return [torch.Generator().manual_seed(base + i) for i in range(B)]
    seeds = (
        [int(seed) + i for i in range(B)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    )
    if len(seeds) != B:
        raise ValueError(f"seed must be an int or {B} ints (one per clip), got {len(seeds)}")
    return [torch.Generator().manual_seed(s) for s in seeds]


# ---------------------------------------------------------------------------------- core


class _Job:
    """Inputs of one mode call on the model's device and dtype: actions, mask, extra, generators."""

    def __init__(self, model: WorldModel, B: int, T: int, actions: Any, condition: Any, seed: Seed) -> None:
        self.model = model
        self.dtype = next(model.dit.parameters()).dtype
        device = model.device
        acts, mask = _actions(actions, B, T)
        self.actions, self.mask = acts.to(device, self.dtype), mask.to(device)
        cond = _condition(model, condition, B)
        self.condition = None if cond is None else cond.to(device, self.dtype)  # (B, E)
        self.generators = _generators(seed, B)

    def extra(self, T: int) -> torch.Tensor | None:
        """The condition repeated over T frames: (B, T, E), or None."""
        return None if self.condition is None else self.condition[:, None].expand(-1, T, -1)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) -> latents (B, T, C, h, w) on the model's device and dtype."""
        latents = self.model.latent_space.encode(frames.to(self.model.device))
        return latents.to(self.model.device, self.dtype)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, T, C, h, w) -> uint8 (B, T, H, W, 3) on the CPU."""
        return self.model.latent_space.decode(latents).cpu()

    def denoise(self, latents: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
        """Denoise the frames where ``given`` (T,) bool is False jointly; given frames stay clean."""
        m = self.model
        S, N = m.sampler.num_inference_steps, m.schedule.num_train_timesteps
        free = autoregressive_levels(0, S, N)[:, 0]  # (S+1,) trailing timesteps N-1 ... -> -1
        levels = torch.where(given[None], torch.tensor(-1.0), free[:, None])  # (S+1, T)
        return self.run(latents, levels, self.actions, self.mask, self.extra(latents.shape[1]))

    def run(
        self,
        latents: torch.Tensor,
        levels: torch.Tensor,
        actions: torch.Tensor,
        mask: torch.Tensor,
        extra: torch.Tensor | None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``generate`` latents (B, T, C, h, w) along ``levels`` (S+1, T) with the checkpoint's guidance."""
        return generate(
            self.model.dit,
            self.model.schedule,
            latents,
            levels,
            actions,
            mask,
            guidance_scale=self.model.sampler.guidance_scale,
            generators=self.generators,
            noise=noise,
            extra=extra,
        )

    def forward(self, latents: torch.Tensor, num_new: int) -> torch.Tensor:
        """Append ``num_new`` latent frames to ``latents`` (B, T0, C, h, w) one at a time.

        Each new frame is denoised given the last ``max_context_frames`` frames held clean (the
        frame-aligned actions and mask cover all T0 + num_new frames).
        """
        m = self.model
        S, N, W = m.sampler.num_inference_steps, m.schedule.num_train_timesteps, m.max_context_frames
        B, T0 = latents.shape[:2]
        out = latents
        for k in range(T0, T0 + num_new):
            ctx = out[:, max(0, k - W) : k]  # (B, c, C, h, w)
            c = ctx.shape[1]
            shape = (B, 1, *latents.shape[2:])
            new = randn_per_env(shape, self.generators, ctx.device, ctx.dtype)  # (B, 1, C, h, w)
            noise = torch.cat([torch.zeros_like(ctx), new], 1)  # context at level -1 ignores it
            window = torch.cat([ctx, torch.zeros_like(noise[:, -1:])], 1)  # (B, c+1, C, h, w)
            levels = autoregressive_levels(c, S, N, context_level=-1.0)  # (S+1, c+1)
            span = slice(k - c, k + 1)
            x = self.run(window, levels, self.actions[:, span], self.mask[:, span], self.extra(c + 1), noise)
            out = torch.cat([out, x[:, -1:]], 1)
        return out


def _finish(frames: torch.Tensor, batched: bool) -> torch.Tensor:
    return frames if batched else frames[0]


# ---------------------------------------------------------------------------------- modes


@torch.no_grad()
def extend(
    model: WorldModel,
    clip: Any,
    num_frames: int,
    actions: Any = None,
    direction: str = "forward",
    seed: Seed = None,
    condition: Any = None,
) -> torch.Tensor:
    """Extend a clip forward (what happens next) or backward (what led to it) by ``num_frames``.

    Args:
        model: the world model.
        clip: uint8 (T, H, W, 3) or (B, T, H, W, 3); H, W multiples of ``size_multiple(model)``.
        num_frames: frames to add, >= 1.
        actions: float (T + num_frames, FLAT_DIM) frame-aligned over the result (row f led to frame
            f), or (T + num_frames - 1, FLAT_DIM) between its frames, optionally batched; None: null.
        direction: "forward" (autoregressive, any temporal attention) or "backward" (needs
            bidirectional temporal attention).
        seed: clip i's noise is drawn from a generator seeded ``seed + i`` (or ``seed[i]``).
        condition: float (E,) or (B, E) extra conditioning (text/scene embedding), or None.

    Returns:
        uint8 (T + num_frames, H, W, 3) (batched input: (B, ...)) on the CPU: the clip then the new
        frames (forward), or the new frames then the clip (backward); the clip's frames are the
        input up to VAE reconstruction.

    Raises:
        ValueError: a bad direction, input or count; backward with a causal checkpoint.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if direction == "backward":
        require_bidirectional(model, "backward extension")
    _require_frame_latents(model)
    _check_count(num_frames, "num_frames")
    frames, batched = _video(clip, "clip")
    B, T, H, W = frames.shape[:4]
    _check_size(model, H, W)
    job = _Job(model, B, T + num_frames, actions, condition, seed)
    given = job.encode(frames)  # (B, T, C, h, w)
    if direction == "forward":
        return _finish(job.decode(job.forward(given, num_frames)), batched)
    latents = torch.cat([torch.zeros_like(given[:, :1]).expand(-1, num_frames, -1, -1, -1), given], 1)
    mask = torch.arange(T + num_frames) >= num_frames  # (T',) True where given
    return _finish(job.decode(job.denoise(latents, mask)), batched)


def image_to_video(
    model: WorldModel,
    image: Any,
    num_frames: int,
    actions: Any = None,
    seed: Seed = None,
    condition: Any = None,
) -> torch.Tensor:
    """Animate one frame: ``num_frames`` frames of which the first is ``image`` (works with causal models).

    Args:
        model: the world model.
        image: uint8 (H, W, 3) or (B, H, W, 3).
        num_frames: length of the result, >= 2.
        actions: float (num_frames - 1, FLAT_DIM), the actions between frames, or (num_frames,
            FLAT_DIM) frame-aligned, optionally batched; None: null actions.
        seed: see ``extend``.
        condition: see ``extend``.

    Returns:
        uint8 (num_frames, H, W, 3) (batched input: (B, ...)); frame 0 is ``image`` up to VAE
        reconstruction.

    Raises:
        ValueError: bad input.
    """
    _check_count(num_frames, "num_frames", 2)
    x = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
    if x.ndim not in (3, 4):
        raise ValueError(f"image must be uint8 (H, W, 3) or (B, H, W, 3), got {x.dtype} {tuple(x.shape)}")
    clip = x[None] if x.ndim == 3 else x[:, None]  # (1, H, W, 3) or (B, 1, H, W, 3)
    return extend(model, clip, num_frames - 1, actions, "forward", seed, condition)


@torch.no_grad()
def interpolate(
    model: WorldModel,
    clip_a: Any,
    clip_b: Any,
    num_frames: int,
    actions: Any = None,
    seed: Seed = None,
    condition: Any = None,
) -> torch.Tensor:
    """Generate a ``num_frames`` transition from the end of ``clip_a`` to the start of ``clip_b``.

    Temporal inpainting: both clips are held clean around the gap, which is denoised jointly;
    needs bidirectional temporal attention.

    Args:
        model: the world model.
        clip_a: uint8 (Ta, H, W, 3) or (B, Ta, H, W, 3).
        clip_b: uint8 (Tb, H, W, 3) or (B, Tb, H, W, 3), same B, H, W as ``clip_a``.
        num_frames: transition length, >= 1.
        actions: frame-aligned over the Ta + num_frames + Tb result (or one row fewer), or None.
        seed: see ``extend``.
        condition: see ``extend``.

    Returns:
        uint8 (Ta + num_frames + Tb, H, W, 3) (batched input: (B, ...)): clip A, the transition,
        clip B; the clips' frames are the inputs up to VAE reconstruction.

    Raises:
        ValueError: a causal checkpoint, or bad inputs.
    """
    require_bidirectional(model, "interpolation")
    _require_frame_latents(model)
    _check_count(num_frames, "num_frames")
    a, batched = _video(clip_a, "clip_a")
    b, batched_b = _video(clip_b, "clip_b")
    if batched != batched_b or a.shape[0] != b.shape[0] or a.shape[2:] != b.shape[2:]:
        raise ValueError(
            f"clip_a and clip_b must have the same batch and frame shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)} (batched: {batched}, {batched_b})"
        )
    B, Ta, H, W = a.shape[:4]
    Tb = b.shape[1]
    _check_size(model, H, W)
    job = _Job(model, B, Ta + num_frames + Tb, actions, condition, seed)
    la, lb = job.encode(a), job.encode(b)
    gap = torch.zeros_like(la[:, :1]).expand(-1, num_frames, -1, -1, -1)
    t = torch.arange(Ta + num_frames + Tb)
    latents = job.denoise(torch.cat([la, gap, lb], 1), (t < Ta) | (t >= Ta + num_frames))
    return _finish(job.decode(latents), batched)


@torch.no_grad()
def edit(
    model: WorldModel,
    clip: Any,
    strength: float,
    actions: Any = None,
    seed: Seed = None,
    condition: Any = None,
) -> torch.Tensor:
    """SDEdit a clip: noise its latents to t = strength·(N - 1), then denoise under new actions/condition.

    The denoising takes ``ceil(strength · num_inference_steps)`` steps from t down to clean
    (Meng et al. 2022, "SDEdit"). Works with causal and bidirectional models.

    Args:
        model: the world model.
        clip: uint8 (T, H, W, 3) or (B, T, H, W, 3).
        strength: in [0, 1]; 0 returns the clip (up to VAE reconstruction), 1 generates from scratch.
        actions: frame-aligned over the clip (T or T - 1 rows), the actions to edit towards; None: null.
        seed: see ``extend``.
        condition: see ``extend``.

    Returns:
        uint8 (T, H, W, 3) (batched input: (B, ...)).

    Raises:
        ValueError: strength outside [0, 1], or bad inputs.
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be a number in [0, 1], got {strength!r}")
    _require_frame_latents(model)
    frames, batched = _video(clip, "clip")
    B, T, H, W = frames.shape[:4]
    _check_size(model, H, W)
    job = _Job(model, B, T, actions, condition, seed)
    latents = job.encode(frames)
    if strength == 0:
        return _finish(job.decode(latents), batched)
    steps = max(1, math.ceil(strength * model.sampler.num_inference_steps))
    t0 = strength * (model.schedule.num_train_timesteps - 1)
    column = torch.tensor([t0 * (1 - i / steps) for i in range(steps)] + [-1.0])  # (S+1,)
    levels = column[:, None].expand(-1, T)  # (S+1, T)
    out = job.run(latents, levels, job.actions, job.mask, job.extra(T))
    return _finish(job.decode(out), batched)


@torch.no_grad()
def generate_video(
    model: WorldModel,
    num_frames: int,
    height: int | None = None,
    width: int | None = None,
    actions: Any = None,
    num_videos: int = 1,
    seed: Seed = None,
    condition: Any = None,
) -> torch.Tensor:
    """Generate ``num_videos`` clips from scratch, all frames denoised jointly.

    Args:
        model: the world model.
        num_frames: frames per clip, >= 1.
        height: frame height (default: the checkpoint's); a multiple of ``size_multiple(model)``.
        width: frame width (default: the checkpoint's).
        actions: frame-aligned over the clip (or one row fewer), optionally batched; None: null.
        num_videos: B, >= 1.
        seed: see ``extend``.
        condition: see ``extend``.

    Returns:
        uint8 (B, num_frames, height, width, 3) on the CPU.

    Raises:
        ValueError: bad sizes or inputs.
    """
    _check_count(num_frames, "num_frames")
    _check_count(num_videos, "num_videos")
    if num_frames > 1:
        _require_frame_latents(model)
    H = model.frame_size[0] if height is None else height
    W = model.frame_size[1] if width is None else width
    _check_size(model, H, W)
    job = _Job(model, num_videos, num_frames, actions, condition, seed)
    f = model.latent_space.config.spatial_factor
    C = model.dit.config.in_channels
    latents = torch.zeros(num_videos, num_frames, C, H // f, W // f, device=model.device, dtype=job.dtype)
    return job.decode(job.denoise(latents, torch.zeros(num_frames, dtype=torch.bool)))


def generate_image(
    model: WorldModel,
    height: int | None = None,
    width: int | None = None,
    num_images: int = 1,
    seed: Seed = None,
    condition: Any = None,
) -> torch.Tensor:
    """Generate images: one-frame videos (``generate_video`` with ``num_frames=1``, null action).

    Returns:
        uint8 (num_images, height, width, 3) on the CPU.
    """
    return generate_video(model, 1, height, width, None, num_images, seed, condition)[:, 0]
