"""LPIPS v0.1 (Zhang et al., CVPR 2018) through the ``lpips`` reference package.

The network is ``lpips.LPIPS(net=..., version="0.1", pretrained=True, pnet_rand=True)``: the linear
heads of v0.1 come from the ``lpips`` wheel (``lpips/weights/v0.1/<net>.pth``), and the ImageNet
trunk — which ``lpips`` would otherwise download from pytorch.org — is loaded here, by key name,
into the package's ``net.slice1..5`` modules:

- ``alex`` (the metric): weights ``lpips_alexnet_trunk`` from :func:`simworld.weights.find_weight`,
  either torchvision's ``alexnet-owt-7be5be79.pth`` (its ``classifier.*`` keys are not used) or
  ``alexnet_imagenet_features.safetensors``; keys ``features.{0,3,6,8,10}.{weight,bias}``.
- ``vgg`` (for losses, available for comparison): weights ``lpips_vgg16_trunk``, torchvision's
  ``vgg16-397923af.pth``.

Inputs: frames in [0, 1] (uint8 / 255) are mapped to [-1, 1] (``2x - 1``, which equals
``lpips.im2tensor``'s ``x / 127.5 - 1`` on uint8) and passed as NCHW RGB; the distance of a frame
pair is the package's spatially averaged output. Aggregation as in :mod:`evals.metrics.framewise`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lpips as lpips_package
import torch
from einops import rearrange

from evals.metrics.base import pin_eval
from evals.metrics.framewise import FramewiseMetric
from evals.metrics.weight_files import WeightsFile, file_sha256, resolve_weights
from simworld.lpips_net import MIN_SIDE, NETS, TRUNK_WEIGHTS, VERSION, build_lpips


def build_lpips_network(
    net: str = "alex",
    *,
    weights_path: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
) -> tuple[lpips_package.LPIPS, WeightsFile]:
    """The LPIPS v0.1 network with its ImageNet trunk loaded, in eval mode, on the CPU.

    Args:
        net: ``"alex"`` or ``"vgg"``.
        weights_path: An explicit trunk file.
        weights_dir: A directory searched first.

    Returns:
        ``(network, trunk weights file)``.

    Raises:
        ValueError: Unknown ``net``, or a trunk file that does not fit / does not match its digest.
        MetricUnavailable: No trunk weights found.
    """
    if net not in NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; valid options: {', '.join(NETS)}")
    trunk = resolve_weights(
        TRUNK_WEIGHTS[net],
        metric="LPIPS",
        reason=f"LPIPS unavailable: {'AlexNet' if net == 'alex' else 'VGG16'} trunk weights not found",
        weights_path=weights_path,
        weights_dir=weights_dir,
    )
    model = build_lpips(net, trunk.path, trunk.format)
    return pin_eval(model), trunk


class LPIPS(FramewiseMetric):
    """LPIPS v0.1 distance, mean over frames then over videos (lower is better).

    ``update(generated, real)`` takes uint8 (B, T, H, W, 3) or float (B, T, H, W, 3) in [0, 1], or
    (B, H, W, 3) images, H, W ≥ 31 (alex) or 16 (vgg); ``compute()`` returns a float64 scalar.

    Args:
        net: ``"alex"`` (the metric) or ``"vgg"``.
        weights_path: Explicit trunk weights file.
        weights_dir: Directory searched first for the trunk weights.
        batch_size: Frames per forward pass.
        num_frames: Set by :class:`PerFrameLPIPS`; leave ``None``.
        **kwargs: torchmetrics ``Metric`` options.

    Raises:
        ValueError: Unknown ``net`` (lists the valid ones) or a bad weights file.
        MetricUnavailable: Trunk weights not found (the message lists where it looked).
    """

    metric_name = "LPIPS"
    higher_is_better = False

    def __init__(
        self,
        net: str = "alex",
        *,
        weights_path: str | os.PathLike[str] | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        num_frames: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_frames=num_frames, **kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.net_name, self.batch_size = net, batch_size
        self.net, self.trunk = build_lpips_network(net, weights_path=weights_path, weights_dir=weights_dir)
        heads = Path(lpips_package.__file__).parent / f"weights/v{VERSION}/{net}.pth"
        self.heads_sha256 = file_sha256(heads)

    def train(self, mode: bool = True) -> LPIPS:
        """Keep the network in eval mode whatever the metric's mode."""
        super().train(mode)
        self.net.eval()
        return self

    def frame_scores(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """float32 (B, T, H, W, 3) in [0, 1] twice → float64 (B, T) LPIPS distances."""
        B, _, H, W, _ = generated.shape
        side = MIN_SIDE[self.net_name]
        if min(H, W) < side:
            raise ValueError(f"LPIPS ({self.net_name}) needs frames of at least {side}×{side}, got {H}×{W}")
        gen = rearrange(generated, "b t h w c -> (b t) c h w") * 2 - 1  # [-1, 1], as lpips expects
        ref = rearrange(real, "b t h w c -> (b t) c h w") * 2 - 1
        out = []
        with torch.no_grad():
            for i in range(0, gen.shape[0], self.batch_size):
                d = self.net(gen[i : i + self.batch_size], ref[i : i + self.batch_size])  # (n, 1, 1, 1)
                out.append(d.flatten().double())
        return rearrange(torch.cat(out), "(b t) -> b t", b=B)

    def title(self) -> str:
        """E.g. ``"LPIPS v0.1 alex"``."""
        return ("per-frame " if self.per_frame else "") + f"LPIPS v{VERSION} {self.net_name}"

    def protocol(self) -> str:
        """Label protocol: version, input scaling and aggregation."""
        return f"v{VERSION}, lpips package heads, RGB scaled to [-1, 1]; {super().protocol()}"

    def network(self) -> str:
        """Trunk and heads."""
        return (
            f"{self.net_name} (ImageNet trunk {self.trunk.path.name}; lpips v{VERSION} heads, "
            f"sha256 {self.heads_sha256[:12]}…)"
        )

    def weights(self) -> tuple[str | None, bool | None]:
        """sha256 of the trunk file loaded and whether it matched the registered digest."""
        return self.trunk.sha256, self.trunk.verified


class PerFrameLPIPS(LPIPS):
    """LPIPS v0.1 at each time index, mean over videos: a curve of shape (num_frames,).

    ``update(generated, real)`` takes uint8 (B, num_frames, H, W, 3) or float in [0, 1];
    ``compute()`` returns float64 (num_frames,). Other arguments as :class:`LPIPS`.
    """

    def __init__(self, num_frames: int, net: str = "alex", **kwargs: Any) -> None:
        super().__init__(net, num_frames=num_frames, **kwargs)
