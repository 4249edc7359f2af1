"""Inception-v1 I3D (Kinetics-400), the feature network of FVD's VideoGPT protocol.

Architecture of Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics
Dataset" (CVPR 2017), as the PyTorch port that VideoGPT uses for FVD
(wilson1yan/VideoGPT ``videogpt/fvd/pytorch_i3d.py``, itself from piergiaj/pytorch-i3d) lays it out.
Written here from that description, with the same module names, so that VideoGPT's
``i3d_pretrained_400.pt`` state dict loads by key name (``Conv3d_1a_7x7.conv3d.weight``,
``Mixed_4b.b1b.bn.running_mean``, ``logits.conv3d.bias``, ...). What the port does, and so what this
module does:

- every convolution and max-pool pads "SAME" the TensorFlow way, computed from the input size at
  run time (total padding ``max(k - s, 0)`` if ``size % s == 0`` else ``max(k - size % s, 0)``,
  the smaller half in front); max-pools pad with zeros, which equals TF's ``-inf`` padding here
  because every pooled tensor follows a ReLU;
- batch norm with ``eps=1e-5`` after each convolution but the last;
- head: average pool over (2, 7, 7) with stride 1, dropout, a 1×1×1 convolution with bias to 400
  logits, the spatial axes squeezed and the logits averaged over the remaining time axis.

The FVD feature is that 400-d logit vector (what ``InceptionI3d.forward`` returns in VideoGPT and
what ``get_fvd_logits`` collects). With 224×224 frames the time axis after the last pool has
``ceil(T / 8)`` steps and the (2, 7, 7) average pool needs two of them: clips need at least
:data:`MIN_FRAMES` = 9 frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 400
INPUT_SIZE = 224
MIN_FRAMES = 9  # ceil(T / 8) >= 2 time steps must reach the (2, 7, 7) average pool

# (name, input channels, [b0, b1a, b1b, b2a, b2b, b3b] output channels), in network order; the
# values are those of Inception-v1 (Szegedy et al. 2015, Table 1) inflated to 3-D.
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


# The end points in network order (VideoGPT's InceptionI3d.VALID_ENDPOINTS up to Mixed_5c).
_STAGES = (
    "Conv3d_1a_7x7",
    "MaxPool3d_2a_3x3",
    "Conv3d_2b_1x1",
    "Conv3d_2c_3x3",
    "MaxPool3d_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)


def same_padding(sizes: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TensorFlow "SAME" padding for ``F.pad`` (last axis first), front gets the smaller half.

    Args:
        sizes: Input sizes of the padded axes, e.g. ``(T, H, W)``.
        kernel: Kernel size per axis.
        stride: Stride per axis.

    Returns:
        ``[w_front, w_back, h_front, h_back, t_front, t_back]`` for three axes.
    """
    pads: list[int] = []
    for size, k, s in zip(reversed(sizes), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d (SAME padding) → optional BatchNorm3d → optional ReLU.

    Attributes:
        conv3d: The convolution (bias only where there is no batch norm).
        bn: The batch norm, if any (``eps=1e-5`` as in VideoGPT's port).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        batch_norm: bool = True,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-5, momentum=0.001) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (B, C, T, H, W) → float (B, C', ceil(T/s), ceil(H/s), ceil(W/s))."""
        x = F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    """3-D max pool with TensorFlow "SAME" padding (zeros; inputs here are post-ReLU, so ≥ 0)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (B, C, T, H, W) → float (B, C, ceil(T/s), ceil(H/s), ceil(W/s))."""
        x = F.pad(x, same_padding(tuple(x.shape[2:]), self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated on channels: 1×1; 1×1→3×3; 1×1→3×3; pool→1×1."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = widths
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, kernel=(3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, kernel=(3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (B, C, T, H, W) → float (B, sum of branch widths, T, H, W)."""
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1
        )


