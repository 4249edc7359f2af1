"""Video metrics for learned world simulators, each a torchmetrics ``Metric`` with a label.

All take the same input (see :mod:`evals.metrics.inputs`): uint8 (B, T, H, W, 3) frames or float
frames in [0, 1]. Paired metrics (PSNR, SSIM, LPIPS and their per-frame curves) take
``update(generated, real)``; FVD takes ``update(videos, real=...)``. Every metric has ``label()``
and ``result()``; metrics whose weights are missing raise :class:`MetricUnavailable`. See
``docs/metrics.md`` for the exact protocols.
"""

import simworld  # noqa: F401  (must precede torchvision/torchmetrics: the CPU torchvision fix)
from evals.metrics.base import LabelledMetric, MetricLabel, MetricResult, MetricUnavailable
from evals.metrics.frechet import frechet_distance
from evals.metrics.fvd import FVD, FVD_PROTOCOLS
from evals.metrics.lpips import LPIPS, PerFrameLPIPS
from evals.metrics.psnr import PSNR, PerFramePSNR
from evals.metrics.ssim import SSIM, PerFrameSSIM

__all__ = [
    "FVD",
    "FVD_PROTOCOLS",
    "LPIPS",
    "PSNR",
    "SSIM",
    "LabelledMetric",
    "MetricLabel",
    "MetricResult",
    "MetricUnavailable",
    "PerFrameLPIPS",
    "PerFramePSNR",
    "PerFrameSSIM",
    "frechet_distance",
]
