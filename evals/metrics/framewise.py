"""Shared machinery of the paired, frame-by-frame metrics (PSNR, SSIM, LPIPS).

Each such metric scores every generated frame against the real frame at the same time index, then
aggregates in one of two ways:

- per video (``PSNR``, ``SSIM``, ``LPIPS``): a video's score is the mean of its frame scores; the
  metric is the mean over videos. Returns a scalar.
- per frame (``PerFramePSNR``, ...): the mean over videos at each time index. Returns a curve of
  shape (T,), the "quality vs horizon" plot. Its mean equals the per-video value on the same data.

State is float64 sums and a video count (``dist_reduce_fx="sum"``), so accumulating over batches
and over processes gives the same value as one pass over all videos.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from evals.metrics.base import LabelledMetric, MetricLabel
from evals.metrics.inputs import as_frame_pair, to_float01


class FramewiseMetric(LabelledMetric):
    """Base class: score frames pairwise, aggregate per video or per time index.

    Subclasses set ``metric_name`` and ``higher_is_better``, implement :meth:`frame_scores`, and may
    override :meth:`protocol`/:meth:`network`/:meth:`title`.

    Args:
        num_frames: ``None`` for the per-video scalar; the clip length T for a per-frame curve
            (every video must then have exactly T frames).
        **kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ``process_group``, ...).
    """

    metric_name: ClassVar[str] = ""
    is_differentiable = False
    full_state_update = False

    def __init__(self, num_frames: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_frames is not None and (not isinstance(num_frames, int) or num_frames < 1):
            raise ValueError(f"num_frames must be a positive int (the clip length), got {num_frames!r}")
        self.num_frames = num_frames
        self._clip_shape: tuple[int, int, int] | None = None
        if num_frames is None:
            self.add_state("score_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        else:
            self.add_state(
                "frame_score_sum", torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum"
            )
        self.add_state("num_videos", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @property
    def per_frame(self) -> bool:
        """Whether :meth:`compute` returns a curve over time."""
        return self.num_frames is not None

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Score each frame: float32 (B, T, H, W, 3) in [0, 1] twice → float64 (B, T)."""
        raise NotImplementedError

    def update(self, generated: Any, real: Any) -> None:
        """Add a batch of generated videos and their real counterparts.

        Args:
            generated: uint8 (B, T, H, W, 3) or float in [0, 1]; per-video variants also take
                (B, H, W, 3) images.
            real: Same shape and convention.

        Raises:
            TypeError, ValueError: Input outside the convention (see :mod:`evals.metrics.inputs`),
                shapes that differ between generated and real, a clip shape that differs from
                earlier updates, or (per-frame) a clip length other than ``num_frames``.
        """
        generated, real = as_frame_pair(generated, real, allow_images=not self.per_frame)
        B, T, H, W, _ = generated.shape
        if self.per_frame and T != self.num_frames:
            raise ValueError(
                f"{type(self).__name__}(num_frames={self.num_frames}) got clips of {T} frames; "
                "every video of a per-frame curve must have num_frames frames"
            )
        if self._clip_shape is not None and self._clip_shape != (T, H, W):
            raise ValueError(
                f"clips of shape (T, H, W) = {(T, H, W)} after earlier clips of {self._clip_shape}; "
                "one metric instance accumulates one protocol: use another instance (or reset()) "
                "for another clip length or resolution"
            )
        self._clip_shape = (T, H, W)
        device = self.num_videos.device
        scores = self.frame_scores(to_float01(generated.to(device)), to_float01(real.to(device)))
        if self.per_frame:
            self.frame_score_sum += scores.sum(dim=0)
        else:
            self.score_sum += scores.mean(dim=1).sum()
        self.num_videos += B

    def compute(self) -> torch.Tensor:
        """float64 scalar (per video) or float64 (num_frames,) curve (per frame).

        Raises:
            ValueError: No video was added.
        """
        n = int(self.num_videos)
        if n == 0:
            raise ValueError(f"{type(self).__name__}: no videos were added; call update() first")
        self._remember(num_clips=n)
        if self.per_frame:
            return self.frame_score_sum / n
        return self.score_sum / n

    def protocol(self) -> str:
        """How the value is computed, for the label."""
        aggregation = (
            "mean over videos per frame index" if self.per_frame else "mean over frames, then videos"
        )
        return aggregation

    def network(self) -> str | None:
        """Feature network for the label (``None`` for pixel metrics)."""
        return None

    def title(self) -> str:
        """Short name for the label."""
        return ("per-frame " if self.per_frame else "") + self.metric_name

    def weights(self) -> tuple[str | None, bool | None]:
        """``(sha256, verified)`` of the weights loaded, for the label."""
        return None, None

    def label(self) -> MetricLabel:
        """The label of the value (clip count as of the last ``compute``, summed over processes)."""
        num_clips = self._remembered.get("num_clips", int(self.num_videos))
        T, H, W = self._clip_shape if self._clip_shape is not None else (None, None, None)
        sha, verified = self.weights()
        return MetricLabel(
            title=self.title(),
            metric=self.metric_name,
            protocol=self.protocol(),
            network=self.network(),
            weights_sha256=sha,
            weights_verified=verified,
            num_clips=num_clips,
            clip_length=T,
            resolution=(H, W) if H is not None else None,
            per_frame=self.per_frame,
        )

    def reset(self) -> None:
        """Reset the sums, the count and the recorded clip shape."""
        super().reset()
        self._clip_shape = None
