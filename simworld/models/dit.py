"""Spacetime Diffusion Transformer (DiT) over video latents, action-conditioned, per-frame noise.

Latents (B, T, C, h, w) are cut into p×p patches per frame (``packing.patchify``), embedded
linearly, positioned by 3D RoPE over (t, y, x) (``rope``), and processed by blocks of either

- ``attention="factorized"``: spatial attention within each frame, then temporal attention
  across frames at each spatial location, then an MLP (Latte, open-oasis), or
- ``attention="spacetime"``: full attention over all tokens of the clip, then an MLP,

with ``temporal="causal"`` (a frame sees itself and earlier frames: the autoregressive world
model, KV-cacheable) or ``"bidirectional"`` (every frame sees every frame: backward extension
and interpolation, issue 12). Every sub-layer is modulated per frame by adaLN-Zero from that
frame's noise level + action (+ optional extra) embedding (``conditioning``). The network
predicts v (``simworld.diffusion.schedule``) for every frame and returns its last hidden tokens
as features for the reward/termination head.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from simworld.actions import FLAT_DIM
from simworld.models.attention import GridLayout, Layout, PackedLayout
from simworld.models.blocks import DiTBlock, FinalLayer
from simworld.models.conditioning import CAMERA_ENCODINGS, ActionEncoder, MaskedEmbedding, NoiseLevelEmbedding
from simworld.models.kv_cache import KVCache
from simworld.models.packing import PackedClips, patchify, unpack, unpatchify
from simworld.models.rope import rope_axis_dims
from simworld.models.spatial_pos import SPATIAL_POS_MODES, grid_fractions, packed_fractions, spatial_embedding

ATTENTION_MODES = ("factorized", "spacetime")
TEMPORAL_MODES = ("causal", "bidirectional")
REFERENCE_MODES = ("none", "previous")

PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "depth": 2, "num_heads": 2},
    "mini": {"hidden_size": 192, "depth": 6, "num_heads": 3},
    "small": {"hidden_size": 384, "depth": 12, "num_heads": 6},
    "base": {"hidden_size": 768, "depth": 12, "num_heads": 12},
    "L": {"hidden_size": 1024, "depth": 24, "num_heads": 16},
    "XL": {"hidden_size": 1152, "depth": 28, "num_heads": 16},
}
"""Width, depth, heads of each size preset (small..XL follow DiT-S/B/L/XL, Peebles & Xie 2023)."""


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of a ``DiT``; saved as ``dit/config.json`` in a checkpoint.

    Attributes:
        in_channels: latent channels C.
        patch_size: patch side p (latent h, w must be divisible by it).
        hidden_size: model width D.
        depth: number of blocks (a factorized block holds a spatial and a temporal attention).
        num_heads: attention heads; head_dim = D / heads must be even and >= 6 (3D RoPE).
        mlp_ratio: MLP hidden width / D.
        attention: "factorized" or "spacetime".
        temporal: "causal" or "bidirectional".
        action_dim: flat action length (``simworld.actions.FLAT_DIM``).
        extra_cond_dim: length of the optional extra conditioning embedding; 0 = off.
        rope_theta: RoPE base.
        timestep_channels: sinusoidal channels of the noise-level embedding.
        qk_norm: RMSNorm on queries and keys.
        spatial_pos: "none" (RoPE only: positions are relative) or "fractional" (also a fixed
            sin-cos embedding of each token's fractional (y, x) in its frame, for any frame size:
            ``simworld.models.spatial_pos``); parameter-free, so it does not change the tensors.
        reference: "none" or "previous": denoise each frame relative to the previous frame's clean
            latent (``simworld.diffusion.reference``; the patch embedding reads 2C channels and
            callers go through ``reference.predict``).
        camera_encoding: "linear" (camera entries as ``degrees / 180``) or "mu_law" (companded, so
            turns of a few degrees are not near zero; ``simworld.models.conditioning``).
    """

    in_channels: int = 4
    patch_size: int = 1
    hidden_size: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    attention: str = "factorized"
    temporal: str = "causal"
    action_dim: int = FLAT_DIM
    extra_cond_dim: int = 0
    rope_theta: float = 10000.0
    timestep_channels: int = 256
    qk_norm: bool = True
    spatial_pos: str = "none"
    reference: str = "none"
    camera_encoding: str = "linear"

    ADDED_LATER: ClassVar[tuple[str, ...]] = ("spatial_pos", "reference", "camera_encoding")
    """Fields a checkpoint may lack (written before they existed; the default is the old behaviour)."""

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {self.attention!r}")
        if self.temporal not in TEMPORAL_MODES:
            raise ValueError(f"temporal must be one of {TEMPORAL_MODES}, got {self.temporal!r}")
        if self.spatial_pos not in SPATIAL_POS_MODES:
            raise ValueError(f"spatial_pos must be one of {SPATIAL_POS_MODES}, got {self.spatial_pos!r}")
        if self.reference not in REFERENCE_MODES:
            raise ValueError(f"reference must be one of {REFERENCE_MODES}, got {self.reference!r}")
        if self.camera_encoding not in CAMERA_ENCODINGS:
            raise ValueError(
                f"camera_encoding must be one of {CAMERA_ENCODINGS}, got {self.camera_encoding!r}"
            )
        for name in ("in_channels", "patch_size", "hidden_size", "depth", "num_heads", "action_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}"
            )
        rope_axis_dims(self.head_dim)  # raises for an unusable head_dim
        if self.extra_cond_dim < 0 or self.mlp_ratio <= 0:
            raise ValueError(
                f"extra_cond_dim must be >= 0 and mlp_ratio > 0, got {self.extra_cond_dim}, {self.mlp_ratio}"
            )

    @property
    def head_dim(self) -> int:
        """Channels per attention head."""
        return self.hidden_size // self.num_heads

    @property
    def input_channels(self) -> int:
        """Channels the DiT reads per latent pixel: C, or 2C with a previous-frame reference."""
        return self.in_channels * (2 if self.reference == "previous" else 1)

    @property
    def causal(self) -> bool:
        """True for frame-causal temporal attention."""
        return self.temporal == "causal"

    @classmethod
    def preset(cls, name: str, **overrides: object) -> DiTConfig:
        """The size preset ``name`` ("tiny", "small", "base", "L", "XL") with field overrides.

        Raises:
            ValueError: unknown preset name.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown DiT preset {name!r}; valid presets: {list(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON form of the config."""
        return dataclasses.asdict(self)


