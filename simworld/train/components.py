"""What ``simworld train`` builds: the DiT + reward head (config group ``model``) and the latent
space (config group ``vae``: a ``VideoVAE`` preset, a pretrained VAE, or the lossless
``PixelSpace``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from simworld.diffusion.schedule import NoiseScheduleConfig
from simworld.diffusion.training import DiffusionForcingConfig
from simworld.models.dit import DiT, DiTConfig
from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace, PixelSpaceConfig
from simworld.models.vae import VideoVAE, VideoVAEConfig
from simworld.models.vae_loss import VAELossConfig

LATENT_KINDS = ("vae", "pixel")


@dataclass
class ModelConfig:
    """The DiT and its reward/termination head (config group ``model``).

    Attributes:
        preset: DiT size preset (``simworld.models.dit.PRESETS``: tiny, mini, small, base, L, XL).
        patch_size: latent patch side.
        attention: "factorized" (spatial then temporal) or "spacetime" (full attention).
        temporal: "causal" (autoregressive world model) or "bidirectional".
        mlp_ratio: MLP width / model width.
        qk_norm: RMSNorm on queries and keys.
        spatial_pos: "none" (RoPE only) or "fractional" (also an absolute sin-cos embedding of
            each token's fractional position in its frame: ``simworld.models.spatial_pos``).
        reference: "none" or "previous" (denoise each frame relative to the previous frame's
            clean latent: ``simworld.diffusion.reference``).
        camera_encoding: "linear" (camera deltas as degrees / 180) or "mu_law" (companded, so
            that small turns are not near zero: ``simworld.models.conditioning``).
        head_hidden: hidden width of the reward/termination head.
        max_context_frames: sliding context window stored in the checkpoint for sampling.
        objective: diffusion-forcing objective (context noise, action dropout, head weights).
        noise_schedule: training noise schedule.
    """

    preset: str = "tiny"
    patch_size: int = 1
    attention: str = "factorized"
    temporal: str = "causal"
    mlp_ratio: float = 4.0
    qk_norm: bool = True
    spatial_pos: str = "none"
    reference: str = "none"
    camera_encoding: str = "linear"
    head_hidden: int = 256
    max_context_frames: int = 32
    objective: DiffusionForcingConfig = field(default_factory=DiffusionForcingConfig)
    noise_schedule: NoiseScheduleConfig = field(default_factory=NoiseScheduleConfig)

    def __post_init__(self) -> None:
        self.dit_config(4)  # raises for a bad preset, mode or size
        if self.head_hidden < 1 or self.max_context_frames < 1:
            raise ValueError(
                f"head_hidden and max_context_frames must be >= 1, got {self.head_hidden}, "
                f"{self.max_context_frames}"
            )

    def dit_config(self, in_channels: int) -> DiTConfig:
        """The DiT architecture over latents with ``in_channels`` channels."""
        return DiTConfig.preset(
            self.preset,
            in_channels=in_channels,
            patch_size=self.patch_size,
            attention=self.attention,
            temporal=self.temporal,
            mlp_ratio=self.mlp_ratio,
            qk_norm=self.qk_norm,
            spatial_pos=self.spatial_pos,
            reference=self.reference,
            camera_encoding=self.camera_encoding,
        )


class Denoiser(nn.Module):
    """The DiT and the reward/termination head as one module (what DDP wraps and EMA averages).

    Args:
        dit: the DiT.
        head: the head on its features.
    """

    def __init__(self, dit: DiT, head: RewardTerminationHead) -> None:
        super().__init__()
        self.dit, self.head = dit, head

    @classmethod
    def build(cls, config: ModelConfig, in_channels: int) -> Denoiser:
        """A freshly initialised DiT + head."""
        dit = DiT(config.dit_config(in_channels))
        head = RewardTerminationHead(
            RewardHeadConfig(in_dim=dit.config.hidden_size, hidden=config.head_hidden)
        )
        return cls(dit, head)

    def forward(self, loss_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``loss_fn(self.dit, *args, head=self.head, **kwargs)`` (so DDP sees the forward)."""
        return loss_fn(self.dit, *args, head=self.head, **kwargs)


@dataclass
class LatentSpaceConfig:
    """The latent space (config group ``vae``).

    Attributes:
        kind: "vae" (a ``VideoVAE``) or "pixel" (lossless ``PixelSpace``, nothing to train).
        preset: VAE size preset (tiny, small, base); ``kind=vae`` only.
        spatial_factor: VAE: 4 or 8; pixel: 1, 2 or 4 (pixel block folded into channels).
        temporal_factor: VAE time compression 1, 2 or 4 (the world model's step needs 1).
        latent_channels: VAE latent channels; null: the preset's default.
        pretrained: a VAE folder (``config.json`` + ``model.safetensors``) or a ``simworld train
            trainer.stage=vae`` run folder holding ``vae/``; the ``dit`` stage needs one for
            ``kind=vae``.
        loss: VAE loss weights (``vae`` and ``joint`` stages).
        stats_batches: batches over which latent shift/scale are measured.
        cache_dtype: dtype of the latent cache of the ``dit`` stage, float32 or float16.
    """

    kind: str = "vae"
    preset: str = "tiny"
    spatial_factor: int = 4
    temporal_factor: int = 1
    latent_channels: int | None = None
    pretrained: str | None = None
    loss: VAELossConfig = field(default_factory=VAELossConfig)
    stats_batches: int = 8
    cache_dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in LATENT_KINDS:
            raise ValueError(f"vae.kind must be one of {list(LATENT_KINDS)}, got {self.kind!r}")
        if self.cache_dtype not in ("float32", "float16"):
            raise ValueError(f"cache_dtype must be float32 or float16, got {self.cache_dtype!r}")
        if self.stats_batches < 1:
            raise ValueError(f"stats_batches must be >= 1, got {self.stats_batches}")
        if self.kind == "pixel":
            PixelSpaceConfig(self.spatial_factor)
        else:
            self.vae_config()

    def vae_config(self) -> VideoVAEConfig:
        """The VAE architecture of a fresh model."""
        extra = {} if self.latent_channels is None else {"latent_channels": self.latent_channels}
        return VideoVAEConfig.from_preset(self.preset, self.spatial_factor, self.temporal_factor, **extra)

    def build(self) -> VideoVAE | PixelSpace:
        """A fresh VAE, the pretrained one (``pretrained``), or the pixel space."""
        if self.kind == "pixel":
            return PixelSpace(PixelSpaceConfig(self.spatial_factor))
        if self.pretrained is None:
            return VideoVAE(self.vae_config())
        folder = Path(self.pretrained)
        if not (folder / "config.json").is_file() and (folder / "vae" / "config.json").is_file():
            folder = folder / "vae"
        return VideoVAE.from_pretrained(folder, dtype=torch.float32)
