"""Per-frame conditioning of the DiT: noise level, action, and an optional extra embedding.

Each frame f gets one vector ``c_f = noise_emb(level_f) + action_emb(a_f) [+ extra_emb(e_f)]``
(B, T, D) that drives that frame's adaLN-Zero modulation (Peebles & Xie 2023, "Scalable Diffusion
Models with Transformers", sec. 3.2, here per frame instead of per clip, as in diffusion forcing,
Chen et al. 2024). Actions use the flat canonical schema (``simworld.actions``, FLAT_DIM = 21).
A learned null embedding replaces a frame's action where ``mask`` is False: the first frame of a
clip (no action led to it) and frames whose action was dropped for classifier-free guidance.
The extra embedding is the hook for text or scene-label conditioning (issue 12); it is off unless
``DiTConfig.extra_cond_dim > 0`` and has its own null embedding.

Camera deltas enter the flat vector as ``degrees / 180``: a typical turn of 1-5 degrees is 0.005-0.03,
next to binary keys of 1.0, so a linear embedding barely sees it and learns camera control slowly.
``camera_encoding="mu_law"`` feeds the embedding the μ-law companded angle instead (VPT's camera
encoding, Baker et al. 2022, made continuous: μ = 10 over ±10 degrees): sign(d)·ln(1 + μ|d|/10)/ln(1 + μ),
0.25 at 1 degree, 0.75 at 5, 1 at 10, 2.1 at 180; monotone, so no two turns are confused.
"""

from __future__ import annotations

import math

import torch
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from einops import rearrange
from torch import nn

from simworld.actions import CAMERA_MAX_DEG, FLAT_CAMERA, FLAT_DIM

CAMERA_ENCODINGS = ("linear", "mu_law")
"""How the action embedding reads the flat camera entries (module docstring)."""
CAMERA_MU, CAMERA_MU_RANGE_DEG = 10.0, 10.0
"""μ-law constants of ``camera_encoding="mu_law"`` (VPT's ``mu`` and ``camera_maxval``)."""


def mu_law_camera(flat: torch.Tensor) -> torch.Tensor:
    """Flat actions (..., FLAT_DIM) with the camera entries (degrees / 180) μ-law companded."""
    degrees = flat[..., FLAT_CAMERA].float() * CAMERA_MAX_DEG
    companded = torch.sign(degrees) * torch.log1p(CAMERA_MU * degrees.abs() / CAMERA_MU_RANGE_DEG)
    out = flat.clone()
    out[..., FLAT_CAMERA] = (companded / math.log1p(CAMERA_MU)).to(flat.dtype)
    return out


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
        camera_encoding: ``"linear"`` (the flat entries as they are) or ``"mu_law"`` (module
            docstring; needs the canonical layout, ``action_dim == FLAT_DIM``).

    Raises:
        ValueError: an unknown encoding, or ``"mu_law"`` on a non-canonical action layout.
    """

    def __init__(self, action_dim: int, dim: int, camera_encoding: str = "linear") -> None:
        if camera_encoding not in CAMERA_ENCODINGS:
            raise ValueError(f"camera_encoding must be one of {CAMERA_ENCODINGS}, got {camera_encoding!r}")
        if camera_encoding == "mu_law" and action_dim != FLAT_DIM:
            raise ValueError(
                f"camera_encoding='mu_law' reads the canonical flat layout (action_dim={FLAT_DIM}), "
                f"got action_dim={action_dim}; use 'linear'"
            )
        super().__init__(action_dim, dim)
        self.camera_encoding = camera_encoding

    def forward(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Embed flat actions (B, T, action_dim); frames with ``mask`` (B, T) False get the null action."""
        if self.camera_encoding == "mu_law" and values.shape[-1] == self.in_dim:
            values = mu_law_camera(values)
        return super().forward(values, mask)
