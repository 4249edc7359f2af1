"""Per-frame conditioning of the DiT: noise level, action, and an optional extra embedding.

Each frame f gets one vector ``c_f = noise_emb(level_f) + action_emb(a_f) [+ extra_emb(e_f)]``
(B, T, D) that drives that frame's adaLN-Zero modulation (Peebles & Xie 2023, "Scalable Diffusion
Models with Transformers", sec. 3.2, here per frame instead of per clip, as in diffusion forcing,
Chen et al. 2024). Actions use the flat canonical schema (``simworld.actions``, FLAT_DIM = 21).
A learned null embedding replaces a frame's action where ``mask`` is False: the first frame of a
clip (no action led to it) and frames whose action was dropped for classifier-free guidance.
The extra embedding is the hook for text or scene-label conditioning (issue 12); it is off unless
``DiTConfig.extra_cond_dim > 0`` and has its own null embedding.
"""

from __future__ import annotations

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from einops import rearrange
from torch import nn


class NoiseLevelEmbedding(nn.Module):
    """Sinusoidal embedding of a (possibly fractional) diffusion timestep, then an MLP (diffusers).

    Args:
        dim: model width.
        channels: sinusoidal channels.
    """

    def __init__(self, dim: int, channels: int = 256) -> None:
        super().__init__()
        self.proj = Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.mlp = TimestepEmbedding(channels, dim)

    def forward(self, levels: torch.Tensor) -> torch.Tensor:
        """Embed float (B, T) timesteps in [0, num_train_timesteps) into (B, T, D)."""
        B = levels.shape[0]
        flat = rearrange(levels, "b t -> (b t)").float()  # (B*T,)
        emb = self.proj(flat).to(self.mlp.linear_1.weight.dtype)  # (B*T, channels)
        return rearrange(self.mlp(emb), "(b t) d -> b t d", b=B)


class MaskedEmbedding(nn.Module):
    """MLP embedding of a vector, with a learned null embedding where a mask is False.

    Args:
        in_dim: input vector length.
        dim: model width.
    """

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Embed values (B, T, in_dim); frames with ``mask`` (B, T) False get the null embedding."""
        if values.shape[-1] != self.in_dim:
            raise ValueError(f"expected vectors of length {self.in_dim}, got shape {tuple(values.shape)}")
        emb = self.mlp(values.to(self.null.dtype))  # (B, T, D)
        if mask is None:
            return emb
        return torch.where(mask[..., None], emb, self.null.to(emb.dtype))


class ActionEncoder(MaskedEmbedding):
    """Embedding of flat canonical actions (B, T, FLAT_DIM) with a learned null action.

    Args:
        action_dim: flat action length (``simworld.actions.FLAT_DIM``).
        dim: model width.
    """

    def __init__(self, action_dim: int, dim: int) -> None:
        super().__init__(action_dim, dim)
