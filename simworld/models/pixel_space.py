"""Pixel space as a lossless, parameter-free latent space with the ``VideoVAE`` interface.

``encode`` maps uint8 frames to [-1, 1] and folds each f×f pixel block into channels
(space-to-depth): (B, T, H, W, 3) -> (B, T, 3·f², H/f, W/f). ``decode`` inverts it exactly
(rounding to uint8). With f = 1 the DiT models pixels directly, as DIAMOND does; f = 2 or 4
shortens the token sequence without any learned compression. It lets the whole model stack run
and be tested without a trained VAE.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch import nn

from simworld.models.serialization import read_component_config, write_component_config

SPATIAL_FACTORS = (1, 2, 4)


@dataclass(frozen=True)
class PixelSpaceConfig:
    """Configuration of ``PixelSpace``.

    Attributes:
        spatial_factor: f, the side of the pixel block folded into channels (1, 2 or 4).
    """

    spatial_factor: int = 1

    def __post_init__(self) -> None:
        if self.spatial_factor not in SPATIAL_FACTORS:
            raise ValueError(f"spatial_factor must be one of {SPATIAL_FACTORS}, got {self.spatial_factor}")

    @property
    def temporal_factor(self) -> int:
        """Frames per latent frame (always 1)."""
        return 1

    @property
    def latent_channels(self) -> int:
        """Channels of a latent frame: 3·f²."""
        return 3 * self.spatial_factor**2


class PixelSpace(nn.Module):
    """Lossless space-to-depth "autoencoder"; same API as ``VideoVAE``.

    Args:
        config: the block size.
    """

    kind = "pixel"

    def __init__(self, config: PixelSpaceConfig | None = None) -> None:
        super().__init__()
        self.config = config or PixelSpaceConfig()
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)  # carries device and dtype

    def encode(self, frames: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Encode uint8 (B, T, H, W, 3) frames (H, W divisible by f) to (B, T, 3·f², H/f, W/f) in [-1, 1].

        Raises:
            ValueError: wrong dtype or shape.
        """
        f = self.config.spatial_factor
        frames = torch.as_tensor(frames)
        if (
            frames.dtype != torch.uint8
            or frames.ndim != 5
            or frames.shape[-1] != 3
            or frames.shape[2] % f
            or frames.shape[3] % f
        ):
            raise ValueError(
                f"expected uint8 frames (B, T, H, W, 3) with H, W divisible by {f}, got "
                f"{frames.dtype} {tuple(frames.shape)}"
            )
        x = frames.to(device=self._anchor.device, dtype=self._anchor.dtype) / 127.5 - 1.0  # (B, T, H, W, 3)
        return rearrange(x, "b t (h p1) (w p2) c -> b t (c p1 p2) h w", p1=f, p2=f)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode float (B, T, 3·f², h, w) latents to uint8 (B, T, h·f, w·f, 3) (values clamped to [-1, 1]).

        Raises:
            ValueError: wrong shape.
        """
        f = self.config.spatial_factor
        if latents.ndim != 5 or latents.shape[2] != self.config.latent_channels:
            raise ValueError(
                f"expected latents (B, T, {self.config.latent_channels}, h, w), got {tuple(latents.shape)}"
            )
        x = rearrange(latents.float(), "b t (c p1 p2) h w -> b t (h p1) (w p2) c", p1=f, p2=f)
        return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``config.json`` into ``folder`` (there are no weights); return the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_component_config(folder, type(self).__name__, self.config)
        return folder

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
    ) -> PixelSpace:
        """Load from a folder written by ``save_pretrained``.

        Raises:
            CheckpointError: missing or invalid ``config.json``.
        """
        config = read_component_config(Path(folder), cls.__name__, PixelSpaceConfig)
        return cls(config).to(device=device, dtype=dtype).eval()
