"""Absolute spatial position of tokens as fractions of their frame (NaViT-style), for any frame size.

RoPE (``simworld.models.rope``) tells attention how far apart two tokens are, not where a token
sits in its frame; a model with RoPE alone can learn "sky above ground" only through the frame's
edges. ``DiTConfig.spatial_pos = "fractional"`` adds to every token the fixed sin-cos embedding of
its centre's fractional coordinates ((y + 0.5) / h, (x + 0.5) / w) scaled to a ``base_size`` grid,
so the top-left of a 4x4 and of a 16x8 token grid get nearly the same embedding (PixArt-α's
multi-resolution sin-cos embedding, via diffusers' ``get_1d_sincos_pos_embed_from_grid``; NaViT's
"fractional" coordinates). It is parameter-free, so checkpoints keep their tensors.
"""

from __future__ import annotations

import torch
from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid

SPATIAL_POS_MODES = ("none", "fractional")
BASE_SIZE = 16
"""The fractional coordinates are scaled to a grid of this many tokens per side."""


def grid_fractions(T: int, h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T * h * w, 2) fractional (y, x) token centres of T frames of h x w tokens, in patchify order."""
    y = (torch.arange(h, device=device, dtype=torch.float64) + 0.5) / h
    x = (torch.arange(w, device=device, dtype=torch.float64) + 0.5) / w
    yx = torch.stack(torch.meshgrid(y, x, indexing="ij"), -1).reshape(h * w, 2)
    return yx.repeat(T, 1)


def packed_fractions(
    positions: torch.Tensor, clip_ids: torch.Tensor, grids: list[tuple[int, int, int]]
) -> torch.Tensor:
    """(L, 2) fractional (y, x) token centres of packed clips: ``positions`` (L, 3) (t, y, x) within
    each token's clip, ``clip_ids`` (L,), ``grids`` the (T, h, w) of every clip."""
    hw = torch.tensor([[h, w] for _, h, w in grids], dtype=torch.float64, device=positions.device)
    return (positions[:, 1:].double() + 0.5) / hw[clip_ids]


def spatial_embedding(fractions: torch.Tensor, dim: int) -> torch.Tensor:
    """(L, dim) float32 sin-cos embedding of fractional (y, x) coordinates (L, 2): dim/2 channels each.

    Raises:
        ValueError: ``dim`` not divisible by 4.
    """
    if dim % 4:
        raise ValueError(f"the spatial position embedding needs a width divisible by 4, got {dim}")
    grid = fractions * BASE_SIZE
    y = get_1d_sincos_pos_embed_from_grid(dim // 2, grid[:, 0], output_type="pt")
    x = get_1d_sincos_pos_embed_from_grid(dim // 2, grid[:, 1], output_type="pt")
    return torch.cat([y, x], dim=1).float()