@dataclass
class DiTOutput:
    """Output of a DiT forward pass.

    Attributes:
        prediction: float (B, T, C, h, w) predicted v of every frame.
        features: float (B, T, N, D) last hidden tokens of every frame (N = tokens per frame).
    """

    prediction: torch.Tensor
    features: torch.Tensor


class DiT(nn.Module):
    """Spacetime DiT predicting v per frame; see the module docstring.

    Args:
        config: the architecture.
    """

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        D, p, C = config.hidden_size, config.patch_size, config.in_channels
        kinds = ("full",) if config.attention == "spacetime" else ("spatial", "temporal")
        self.patch_embed = nn.Linear(config.input_channels * p * p, D)
        self.noise_embed = NoiseLevelEmbedding(D, config.timestep_channels)
        self.action_embed = ActionEncoder(config.action_dim, D, config.camera_encoding)
        self.extra_embed = MaskedEmbedding(config.extra_cond_dim, D) if config.extra_cond_dim else None
        self.blocks = nn.ModuleList(
            DiTBlock(D, config.num_heads, config.mlp_ratio, kinds, len(kinds) * i, config.qk_norm)
            for i in range(config.depth)
        )
        self.final = FinalLayer(D, C * p * p)
        self._init_weights()

    def _init_weights(self) -> None:
        """Xavier-uniform linear layers, as DiT; adaLN and output layers stay zero (adaLN-Zero)."""
        zero = {id(block.ada.linear) for block in self.blocks} | {
            id(self.final.ada.linear),
            id(self.final.linear),
        }
        for module in self.modules():
            if isinstance(module, nn.Linear) and id(module) not in zero:
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.action_embed.null, std=0.02)
        if self.extra_embed is not None:
            nn.init.normal_(self.extra_embed.null, std=0.02)

    def condition(
        self,
        noise_levels: torch.Tensor,
        actions: torch.Tensor | None,
        action_mask: torch.Tensor | None,
        extra: torch.Tensor | None = None,
        extra_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-frame conditioning vectors (B, T, D).

        Args:
            noise_levels: float (B, T) diffusion timesteps.
            actions: float (B, T, A) flat actions, or None for the null action everywhere.
            action_mask: bool (B, T), False where the null action is used (None: all True).
            extra: (B, T, E) extra conditioning, or None (its null embedding when the model has one).
            extra_mask: bool (B, T), False where the extra null embedding is used.
        """
        cond = self.noise_embed(noise_levels)  # (B, T, D)
        if actions is None:
            actions = torch.zeros(*noise_levels.shape, self.config.action_dim, device=cond.device)
            action_mask = torch.zeros(noise_levels.shape, dtype=torch.bool, device=cond.device)
        cond = cond + self.action_embed(actions, action_mask)  # (B, T, D)
        if self.extra_embed is not None:
            if extra is None:
                extra = torch.zeros(*noise_levels.shape, self.config.extra_cond_dim, device=cond.device)
                extra_mask = torch.zeros(noise_levels.shape, dtype=torch.bool, device=cond.device)
            cond = cond + self.extra_embed(extra, extra_mask)  # (B, T, D)
        elif extra is not None:
            raise ValueError("this DiT has no extra conditioning (extra_cond_dim=0); pass extra=None")
        return cond

    @property
    def absolute(self) -> bool:
        """True when tokens also get absolute fractional positions (``spatial_pos="fractional"``)."""
        return self.config.spatial_pos == "fractional"

    def _trunk(
        self, tokens: torch.Tensor, cond: torch.Tensor, layout: Layout, fractions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Blocks and output layer: patch values (B, L, P) -> (prediction (B, L, P), features (B, L, D)).

        ``fractions`` (L, 2) are the tokens' fractional (y, x) in their frames; None unless
        ``spatial_pos`` is "fractional".
        """
        x = self.patch_embed(tokens.to(self.patch_embed.weight.dtype))  # (B, L, D)
        if fractions is not None:
            x = x + spatial_embedding(fractions, x.shape[-1]).to(x.device, x.dtype)  # (B, L, D)
        for block in self.blocks:
            x = block(x, cond, layout)  # (B, L, D)
        return self.final(x, cond, layout), x

    def forward(
        self,
        latents: torch.Tensor,
        noise_levels: torch.Tensor,
        actions: torch.Tensor | None = None,
        action_mask: torch.Tensor | None = None,
        extra: torch.Tensor | None = None,
        extra_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
        write_cache: bool = False,
        teacher_forcing: bool = False,
    ) -> DiTOutput:
        """Predict v for every frame of B clips of equal size.

        Args:
            latents: float (B, T, C, h, w) noisy latents, h and w divisible by patch_size.
            noise_levels: float (B, T) diffusion timestep of each frame (0 = clean).
            actions: float (B, T, A); frame f's action is the one that led to it.
            action_mask: bool (B, T), False where the null action is used.
            extra: (B, T, E) extra conditioning (models with ``extra_cond_dim > 0``).
            extra_mask: bool (B, T) for ``extra``.
            cache: KV cache of context frames before these T frames (causal models only).
            write_cache: append these frames' keys/values to ``cache``.
            teacher_forcing: the T frames are a clip's T/2 context copies then its T/2 noisy
                copies at the same time positions (``attention.teacher_forcing_mask``; training
                of causal models, no cache).

        Returns:
            ``DiTOutput`` with prediction (B, T, C, h, w) and features (B, T, N, D).

        Raises:
            ValueError: shapes that do not fit, a cache with a bidirectional model, or teacher
                forcing with a bidirectional model, an odd T or a cache.
        """
        B, T, C, H, W = self._check(latents, noise_levels, actions)
        if cache is not None and not self.config.causal:
            raise ValueError(
                "a KV cache needs temporal='causal'; a bidirectional model recomputes the window"
            )
        p = self.config.patch_size
        cond = self.condition(noise_levels, actions, action_mask, extra, extra_mask)  # (B, T, D)
        cfg = self.config
        layout = GridLayout(
            T,
            H // p,
            W // p,
            cfg.causal,
            cfg.head_dim,
            cfg.rope_theta,
            latents.device,
            cache,
            write_cache,
            teacher_forcing,
        )
        try:
            fractions = grid_fractions(T, H // p, W // p, latents.device) if self.absolute else None
            out, features = self._trunk(patchify(latents, p), cond, layout, fractions)  # (B, T*N, P/D)
        except BaseException:
            layout.finish(commit=False)
            raise
        layout.finish()
        prediction = unpatchify(out, T, H // p, W // p, p)  # (B, T, C, H, W)
        return DiTOutput(prediction, features.unflatten(1, (T, -1)))

    def forward_packed(self, packed: PackedClips) -> list[DiTOutput]:
        """Predict v for clips of different sizes packed into one sequence (``pack_clips``).

        Returns:
            Per clip, a ``DiTOutput`` with prediction (1, T_i, C, h_i, w_i) and features (1, T_i, N_i, D).
        """
        if packed.patch_size != self.config.patch_size:
            raise ValueError(
                f"clips were packed with patch_size {packed.patch_size}, the model uses "
                f"{self.config.patch_size}"
            )
        layout = PackedLayout(
            packed.frame_ids,
            packed.clip_ids,
            packed.positions,
            self.config.causal,
            self.config.head_dim,
            self.config.rope_theta,
        )
        cond = self.condition(
            packed.noise_levels, packed.actions, packed.action_mask, packed.extra, packed.extra_mask
        )  # (1, F, D)
        fractions = (
            packed_fractions(packed.positions, packed.clip_ids, packed.grids) if self.absolute else None
        )  # (L, 2)
        out, features = self._trunk(packed.tokens, cond, layout, fractions)  # (1, L, P), (1, L, D)
        results = []
        for pred, feat, (T, h, w) in zip(unpack(out, packed), unpack(features, packed), packed.grids):
            prediction = unpatchify(pred.flatten(0, 1)[None], T, h, w, self.config.patch_size)
            results.append(DiTOutput(prediction, feat[None]))
        return results

    def _check(
        self, latents: torch.Tensor, noise_levels: torch.Tensor, actions: torch.Tensor | None
    ) -> tuple[int, int, int, int, int]:
        """Validate input shapes; return (B, T, C, H, W)."""
        cfg = self.config
        if (
            latents.ndim != 5
            or latents.shape[2] != cfg.input_channels
            or latents.shape[-1] % cfg.patch_size
            or latents.shape[-2] % cfg.patch_size
        ):
            raise ValueError(
                f"expected latents (B, T, {cfg.input_channels}, h, w) with h, w divisible by "
                f"{cfg.patch_size}, got {tuple(latents.shape)}"
            )
        B, T, C, H, W = latents.shape
        if tuple(noise_levels.shape) != (B, T):
            raise ValueError(f"expected noise_levels ({B}, {T}), got {tuple(noise_levels.shape)}")
        if actions is not None and tuple(actions.shape) != (B, T, cfg.action_dim):
            raise ValueError(f"expected actions ({B}, {T}, {cfg.action_dim}), got {tuple(actions.shape)}")
        return B, T, C, H, W

    def num_parameters(self) -> int:
        """Number of parameters."""
        return sum(p.numel() for p in self.parameters())
