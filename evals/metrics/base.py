"""What every metric result carries: its label, and the way a metric says it cannot be computed.

- :class:`MetricLabel`: metric name, protocol, network, weights hash, number of clips, clip length,
  resolution — everything needed to tell whether two numbers are comparable.
- :class:`MetricResult`: a value with its label, or an "unavailable" entry with the reason.
- :class:`MetricUnavailable`: raised by a metric's constructor when what it needs (pretrained
  weights) is missing; reports catch it and print :meth:`MetricUnavailable.as_result` instead of a
  number — never a number from another network under the metric's name.
- :class:`LabelledMetric`: the ``label()`` / ``result()`` contract shared by the metrics here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torchmetrics import Metric


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed here; says why and how to fix it.

    Attributes:
        metric: Short name, e.g. ``"FVD"``.
        reason: One line, e.g. ``"FVD unavailable: I3D weights not found"``.
        fix: What the user can do about it.
        searched: Paths that were tried, if any.
    """

    def __init__(
        self,
        metric: str,
        reason: str,
        fix: str,
        searched: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.metric, self.reason, self.fix = metric, reason, fix
        self.searched = tuple(str(p) for p in searched)
        lines = [reason]
        if self.searched:
            lines.append("Searched:")
            lines += [f"  {p}" for p in self.searched]
        lines.append(f"Fix: {fix}")
        super().__init__("\n".join(lines))

    def as_result(self) -> MetricResult:
        """The entry a report prints in place of a value."""
        return MetricResult(label=None, value=None, metric=self.metric, unavailable=self.reason, fix=self.fix)


@dataclass(frozen=True)
class MetricLabel:
    """Everything needed to tell whether two metric values are comparable.

    Attributes:
        title: Short name, e.g. ``"LPIPS v0.1 alex"`` or ``"FVD fvd2048_16f (StyleGAN-V)"``.
        metric: Metric family: ``"PSNR"``, ``"SSIM"``, ``"LPIPS"``, ``"FVD"``.
        protocol: How it was computed (preset, version, data range, aggregation).
        network: Feature network, or ``None`` for pixel metrics.
        weights_sha256: sha256 of the weights file actually loaded (``None``: no file, e.g. pixel
            metrics or an injected network).
        weights_verified: Whether that hash matched a trusted digest (``None``: no digest is known).
        num_clips: Generated clips (videos) evaluated, summed over processes.
        num_real_clips: Real clips, where the metric compares two sets (FVD); else ``None``.
        clip_length: Frames per clip.
        resolution: ``(H, W)`` of the input frames (before any metric-internal resizing).
        per_frame: Whether the value is a curve over the time axis.
        notes: Caveats that travel with the number (e.g. random weights, fewer clips than the preset).
    """

    title: str
    metric: str
    protocol: str
    network: str | None = None
    weights_sha256: str | None = None
    weights_verified: bool | None = None
    num_clips: int | None = None
    num_real_clips: int | None = None
    clip_length: int | None = None
    resolution: tuple[int, int] | None = None
    per_frame: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        parts = [self.title]
        if self.network:
            parts.append(f"network {self.network}")
        if self.weights_sha256:
            parts.append(f"weights sha256 {self.weights_sha256[:12]}…")
        if self.num_clips is not None:
            images = self.clip_length == 1 and self.num_real_clips is None
            clips = f"{self.num_clips} {'images' if images else 'clips'}"
            if self.num_real_clips is not None:
                clips = f"{self.num_real_clips} real / {self.num_clips} generated clips"
            if self.clip_length is not None and not images:
                clips += f" × {self.clip_length} frames"
            if self.resolution is not None:
                clips += f" @ {self.resolution[0]}×{self.resolution[1]}"
            parts.append(clips)
        parts += list(self.notes)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["resolution"] = list(self.resolution) if self.resolution else None
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class MetricResult:
    """A metric value with its label, or the reason it is unavailable.

    Attributes:
        label: The label (``None`` when unavailable).
        value: A float, a per-frame curve (list of floats), or ``None`` when unavailable.
        metric: Metric family name.
        unavailable: Why there is no value, or ``None``.
        fix: How to make it available, or ``None``.
    """

    label: MetricLabel | None
    value: float | list[float] | None
    metric: str
    unavailable: str | None = None
    fix: str | None = None

    @property
    def available(self) -> bool:
        """Whether there is a value."""
        return self.unavailable is None

    def __str__(self) -> str:
        if not self.available:
            return f"{self.metric}: {self.unavailable} ({self.fix})"
        if isinstance(self.value, list):
            shown = ", ".join(f"{v:.4g}" for v in self.value[:8]) + (", …" if len(self.value) > 8 else "")
            return f"[{shown}] — {self.label}"
        return f"{self.value:.6g} — {self.label}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "metric": self.metric,
            "value": self.value,
            "label": self.label.to_dict() if self.label else None,
            "unavailable": self.unavailable,
            "fix": self.fix,
        }


class LabelledMetric(Metric):
    """A torchmetrics ``Metric`` that can say what it computed.

    Subclasses implement ``update``/``compute`` as usual and :meth:`label`. Counts in a label must
    be those of the synchronised state, so ``compute`` stores them with :meth:`_remember` (torchmetrics
    runs ``compute`` on the state gathered from all processes and restores the local state after).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._remembered: dict[str, Any] = {}

    def _remember(self, **counts: Any) -> None:
        self._remembered = dict(counts)

    def label(self) -> MetricLabel:
        """The label of the current value (counts as of the last ``compute``)."""
        raise NotImplementedError

    def result(self) -> MetricResult:
        """``compute()`` and ``label()`` together, as plain Python values."""
        value = self.compute()
        out: float | list[float] = value.tolist() if value.ndim else float(value)
        label = self.label()
        return MetricResult(label=label, value=out, metric=label.metric)

    def reset(self) -> None:
        """Reset the state and the remembered counts."""
        super().reset()
        self._remembered = {}


def pin_eval(module: torch.nn.Module) -> torch.nn.Module:
    """Freeze a feature network: eval mode, no gradients. Returns it."""
    module.eval()
    for parameter in module.parameters():  # (ScriptModules do not support requires_grad_)
        parameter.requires_grad = False
    return module
