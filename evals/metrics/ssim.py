"""SSIM between generated and real frames, per video or as a curve over time.

Per frame: ``torchmetrics.functional.image.structural_similarity_index_measure`` on the RGB frame in
[0, 1] with ``data_range = 1.0`` stated explicitly, a Gaussian window of size 11 and σ = 1.5,
``k1 = 0.01``, ``k2 = 0.03`` (Wang et al. 2004): the SSIM map of each channel, borders of 5 pixels
cropped, averaged over the three channels and all pixels. Frames must be at least 11×11.

Aggregation: :class:`SSIM` averages frame values within each video and then over videos;
:class:`PerFrameSSIM` averages over videos at each time index.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torchmetrics.functional.image import structural_similarity_index_measure

from evals.metrics.framewise import FramewiseMetric

DATA_RANGE = 1.0
KERNEL_SIZE = 11
SIGMA = 1.5


class SSIM(FramewiseMetric):
    """Structural similarity, mean over frames then over videos (higher is better, 1 = identical).

    ``update(generated, real)`` takes uint8 (B, T, H, W, 3) or float (B, T, H, W, 3) in [0, 1], or
    (B, H, W, 3) images, with H, W ≥ 11; ``compute()`` returns a float64 scalar.

    Args:
        **kwargs: torchmetrics ``Metric`` options.
    """

    metric_name = "SSIM"
    higher_is_better = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(num_frames=None, **kwargs)

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """float32 (B, T, H, W, 3) in [0, 1] twice → float64 (B, T) SSIM."""
        B, _, H, W, _ = generated.shape
        if min(H, W) < KERNEL_SIZE:
            raise ValueError(f"SSIM needs frames of at least {KERNEL_SIZE}×{KERNEL_SIZE}, got {H}×{W}")
        ssim = structural_similarity_index_measure(
            rearrange(generated, "b t h w c -> (b t) c h w"),
            rearrange(real, "b t h w c -> (b t) c h w"),
            gaussian_kernel=True,
            sigma=SIGMA,
            kernel_size=KERNEL_SIZE,
            data_range=DATA_RANGE,
            reduction="none",
        )
        return rearrange(ssim.double(), "(b t) -> b t", b=B)

    def protocol(self) -> str:
        """Label protocol: window, data range and aggregation."""
        return (
            f"RGB in [0, 1], data_range={DATA_RANGE}, Gaussian window {KERNEL_SIZE} σ={SIGMA}, "
            f"mean over channels and pixels; {super().protocol()}"
        )


class PerFrameSSIM(SSIM):
    """SSIM at each time index, mean over videos: a curve of shape (num_frames,).

    ``update(generated, real)`` takes uint8 (B, num_frames, H, W, 3) or float in [0, 1];
    ``compute()`` returns float64 (num_frames,).

    Args:
        num_frames: Clip length T; every video must have exactly T frames.
        **kwargs: torchmetrics ``Metric`` options.
    """

    def __init__(self, num_frames: int, **kwargs: Any) -> None:
        FramewiseMetric.__init__(self, num_frames=num_frames, **kwargs)
