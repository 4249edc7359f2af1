"""PSNR between generated and real frames, per video or as a curve over time.

Per frame: ``PSNR = 10 log10(data_range² / MSE)`` over all pixels and the three RGB channels of the
frame, with frames scaled to [0, 1] and ``data_range = 1.0`` (uint8 input is divided by 255, which
gives the same value as data range 255 on the raw integers). Computed by
``torchmetrics.functional.image.peak_signal_noise_ratio`` in float64, one value per frame. Identical
frames have MSE 0 and PSNR ``+inf``; that is kept, not clipped, and makes the mean ``inf``.

Aggregation: :class:`PSNR` averages frame PSNRs within each video and then over videos (the mean of
per-frame PSNR, not the PSNR of the pooled MSE); :class:`PerFramePSNR` averages over videos at each
time index.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torchmetrics.functional.image import peak_signal_noise_ratio

from evals.metrics.framewise import FramewiseMetric

DATA_RANGE = 1.0


class PSNR(FramewiseMetric):
    """Peak signal-to-noise ratio in dB, mean over frames then over videos (higher is better).

    ``update(generated, real)`` takes uint8 (B, T, H, W, 3) or float (B, T, H, W, 3) in [0, 1], or
    (B, H, W, 3) images; ``compute()`` returns a float64 scalar.

    Args:
        **kwargs: torchmetrics ``Metric`` options.
    """

    metric_name = "PSNR"
    higher_is_better = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(num_frames=None, **kwargs)

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """float32 (B, T, H, W, 3) in [0, 1] twice → float64 (B, T) PSNR in dB."""
        B = generated.shape[0]
        psnr = peak_signal_noise_ratio(
            rearrange(generated, "b t h w c -> (b t) c h w").double(),
            rearrange(real, "b t h w c -> (b t) c h w").double(),
            data_range=DATA_RANGE,
            reduction="none",
            dim=(1, 2, 3),
        )
        return rearrange(psnr, "(b t) -> b t", b=B)

    def protocol(self) -> str:
        """Label protocol: data range and aggregation."""
        return f"RGB in [0, 1], data_range={DATA_RANGE}, per-frame PSNR; {super().protocol()}"


class PerFramePSNR(PSNR):
    """PSNR in dB at each time index, mean over videos: a curve of shape (num_frames,).

    ``update(generated, real)`` takes uint8 (B, num_frames, H, W, 3) or float in [0, 1];
    ``compute()`` returns float64 (num_frames,).

    Args:
        num_frames: Clip length T; every video must have exactly T frames.
        **kwargs: torchmetrics ``Metric`` options.
    """

    def __init__(self, num_frames: int, **kwargs: Any) -> None:
        FramewiseMetric.__init__(self, num_frames=num_frames, **kwargs)
