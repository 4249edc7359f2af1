"""3D rotary position embedding (RoPE) over (t, y, x) for spacetime tokens.

The head dimension is split into three even parts, one per axis (``rope_axis_dims``); each part
rotates pairs of channels by ``position * theta ** (-2i / d_axis)`` (Su et al. 2021, "RoFormer",
eq. 34, applied per axis as in multi-axis RoPE of FiT / Lumina-Next). Positions are plain
integer coordinates (frame index, patch row, patch column), so the embedding is defined for any
length, resolution and aspect ratio; attention scores depend only on position differences.
"""

from __future__ import annotations

import torch
from einops import rearrange


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Split a head dimension across the (t, y, x) axes; every part is even.

    y and x get ``2 * (head_dim // 6)`` channels each, t gets the rest.

    Args:
        head_dim: attention head dimension, even and >= 6.

    Returns:
        (d_t, d_y, d_x), summing to ``head_dim``.

    Raises:
        ValueError: ``head_dim`` is odd or smaller than 6.
    """
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"3D RoPE needs an even head_dim >= 6, got {head_dim}")
    d_space = 2 * (head_dim // 6)
    return head_dim - 2 * d_space, d_space, d_space


def grid_positions(T: int, h: int, w: int, t0: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """Integer (t, y, x) positions of a T×h×w token grid in frame-major order.

    Args:
        T: frames; h, w: patch rows and columns.
        h: patch rows.
        w: patch columns.
        t0: time index of the first frame.
        device: device of the result.

    Returns:
        float32 (T * h * w, 3).
    """
    t = torch.arange(t0, t0 + T, device=device, dtype=torch.float32)
    y = torch.arange(h, device=device, dtype=torch.float32)
    x = torch.arange(w, device=device, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(t, y, x, indexing="ij"), dim=-1)  # (T, h, w, 3)
    return rearrange(grid, "t h w a -> (t h w) a")


def rope_angles(
    positions: torch.Tensor, head_dim: int, theta: float = 10000.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the rotation of each token.

    Args:
        positions: float (L, 3) (t, y, x) coordinates.
        head_dim: attention head dimension.
        theta: RoPE base.

    Returns:
        (cos, sin), each float32 (L, head_dim // 2).
    """
    parts = []
    for axis, dim in enumerate(rope_axis_dims(head_dim)):
        inv_freq = theta ** (-torch.arange(0, dim, 2, device=positions.device, dtype=torch.float64) / dim)
        parts.append(positions[:, axis : axis + 1].double() * inv_freq)  # (L, dim / 2)
    angles = torch.cat(parts, dim=-1)  # (L, head_dim / 2)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of ``x`` (queries or keys) by the token angles.

    Args:
        x: (..., L, H, head_dim) with tokens on dim -3 and heads on dim -2.
        cos: (L, head_dim // 2), from ``rope_angles``.
        sin: (L, head_dim // 2).

    Returns:
        Rotated tensor of the shape and dtype of ``x``.
    """
    pairs = rearrange(x.float(), "... l n (d two) -> ... l n d two", two=2)  # (..., L, H, hd/2, 2)
    x1, x2 = pairs.unbind(-1)  # (..., L, H, hd/2) each
    c, s = cos[:, None, :], sin[:, None, :]  # (L, 1, hd/2)
    out = torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)  # (..., L, H, hd/2, 2)
    return rearrange(out, "... d two -> ... (d two)").to(x.dtype)
