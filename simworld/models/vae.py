"""Video VAE: uint8 frames <-> normalised latents; ×4/×8 spatial and optional causal temporal compression.

The first stage of the Sora-style world model ("compress video into a latent space"). Built on
diffusers autoencoders (see :mod:`simworld.models.vae_blocks` and ``docs/vae.md``):

- ``temporal_factor == 1``: every frame is encoded alone by a 2D ``AutoencoderKL``; ``T' = T``.
- ``temporal_factor`` 2 or 4: a causal 3D VAE (Wan 2.1's ``AutoencoderKLWan``) keeps the first
  frame alone and compresses each later group of ``tf`` frames into one latent frame, so a clip
  must have ``T = 1 + k·tf`` frames and gives ``T' = 1 + k`` latent frames. Latent ``j`` depends on
  frames up to ``j·tf`` only.

Latents leave :meth:`VideoVAE.encode` already normalised, ``(z - latent_shift) / latent_scale`` per
channel, with shift/scale measured on data by :meth:`VideoVAE.compute_latent_stats` and stored as
buffers (so they are saved with the weights): the diffusion model sees roughly zero-mean,
unit-variance latents.

Shapes: frames ``uint8 (B, T, H, W, C)`` in [0, 255]; float frames ``(B, T, C, H, W)`` in [-1, 1];
latents ``float (B, T', C_lat, H / sf, W / sf)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from simworld.models.serialization import load_component, save_component
from simworld.models.vae_blocks import (
    Posterior,
    build_autoencoder,
    decode_causal,
    decode_per_frame,
    encode_causal,
    encode_per_frame,
    float_to_frames,
    frames_to_float,
)

SPATIAL_FACTORS = (4, 8)
TEMPORAL_FACTORS = (1, 2, 4)

#: Size presets at spatial factor 4; a ×8 model repeats the last width for its extra level.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"block_out_channels": (16, 32, 32), "layers_per_block": 1, "norm_num_groups": 8},
    "small": {"block_out_channels": (32, 64, 128), "layers_per_block": 1, "norm_num_groups": 16},
    "base": {"block_out_channels": (64, 128, 256), "layers_per_block": 2, "norm_num_groups": 32},
}


def default_latent_channels(spatial_factor: int, temporal_factor: int) -> int:
    """Latent channels of the presets: 4 at ×4, 8 at ×8, doubled when time is compressed too.

    Frames then shrink 12× (×4), 24× (×8), 24× (×4, tf 2), 48× (×8, tf 2) ... 96× (×8, tf 4) in
    values; Wan 2.1 uses 16 channels at ×8 space, ×4 time.
    """
    return (4 if spatial_factor == 4 else 8) * (1 if temporal_factor == 1 else 2)


@dataclass
class VideoVAEConfig:
    """Architecture of a :class:`VideoVAE`.

    Attributes:
        in_channels: Channels of input frames (3: RGB).
        out_channels: Channels of decoded frames (3: RGB).
        spatial_factor: Height/width downsampling, 4 or 8.
        temporal_factor: Time downsampling, 1 (per-frame image VAE), 2 or 4 (causal 3D VAE: the
            first frame alone, then groups of ``temporal_factor`` frames).
        latent_channels: Channels of the latent frames.
        block_out_channels: Width of each encoder level (mirrored in the decoder); exactly
            ``log2(spatial_factor) + 1`` entries, since every level but the last halves H and W.
            With ``temporal_factor > 1`` each must be a multiple of the first (Wan's ``dim_mult``).
        layers_per_block: Residual blocks per encoder level (the decoder has one more).
        norm_num_groups: GroupNorm groups of the 2D autoencoder (``temporal_factor == 1``); must
            divide every width. The causal 3D one normalises with a per-position RMSNorm and does
            not read it.
    """

    in_channels: int = 3
    out_channels: int = 3
    spatial_factor: int = 4
    temporal_factor: int = 1
    latent_channels: int = 4
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    norm_num_groups: int = 16

    def __post_init__(self) -> None:
        self.block_out_channels = tuple(int(c) for c in self.block_out_channels)
        if self.spatial_factor not in SPATIAL_FACTORS:
            raise ValueError(
                f"spatial_factor must be one of {list(SPATIAL_FACTORS)}, got {self.spatial_factor}"
            )
        if self.temporal_factor not in TEMPORAL_FACTORS:
            raise ValueError(
                f"temporal_factor must be one of {list(TEMPORAL_FACTORS)}, got {self.temporal_factor}"
            )
        for name in ("in_channels", "out_channels", "latent_channels", "layers_per_block", "norm_num_groups"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        levels = int(math.log2(self.spatial_factor)) + 1
        if len(self.block_out_channels) != levels:
            raise ValueError(
                f"block_out_channels must have log2(spatial_factor) + 1 = {levels} entries for "
                f"spatial_factor={self.spatial_factor}, got {list(self.block_out_channels)} "
                f"(VideoVAEConfig.from_preset builds a matching one)"
            )
        if any(c < 1 for c in self.block_out_channels):
            raise ValueError(f"block_out_channels must be positive, got {list(self.block_out_channels)}")
        if self.temporal_factor == 1 and any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError(
                f"norm_num_groups={self.norm_num_groups} must divide every entry of block_out_channels "
                f"{list(self.block_out_channels)}"
            )
        base = self.block_out_channels[0]
        if self.temporal_factor > 1 and any(c % base or c % 2 for c in self.block_out_channels):
            raise ValueError(
                f"with temporal_factor > 1 every entry of block_out_channels must be even and a multiple "
                f"of the first ({base}), got {list(self.block_out_channels)}"
            )

    @classmethod
    def from_preset(
        cls, name: str, spatial_factor: int = 4, temporal_factor: int = 1, **overrides: Any
    ) -> VideoVAEConfig:
        """The config of a size preset (``tiny``, ``small``, ``base``) at the given factors.

        Args:
            name: A key of :data:`PRESETS`.
            spatial_factor: 4 or 8.
            temporal_factor: 1, 2 or 4.
            **overrides: Any other field, e.g. ``latent_channels=16``.

        Raises:
            ValueError: unknown preset (the message lists them) or invalid values.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown VAE preset {name!r}; valid presets: {', '.join(PRESETS)}")
        values = dict(PRESETS[name])
        if spatial_factor == 8:
            values["block_out_channels"] = (*values["block_out_channels"], values["block_out_channels"][-1])
        values["latent_channels"] = default_latent_channels(spatial_factor, temporal_factor)
        values.update(overrides)
        return cls(spatial_factor=spatial_factor, temporal_factor=temporal_factor, **values)


class VideoVAE(nn.Module):
    """Video VAE over uint8 frames with stored latent normalisation.

    Build with ``VideoVAE(VideoVAEConfig.from_preset("tiny"))``; move with ``.to(device, dtype)``
    (inputs follow the model's device and dtype; bf16 autocast works too).

    Buffers ``latent_shift``/``latent_scale`` (C_lat,) hold the normalisation (0 and 1 until
    :meth:`compute_latent_stats` runs) and ``latent_stats_count`` the number of latent values per
    channel they were measured on (0: not measured).
    """

    def __init__(self, config: VideoVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.autoencoder = build_autoencoder(
            in_channels=config.in_channels,
            out_channels=config.out_channels,
            latent_channels=config.latent_channels,
            block_out_channels=config.block_out_channels,
            layers_per_block=config.layers_per_block,
            norm_num_groups=config.norm_num_groups,
            temporal_factor=config.temporal_factor,
        )
        self.register_buffer("latent_shift", torch.zeros(config.latent_channels))
        self.register_buffer("latent_scale", torch.ones(config.latent_channels))
        self.register_buffer("latent_stats_count", torch.zeros((), dtype=torch.int64))

    @classmethod
    def from_preset(
        cls, name: str, spatial_factor: int = 4, temporal_factor: int = 1, **overrides: Any
    ) -> VideoVAE:
        """A freshly initialised model of a size preset (see :meth:`VideoVAEConfig.from_preset`)."""
        return cls(VideoVAEConfig.from_preset(name, spatial_factor, temporal_factor, **overrides))

    # ----------------------------------------------------------------------------- properties

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.latent_shift.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters."""
        return next(self.autoencoder.parameters()).dtype

    @property
    def has_latent_stats(self) -> bool:
        """Whether :meth:`compute_latent_stats` has set the normalisation (else shift 0, scale 1)."""
        return bool(self.latent_stats_count.item() > 0)

    def num_parameters(self) -> int:
        """Number of parameters (the autoencoder's; buffers not counted)."""
        return sum(p.numel() for p in self.parameters())

    def num_latent_frames(self, num_frames: int) -> int:
        """Latent frames ``T'`` for a clip of ``num_frames`` frames.

        Raises:
            ValueError: ``temporal_factor > 1`` and ``num_frames`` is not ``1 + k·temporal_factor``.
        """
        tf = self.config.temporal_factor
        if num_frames < 1 or (num_frames - 1) % tf:
            raise ValueError(
                f"with temporal_factor={tf} a clip must have 1 + k*{tf} frames "
                f"(1, {1 + tf}, {1 + 2 * tf}, ...), "
                f"got {num_frames}"
            )
        return 1 + (num_frames - 1) // tf

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """``(T', C_lat, h, w)`` of the latents of a (num_frames, height, width) clip."""
        self._check_size(height, width)
        sf = self.config.spatial_factor
        return (self.num_latent_frames(num_frames), self.config.latent_channels, height // sf, width // sf)

    def _check_size(self, height: int, width: int) -> None:
        sf = self.config.spatial_factor
        if height % sf or width % sf or height < sf or width < sf:
            raise ValueError(
                f"frame height and width must be positive multiples of spatial_factor={sf}, "
                f"got {height}x{width}"
            )

    def _check_float_frames(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or x.shape[2] != self.config.in_channels:
            raise ValueError(
                f"float frames must be (B, T, {self.config.in_channels}, H, W), got {tuple(x.shape)}"
            )
        self._check_size(x.shape[3], x.shape[4])
        self.num_latent_frames(x.shape[1])

    def _check_latents(self, z: torch.Tensor) -> None:
        if z.ndim != 5 or z.shape[2] != self.config.latent_channels:
            raise ValueError(
                f"latents must be (B, T', {self.config.latent_channels}, h, w), got {tuple(z.shape)}"
            )

    def _as_frames(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        frames = torch.as_tensor(frames)
        if frames.dtype != torch.uint8:
            raise TypeError(
                f"frames must be uint8 in [0, 255], got {frames.dtype} (use encode_float for floats)"
            )
        if frames.ndim != 5 or frames.shape[-1] != self.config.in_channels:
            raise ValueError(
                f"frames must be uint8 (B, T, H, W, {self.config.in_channels}), "
                f"got shape {tuple(frames.shape)}"
            )
        return frames.to(self.device)

    # ----------------------------------------------------------------------- float interface

    def posterior(self, x: torch.Tensor) -> Posterior:
        """Encode float frames to the posterior over raw (un-normalised) latents.

        Args:
            x: float (B, T, C, H, W) in [-1, 1]; cast to the model's device and dtype.

        Returns:
            A :class:`Posterior` with mean/logvar (B, T', C_lat, h, w).
        """
        self._check_float_frames(x)
        x = x.to(self.device, self.dtype)
        if self.config.temporal_factor == 1:
            return encode_per_frame(self.autoencoder, x)
        return encode_causal(self.autoencoder, x)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Decode raw (un-normalised) latents (B, T', C_lat, h, w) to float frames (B, T, C, H, W).

        The output is not clamped (the loss sees what the decoder produced).
        """
        self._check_latents(z)
        z = z.to(self.device, self.dtype)
        if self.config.temporal_factor == 1:
            return decode_per_frame(self.autoencoder, z)
        return decode_causal(self.autoencoder, z)

    def forward(
        self, x: torch.Tensor, sample_posterior: bool = True, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, Posterior]:
        """Reconstruct float frames (the training pass).

        Args:
            x: float (B, T, C, H, W) in [-1, 1].
            sample_posterior: decode a posterior sample (training) or its mean.
            generator: source of the posterior noise.

        Returns:
            ``(reconstruction float (B, T, C, H, W) unclamped, posterior)``.
        """
        posterior = self.posterior(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode_raw(z), posterior

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latents -> normalised: ``(z - latent_shift) / latent_scale`` per channel (axis 2)."""
        shift, scale = self.latent_shift.view(-1, 1, 1), self.latent_scale.view(-1, 1, 1)
        return ((z - shift) / scale).to(z.dtype)

    def denormalize(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> raw: ``latents * latent_scale + latent_shift`` per channel (axis 2)."""
        shift, scale = self.latent_shift.view(-1, 1, 1), self.latent_scale.view(-1, 1, 1)
        return (latents * scale + shift).to(latents.dtype)

    def encode_float(
        self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Float frames (B, T, C, H, W) in [-1, 1] -> normalised latents (B, T', C_lat, h, w).

        Keeps gradients (unlike :meth:`encode`).
        """
        posterior = self.posterior(x)
        return self.normalize(posterior.sample(generator) if sample else posterior.mode())

    def decode_float(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents (B, T', C_lat, h, w) -> float frames (B, T, C, H, W), unclamped.

        Keeps gradients (unlike :meth:`decode`).
        """
        self._check_latents(latents)
        return self.decode_raw(self.denormalize(latents.to(self.device)))

    # ----------------------------------------------------------------------- uint8 interface

    @torch.no_grad()
    def encode(
        self,
        frames: torch.Tensor | np.ndarray,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Encode uint8 frames to normalised latents.

        Args:
            frames: uint8 (B, T, H, W, C) in [0, 255]; H, W multiples of ``spatial_factor``; T
                ``1 + k·temporal_factor``. Moved to the model's device.
            sample: draw from the posterior instead of taking its mean. The default (mean) is what
                latent caches store: deterministic, and the posterior spread is tiny next to the
                spread of the latents themselves (docs/vae.md).
            generator: source of the posterior noise when ``sample``.

        Returns:
            float (B, T', C_lat, H / sf, W / sf) in the model's dtype, normalised with the stored
            per-channel shift/scale.

        Raises:
            TypeError: ``frames`` is not uint8.
            ValueError: wrong shape, H/W not divisible by ``spatial_factor`` or a bad frame count.
        """
        x = frames_to_float(self._as_frames(frames), self.dtype)
        return self.encode_float(x, sample=sample, generator=generator).to(self.dtype)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode normalised latents (B, T', C_lat, h, w) to uint8 frames (B, T, H, W, C) in [0, 255]."""
        return float_to_frames(self.decode_float(latents))

    # ---------------------------------------------------------------------- latent statistics

    @torch.no_grad()
    def compute_latent_stats(
        self, frames_iterable: Iterable[torch.Tensor | np.ndarray], max_batches: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Measure per-channel shift/scale of the latents on data and store them in the buffers.

        Shift is the mean and scale the (population) standard deviation, per channel, of the
        posterior means of every latent position of every batch, summed in float64.

        Args:
            frames_iterable: batches of uint8 (B, T, H, W, C) frames.
            max_batches: stop after this many batches (``None``: all).

        Returns:
            ``(latent_shift, latent_scale)``, float32 (C_lat,), as stored.

        Raises:
            ValueError: the iterable yields no batch.
        """
        C = self.config.latent_channels
        total = torch.zeros(C, dtype=torch.float64)
        total_sq = torch.zeros(C, dtype=torch.float64)
        count = 0
        for i, frames in enumerate(frames_iterable):
            if max_batches is not None and i >= max_batches:
                break
            x = frames_to_float(self._as_frames(frames), self.dtype)
            z = self.posterior(x).mean.double().cpu().movedim(2, 0).reshape(C, -1)  # (C, B*T'*h*w)
            total += z.sum(dim=1)
            total_sq += (z * z).sum(dim=1)
            count += z.shape[1]
        if count == 0:
            raise ValueError("compute_latent_stats got no batches of frames")
        mean = total / count
        std = (total_sq / count - mean * mean).clamp(min=0.0).sqrt().clamp(min=1e-6)
        self.latent_shift.copy_(mean.to(self.latent_shift.dtype))
        self.latent_scale.copy_(std.to(self.latent_scale.dtype))
        self.latent_stats_count.fill_(count)
        return self.latent_shift.float().cpu().clone(), self.latent_scale.float().cpu().clone()

    # ------------------------------------------------------------------------- save / load

    def save_pretrained(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (weights and latent stats) into ``folder``.

        The component layout of :mod:`simworld.models.serialization`: ``config.json`` is
        ``{"class_name": "VideoVAE", "format_version": 1, "config": {VideoVAEConfig fields}}``.
        """
        return save_component(folder, self.config, self)

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> VideoVAE:
        """Load a model written by :meth:`save_pretrained`, strictly, in eval mode.

        Args:
            folder: holds ``config.json`` and ``model.safetensors``.
            device: where to put the model.
            dtype: floating dtype of the parameters and latent stats.

        Raises:
            CheckpointError: (a ``ValueError``) a missing file, another class or format version,
                unknown or missing config keys, or weights whose names or shapes do not match the
                config: the message lists the missing, unexpected and mismatched keys.
        """
        return load_component(folder, cls, VideoVAEConfig, device=device, dtype=dtype)
