"""The previous-frame reference parameterisation of a world-model DiT (``DiTConfig.reference``).

Consecutive frames of a world differ little, yet a plain denoiser must rebuild every frame from
noise through its token stream; a small model learns to copy the last frame only slowly (the sky
of a standing scene comes back textured; docs/reference_model.md). With ``reference="previous"``
each frame f is denoised relative to its reference r_f, the clean latent of frame f-1 (zeros for a
frame with no known predecessor):

- **input**: the DiT reads ``[x_t, x_t - α_t r_f]`` (2C channels). The second half is the noised
  residual ``α_t (x_0 - r_f) + σ_t ε``; where nothing changes it is pure noise, so the velocity is a
  per-pixel rescaling of it;
- **output**: the DiT's output is the velocity of the residual, and the frame's velocity is
  ``v = v_res - σ_t r_f``. Then ``x̂_0 = α_t x_t - σ_t v = r_f + (α_t (x_t - α_t r_f) - σ_t v_res)``:
  the prediction is the reference plus the predicted residual, and the v-MSE of the frame equals
  the v-MSE of the residual, so training, the schedule and every sampler stay as they are.

Frame-space v comes out of :func:`predict`, so losses and samplers use it unchanged; only the
callers that know the previous frame (training clips, the autoregressive sampler, ``generate``)
supply ``reference``.
"""

from __future__ import annotations

from typing import Any

import torch

from simworld.diffusion.schedule import NoiseSchedule
from simworld.models.dit import REFERENCE_MODES, DiT, DiTOutput

__all__ = ["REFERENCE_MODES", "predict", "previous_frames", "uses_reference"]


def uses_reference(model: DiT) -> bool:
    """True when ``model`` denoises relative to the previous frame (callers must keep references)."""
    return model.config.reference != "none"


def previous_frames(latents: torch.Tensor, first: torch.Tensor | None = None) -> torch.Tensor:
    """References (B, T, C, h, w) of clean latents (B, T, C, h, w): frame f gets frame f-1.

    Args:
        latents: clean latents of consecutive frames.
        first: (B, 1, C, h, w) reference of frame 0 (the frame before the clip), or None for zeros.
    """
    head = torch.zeros_like(latents[:, :1]) if first is None else first.to(latents)
    return torch.cat([head, latents[:, :-1]], 1)


def predict(
    model: DiT,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    noise_levels: torch.Tensor,
    actions: torch.Tensor | None = None,
    action_mask: torch.Tensor | None = None,
    *,
    reference: torch.Tensor | None = None,
    **kwargs: Any,
) -> DiTOutput:
    """``model(x, noise_levels, ...)`` as a frame-space v prediction, whatever the model's reference mode.

    Args:
        model: the DiT.
        schedule: its noise schedule (α_t, σ_t of the reference terms).
        x: float (B, T, C, h, w) noisy latents.
        noise_levels: float (B, T) timesteps (-1 or 0: clean).
        actions: float (B, T, A), or None.
        action_mask: bool (B, T), or None.
        reference: float (B, T, C, h, w) each frame's reference (:func:`previous_frames`); required
            by models with ``reference="previous"``, ignored by the others.
        **kwargs: the rest of ``DiT.forward`` (extra, cache, write_cache, teacher_forcing).

    Raises:
        ValueError: a reference model without ``reference``, or a reference of another shape.
    """
    if not uses_reference(model):
        return model(x, noise_levels, actions, action_mask, **kwargs)
    if reference is None or reference.shape != x.shape:
        raise ValueError(
            f"this DiT denoises relative to the previous frame (reference='previous'): pass "
            f"reference with the latents' shape {tuple(x.shape)}, got "
            f"{None if reference is None else tuple(reference.shape)}"
        )
    alpha, sigma = schedule.alpha_sigma(noise_levels)  # (B, T) each
    alpha, sigma = (c.to(x)[..., None, None, None] for c in (alpha, sigma))
    reference = reference.to(x)
    out = model(torch.cat([x, x - alpha * reference], 2), noise_levels, actions, action_mask, **kwargs)
    return DiTOutput(out.prediction - sigma * reference, out.features)