class InceptionI3d(nn.Module):
    """I3D (Inception-v1 inflated), Kinetics-400 head; module names as in VideoGPT's port.

    Input: float (B, 3, T, 224, 224) in [-1, 1], T ≥ :data:`MIN_FRAMES`. Output: float (B, 400),
    the Kinetics-400 logits averaged over time (no softmax) — the FVD feature.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, in_channels: int = 3) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, kernel=(7, 7, 7), stride=(2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel=(3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionBlock(*_MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionBlock(*_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionBlock(*_MIXED["Mixed_4b"])
        self.Mixed_4c = InceptionBlock(*_MIXED["Mixed_4c"])
        self.Mixed_4d = InceptionBlock(*_MIXED["Mixed_4d"])
        self.Mixed_4e = InceptionBlock(*_MIXED["Mixed_4e"])
        self.Mixed_4f = InceptionBlock(*_MIXED["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionBlock(*_MIXED["Mixed_5b"])
        self.Mixed_5c = InceptionBlock(*_MIXED["Mixed_5c"])
        self.avg_pool = nn.AvgPool3d(kernel_size=(2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(0.5)
        self.logits = Unit3D(1024, num_classes, batch_norm=False, relu=False)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (B, 3, T, 224, 224) in [-1, 1] → float (B, num_classes) logits averaged over time."""
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(f"I3D needs clips of at least {MIN_FRAMES} frames, got {x.shape[2]}")
        for name in _STAGES:
            x = getattr(self, name)(x)  # ... → (B, 1024, ceil(T/8), 7, 7)
        x = self.logits(self.dropout(self.avg_pool(x)))  # (B, 400, ceil(T/8) - 1, 1, 1)
        return x.flatten(2).mean(dim=2)  # (B, 400): squeeze space, mean over time


def load_i3d_state_dict(model: InceptionI3d, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a VideoGPT-layout I3D state dict strictly, naming missing and unexpected keys.

    ``*.bn.num_batches_tracked`` may be absent (files saved by old PyTorch lack it); it is unused
    in eval mode. Everything else must match key for key and shape for shape.

    Args:
        model: The network to fill.
        state_dict: Tensors by key, e.g. ``torch.load("i3d_pretrained_400.pt")``.

    Raises:
        ValueError: Keys are missing or unexpected, or a shape differs.
    """
    expected = model.state_dict()
    given = dict(state_dict)
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    wrong_shape = [
        f"{k}: expected {tuple(expected[k].shape)}, got {tuple(given[k].shape)}"
        for k in expected
        if k in given and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        lines = ["the state dict does not fit InceptionI3d (VideoGPT's key layout):"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                lines.append(
                    f"  {label} ({len(keys)}): " + ", ".join(keys[:12]) + (" ..." if len(keys) > 12 else "")
                )
        raise ValueError("\n".join(lines))
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in given:
            given[key] = value
    model.load_state_dict(given, strict=True)


def init_random_i3d(seed: int = 0, num_classes: int = NUM_CLASSES) -> InceptionI3d:
    """A randomly initialised I3D of the published architecture, for testing and timing the code path.

    PyTorch's default initialisation shrinks activations through the ~60 layers (and eval-mode batch
    norm with running statistics (0, 1) does not renormalise them), so convolutions get He-normal
    weights (fan-in, ReLU gain) and the logit layer a variance-preserving scale: features then stay
    O(1) and Fréchet distances are well conditioned. **Not** a pretrained network: numbers from it
    are not FVD.

    Args:
        seed: Seed of the weights (a private generator; global RNG untouched).
        num_classes: Logit count.

    Returns:
        The network in eval mode.
    """
    model = InceptionI3d(num_classes)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv3d):
                fan_in = module.in_channels * math.prod(module.kernel_size)
                std = math.sqrt((2.0 if module.bias is None else 1.0) / fan_in)
                module.weight.normal_(0.0, std, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
    return model.eval()


class StyleGANVDetectorStandIn(nn.Module):
    """Called like StyleGAN-V's TorchScript I3D detector, computed by any (B, 3, T, 224, 224) network.

    For tests and timing of the ``stylegan_v`` FVD code path where ``i3d_torchscript.pt`` is not
    available. The call convention is the one StyleGAN-V's ``metric_utils`` uses; what the flags do
    follows its author's description (``rescale``: ``x / 255 * 2 - 1``; ``resize``: frames to
    224×224 — done here with trilinear interpolation over (T, 224, 224), an assumption: the real
    file's resize is not inspectable here). Scriptable with ``torch.jit.script`` when ``network`` is.

    Args:
        network: Maps float (B, 3, T, 224, 224) in [-1, 1] to (B, 400) logits.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.input_size = INPUT_SIZE

    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False
    ) -> torch.Tensor:
        """x: uint8 or float (B, 3, T, H, W) in {0..255} → (B, 400) logits or softmax probabilities."""
        x = x.to(torch.float32)
        if rescale:
            x = x / 255.0 * 2.0 - 1.0
        if resize:
            x = F.interpolate(
                x, size=[x.shape[2], self.input_size, self.input_size], mode="trilinear", align_corners=False
            )
        logits = self.network(x)
        return logits if return_features else logits.softmax(dim=-1)
