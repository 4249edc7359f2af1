"""The two diffusers autoencoders behind :class:`~simworld.models.vae.VideoVAE`, and how each runs over time.

- ``temporal_factor == 1``: :class:`diffusers.AutoencoderKL` (the 2D KL autoencoder of latent
  diffusion, Rombach et al. 2022) applied to every frame on its own.
- ``temporal_factor`` 2 or 4: the encoder and decoder of :class:`diffusers.AutoencoderKLWan` (the
  causal 3D VAE of Wan 2.1, 2025). Every temporal convolution is causal (padded on the past side
  only), normalisation is a per-position RMSNorm over channels and the mid-block attention is per
  frame, so no layer mixes a later frame into an earlier one. Temporal downsampling is a stride-2
  causal convolution that leaves the first frame alone: latent 0 encodes frame 0, latent ``j >= 1``
  the group of frames ``1 + (j - 1)·tf .. j·tf``.

We drive the Wan encoder and decoder ourselves rather than through ``AutoencoderKLWan.encode`` /
``decode``: its ``_encode`` walks the clip in hard-coded chunks of 4 frames (so for ``tf = 2`` and
an odd number of groups it drops the last frames without a word) and its ``_decode`` calls the
decoder once per latent frame. Wan's causal-conv feature cache makes one call on "frame 0" followed
by one call on "all the other frames" compute exactly what its chunked loop computes (the cache
holds the past frames a causal convolution needs; ``tests/simworld/models/test_vae.py`` checks the
equality against diffusers' own methods).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, AutoencoderKLWan
from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d
from einops import rearrange
from torch import nn

# diffusers clamps the log-variance the same way (DiagonalGaussianDistribution).
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass
class Posterior:
    """A diagonal Gaussian over raw (un-normalised) latents.

    Attributes:
        mean: float (B, T', C, h, w).
        logvar: float (B, T', C, h, w), clamped to :data:`LOGVAR_RANGE`.
    """

    mean: torch.Tensor
    logvar: torch.Tensor

    @classmethod
    def from_moments(cls, moments: torch.Tensor, dim: int) -> Posterior:
        """Split ``moments`` (mean and log-variance stacked along ``dim``) into a posterior."""
        mean, logvar = moments.chunk(2, dim=dim)
        return cls(mean, logvar.clamp(*LOGVAR_RANGE))

    @property
    def std(self) -> torch.Tensor:
        """Standard deviation, same shape as ``mean``."""
        return torch.exp(0.5 * self.logvar)

    def mode(self) -> torch.Tensor:
        """The posterior mean (its mode)."""
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``mean + std * eps`` with ``eps ~ N(0, I)`` from ``generator``."""
        eps = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * eps

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per latent element, same shape as ``mean`` (Kingma & Welling 2014, eq. 10)."""
        return 0.5 * (self.mean.float() ** 2 + torch.exp(self.logvar.float()) - 1.0 - self.logvar.float())


def temporal_levels(num_levels: int, temporal_factor: int) -> list[bool]:
    """Which of the ``num_levels`` downsampling levels also halve time: the deepest ``log2(tf)``.

    Wan 2.1 compresses time in its two deepest levels (``[False, True, True]`` for ×8, ×4 time).
    """
    num_temporal = temporal_factor.bit_length() - 1
    return [i >= num_levels - num_temporal for i in range(num_levels)]


def build_autoencoder(
    *,
    in_channels: int,
    out_channels: int,
    latent_channels: int,
    block_out_channels: tuple[int, ...],
    layers_per_block: int,
    norm_num_groups: int,
    temporal_factor: int,
) -> nn.Module:
    """Build the diffusers autoencoder for a (validated) :class:`VideoVAEConfig`'s values.

    ``len(block_out_channels) - 1`` levels each halve height and width.
    """
    levels = len(block_out_channels)
    if temporal_factor == 1:
        return AutoencoderKL(
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            latent_channels=latent_channels,
            norm_num_groups=norm_num_groups,
            sample_size=64,  # read only by diffusers' tiling, which we never enable
        )
    base = block_out_channels[0]
    return AutoencoderKLWan(
        base_dim=base,
        z_dim=latent_channels,
        dim_mult=[c // base for c in block_out_channels],
        num_res_blocks=layers_per_block,
        temperal_downsample=temporal_levels(levels - 1, temporal_factor),
        # Wan's own normalisation constants are for its released weights; ours live in VideoVAE.
        latents_mean=[0.0] * latent_channels,
        latents_std=[1.0] * latent_channels,
        in_channels=in_channels,
        out_channels=out_channels,
        scale_factor_temporal=temporal_factor,
        scale_factor_spatial=2 ** (levels - 1),
    )


def encode_per_frame(autoencoder: AutoencoderKL, x: torch.Tensor) -> Posterior:
    """Encode every frame alone with a 2D :class:`AutoencoderKL`.

    Args:
        autoencoder: the 2D autoencoder.
        x: float (B, T, C, H, W) in [-1, 1].

    Returns:
        The posterior over raw latents (B, T, C_lat, h, w).
    """
    B = x.shape[0]
    moments = autoencoder.quant_conv(autoencoder.encoder(rearrange(x, "b t c h w -> (b t) c h w")))
    return Posterior.from_moments(rearrange(moments, "(b t) c h w -> b t c h w", b=B), dim=2)


def decode_per_frame(autoencoder: AutoencoderKL, z: torch.Tensor) -> torch.Tensor:
    """Decode every latent frame alone: raw z (B, T, C_lat, h, w) -> float (B, T, C, H, W), unclamped."""
    B = z.shape[0]
    z = autoencoder.post_quant_conv(rearrange(z, "b t c h w -> (b t) c h w"))
    return rearrange(autoencoder.decoder(z), "(b t) c h w -> b t c h w", b=B)


def _feature_cache(module: nn.Module) -> list:
    """An empty Wan feature cache: one slot per causal convolution of ``module``."""
    return [None] * sum(isinstance(m, WanCausalConv3d) for m in module.modules())


def encode_causal(autoencoder: AutoencoderKLWan, x: torch.Tensor) -> Posterior:
    """Encode a clip causally with Wan's 3D encoder: frame 0 alone, then the rest with the cache.

    Args:
        autoencoder: the causal 3D autoencoder.
        x: float (B, T, C, H, W) in [-1, 1], ``T = 1 + k·tf``.

    Returns:
        The posterior over raw latents (B, 1 + k, C_lat, h, w).
    """
    x = rearrange(x, "b t c h w -> b c t h w")
    cache = _feature_cache(autoencoder.encoder)
    chunks = [autoencoder.encoder(x[:, :, :1], feat_cache=cache, feat_idx=[0])]  # (B, 2C, 1, h, w)
    if x.shape[2] > 1:
        chunks.append(autoencoder.encoder(x[:, :, 1:], feat_cache=cache, feat_idx=[0]))  # (B, 2C, k, h, w)
    moments = autoencoder.quant_conv(torch.cat(chunks, dim=2))
    return Posterior.from_moments(rearrange(moments, "b c t h w -> b t c h w"), dim=2)


def decode_causal(autoencoder: AutoencoderKLWan, z: torch.Tensor) -> torch.Tensor:
    """Decode causally with Wan's 3D decoder: raw z (B, 1 + k, C_lat, h, w) -> float (B, 1 + k·tf, C, H, W).

    Latent 0 decodes to one frame, every later latent to ``tf`` frames. Unclamped.
    """
    z = autoencoder.post_quant_conv(rearrange(z, "b t c h w -> b c t h w"))
    cache = _feature_cache(autoencoder.decoder)
    chunks = [autoencoder.decoder(z[:, :, :1], feat_cache=cache, feat_idx=[0], first_chunk=True)]
    if z.shape[2] > 1:
        chunks.append(autoencoder.decoder(z[:, :, 1:], feat_cache=cache, feat_idx=[0]))
    return rearrange(torch.cat(chunks, dim=2), "b c t h w -> b t c h w")


def frames_to_float(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (B, T, H, W, C) in [0, 255] -> float (B, T, C, H, W) in [-1, 1]."""
    return rearrange(frames, "b t h w c -> b t c h w").to(dtype) / 127.5 - 1.0


def float_to_frames(x: torch.Tensor) -> torch.Tensor:
    """float (B, T, C, H, W) in [-1, 1] (clamped) -> uint8 (B, T, H, W, C), rounded to nearest."""
    x = ((x.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return rearrange(x, "b t c h w -> b t h w c")
