"""DiT blocks with per-frame adaLN-Zero modulation (Peebles & Xie 2023, sec. 3.2).

A block is a list of attention sub-layers followed by an MLP, each wrapped as
``x + gate * sublayer(LayerNorm(x) * (1 + scale) + shift)``, with (shift, scale, gate) computed
per frame from that frame's conditioning vector by a zero-initialised linear layer, so every
block starts as the identity. ``attention="spacetime"`` blocks have one full-attention sub-layer;
``"factorized"`` blocks have a spatial then a temporal one (as Latte / open-oasis).

diffusers' ``AdaLayerNormZero`` modulates once per sample (B, D); here modulation is per frame
(B, T, D) and, for packed sequences, gathered per token, so the layout applies it.
"""

from __future__ import annotations

import torch
from torch import nn

from simworld.models.attention import Attention, Layout


class AdaLNZero(nn.Module):
    """SiLU then a zero-initialised linear map from a conditioning vector to ``count`` vectors.

    Args:
        dim: model width.
        count: modulation vectors produced.
    """

    def __init__(self, dim: int, count: int) -> None:
        super().__init__()
        self.count = count
        self.linear = nn.Linear(dim, count * dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Map cond (B, F, D) to ``count`` tensors (B, F, D)."""
        return self.linear(nn.functional.silu(cond)).chunk(self.count, dim=-1)


class MLP(nn.Module):
    """Linear, GELU (tanh), linear.

    Args:
        dim: model width.
        hidden: hidden width.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, L, D) to (B, L, D)."""
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    """Attention sub-layers of the given kinds, then an MLP, each with adaLN-Zero.

    Args:
        dim: model width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        kinds: attention kinds of the sub-layers, ("full",) or ("spatial", "temporal").
        first_layer: KV-cache index of the first attention sub-layer.
        qk_norm: RMSNorm on queries and keys.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        kinds: tuple[str, ...],
        first_layer: int,
        qk_norm: bool = True,
    ) -> None:
        super().__init__()
        self.attns = nn.ModuleList(
            Attention(dim, num_heads, kind, first_layer + i, qk_norm) for i, kind in enumerate(kinds)
        )
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.ada = AdaLNZero(dim, 3 * (len(kinds) + 1))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Update tokens x (B, L, D) given per-frame conditioning cond (B, F, D)."""
        mods = self.ada(cond)  # 3 * (sub-layers + 1) tensors (B, F, D)
        for i, attn in enumerate(self.attns):
            shift, scale, gate = mods[3 * i : 3 * i + 3]
            h = attn(layout.modulate(self.norm(x), shift, scale), layout)  # (B, L, D)
            x = x + layout.gate(h, gate)  # (B, L, D)
        shift, scale, gate = mods[-3:]
        h = self.mlp(layout.modulate(self.norm(x), shift, scale))  # (B, L, D)
        return x + layout.gate(h, gate)


class FinalLayer(nn.Module):
    """adaLN (shift, scale) then a zero-initialised linear map to patch values.

    Args:
        dim: model width.
        out_dim: values per patch (patch_size² × channels).
    """

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = AdaLNZero(dim, 2)
        self.linear = nn.Linear(dim, out_dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, layout: Layout) -> torch.Tensor:
        """Map tokens x (B, L, D) to patch values (B, L, out_dim)."""
        shift, scale = self.ada(cond)  # (B, F, D) each
        return self.linear(layout.modulate(self.norm(x), shift, scale))
