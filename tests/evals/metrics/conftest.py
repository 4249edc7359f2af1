"""Shared fixtures for the metric tests: the shared test data, isolated weight lookups, small nets.

Helpers are handed out as fixtures (pytest runs with ``--import-mode=importlib``, so test modules
cannot import this file); ``ddp_worker.py``, run as a script, imports it directly.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import evals.metrics  # noqa: F401  (imports simworld first: the CPU torchvision fix)
from simworld import weights

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
LPIPS_TESTDATA = SHARED / "testdata" / "lpips"
SHARED_WEIGHTS = SHARED / "weights"
ALEXNET_TRUNK = SHARED_WEIGHTS / "alexnet_imagenet_features.safetensors"


@pytest.fixture
def shared_lpips() -> Path:
    """``../shared`` beside the repository root with the LPIPS test images and AlexNet trunk."""
    if not (LPIPS_TESTDATA / "ex_ref.png").is_file() or not ALEXNET_TRUNK.is_file():
        pytest.skip(f"../shared test data absent (looked for {LPIPS_TESTDATA} and {ALEXNET_TRUNK})")
    return SHARED


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every weight search location empty: no $SIMWORLD_WEIGHTS_DIR, empty TORCH_HOME and shared dir."""
    monkeypatch.delenv("SIMWORLD_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(weights, "shared_weights_dir", lambda: tmp_path / "shared")
    return tmp_path


class TinyVideoNet(nn.Module):
    """A small, seeded stand-in for I3D: float (B, 3, T, 224, 224) → (B, 400), fast on a CPU.

    For tests of the FVD *bookkeeping* (accumulation, synchronisation, labels); the I3D
    architecture itself is tested with :func:`evals.metrics.i3d.init_random_i3d`.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 16, kernel_size=(3, 4, 4), stride=(1, 4, 4))
        self.conv2 = nn.Conv3d(16, 32, kernel_size=(3, 4, 4), stride=(2, 4, 4))
        self.pool = nn.AdaptiveAvgPool3d((1, 2, 2))
        self.head = nn.Linear(128, 400)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) / max(1, p[0].numel()) ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))  # (B, 16, T-2, 56, 56)
        x = torch.relu(self.conv2(x))  # (B, 32, ~T/2, 14, 14)
        return self.head(self.pool(x).flatten(1))  # (B, 400)


@pytest.fixture
def tiny_net() -> TinyVideoNet:
    """A seeded :class:`TinyVideoNet`."""
    return TinyVideoNet(0).eval()


def make_clips(n: int, seed: int, frames: int = 9, size: int = 32) -> torch.Tensor:
    """uint8 (n, frames, size, size, 3): smooth random textures panning over time, seeded."""
    generator = torch.Generator().manual_seed(seed)
    texture = torch.rand(n, 3, 12, 12, generator=generator)
    texture = torch.nn.functional.interpolate(
        texture, size=(2 * size, 2 * size), mode="bilinear", align_corners=False
    )
    clip = torch.stack([texture[:, :, 2 * t : 2 * t + size, t : t + size] for t in range(frames)], dim=1)
    return (clip.permute(0, 1, 3, 4, 2) * 255).round().to(torch.uint8)


def perturb(clips: torch.Tensor, noise: float = 0.0, blur: int = 1, seed: int = 1) -> torch.Tensor:
    """Add Gaussian noise (std ``noise`` on [0, 1]) and/or a ``blur``×``blur`` box blur to uint8 clips."""
    x = clips.float().permute(0, 1, 4, 2, 3).flatten(0, 1) / 255  # (B*T, 3, H, W)
    if blur > 1:
        x = torch.nn.functional.avg_pool2d(x, blur, stride=1, padding=blur // 2, count_include_pad=False)
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    x = x.clamp(0, 1).unflatten(0, clips.shape[:2]).permute(0, 1, 3, 4, 2)
    return (x * 255).round().to(torch.uint8)


def make_net(kind: str) -> nn.Module:
    """``"tiny"``: :class:`TinyVideoNet`; ``"i3d"``: a random-weight I3D of the published architecture."""
    from evals.metrics.i3d import init_random_i3d

    return TinyVideoNet(0).eval() if kind == "tiny" else init_random_i3d(0)


@pytest.fixture
def kit() -> SimpleNamespace:
    """The clip and network helpers of this file (test modules cannot import conftest)."""
    return SimpleNamespace(
        make_clips=make_clips, perturb=perturb, make_net=make_net, TinyVideoNet=TinyVideoNet
    )
