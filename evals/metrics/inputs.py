"""The one input convention every metric in :mod:`evals.metrics` accepts, and its checks.

Frames are RGB, channels last:

- ``uint8 (B, T, H, W, 3)`` in ``{0, ..., 255}``, or
- floating point ``(B, T, H, W, 3)`` in ``[0, 1]`` (float16, bfloat16, float32, float64),

as ``torch.Tensor`` or ``numpy.ndarray``. Image metrics (PSNR, SSIM, LPIPS) also take single images
``(B, H, W, 3)``, treated as one-frame videos. Each metric applies its own preprocessing inside
(documented in the metric), so callers never rescale to ``[-1, 1]`` or reorder channels themselves.
Violations raise ``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong shape or range, or
generated and real sets that do not match) with a message that says what was expected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

VALID_DTYPES = "uint8, float16, bfloat16, float32, float64"


def as_frames(x: Any, name: str = "frames", *, allow_images: bool = False) -> torch.Tensor:
    """Check a batch of videos (or images) against the convention and return it as a video tensor.

    Args:
        x: uint8 (B, T, H, W, 3) or float (B, T, H, W, 3) in [0, 1]; with ``allow_images`` also
            (B, H, W, 3). A tensor or a numpy array.
        name: What the argument is called in error messages (e.g. ``"generated"``).
        allow_images: Accept 4-D image batches (returned with T = 1).

    Returns:
        The same values as a tensor (B, T, H, W, 3), dtype unchanged (no copy where possible).

    Raises:
        TypeError: Not a tensor/array, or a dtype other than uint8 or floating point.
        ValueError: Wrong number of dimensions, not 3 channels last, an empty axis, non-finite
            values, or float values outside [0, 1].
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.dtype != torch.uint8 and not x.dtype.is_floating_point:
        raise TypeError(f"{name}: dtype {x.dtype} is not accepted; valid dtypes: {VALID_DTYPES}")
    layouts = "(B, T, H, W, 3)" + (" or (B, H, W, 3)" if allow_images else "")
    if x.ndim == 4 and allow_images:
        x = x.unsqueeze(1)
    if x.ndim != 5 or x.shape[-1] != 3:
        hint = ""
        if x.ndim in (4, 5) and x.shape[-1] != 3 and 3 in tuple(x.shape[1:-1]):
            hint = " (channels must be last: it looks like channels-first input)"
        elif x.ndim == 4 and not allow_images:
            hint = " (this metric needs videos, not single images)"
        raise ValueError(f"{name}: expected shape {layouts}, got {tuple(x.shape)}{hint}")
    if min(x.shape) == 0:
        raise ValueError(f"{name}: empty axis in shape {tuple(x.shape)}")
    if x.dtype.is_floating_point:
        lo, hi = float(x.min()), float(x.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name}: float frames must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "map [-1, 1] outputs with (x + 1) / 2, and pass {0..255} frames as uint8"
            )
    return x


def as_frame_pair(
    generated: Any, real: Any, *, allow_images: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a generated batch and its real counterpart, frame for frame.

    Args:
        generated: Generated frames, see :func:`as_frames`.
        real: The matching real frames, same shape.
        allow_images: Accept (B, H, W, 3) image batches.

    Returns:
        ``(generated, real)`` as (B, T, H, W, 3) tensors.

    Raises:
        TypeError, ValueError: As :func:`as_frames`; ``ValueError`` also when the two shapes differ
            (the message names the axis: number of videos, frames, height or width).
    """
    generated = as_frames(generated, "generated", allow_images=allow_images)
    real = as_frames(real, "real", allow_images=allow_images)
    if generated.shape != real.shape:
        axes = ("videos (B)", "frames (T)", "height (H)", "width (W)")
        differ = [a for a, g, r in zip(axes, generated.shape, real.shape) if g != r]
        raise ValueError(
            f"generated {tuple(generated.shape)} and real {tuple(real.shape)} must have the same shape; "
            f"they differ in {', '.join(differ)}"
        )
    return generated, real


def to_float01(x: torch.Tensor) -> torch.Tensor:
    """Checked frames → float32 in [0, 1] (uint8 divided by 255; floats cast)."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    return x.to(torch.float32)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Checked frames → uint8; floats in [0, 1] are rounded to the nearest of 0..255.

    Rounding (``floor(255 x + 0.5)``) is what StyleGAN-V does when it turns generator output into
    frames for its detector (``(img * 127.5 + 128).clamp(0, 255).to(torch.uint8)`` on [-1, 1]).
    """
    if x.dtype == torch.uint8:
        return x
    return torch.floor(x.to(torch.float32) * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)
