"""LPIPS v0.1: the upstream reference distances, trunk loading, per-frame curves, missing weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from evals.metrics import LPIPS, MetricUnavailable, PerFrameLPIPS

# richzhang/PerceptualSimilarity README: d(ex_ref, ex_p0) = 0.722, d(ex_ref, ex_p1) = 0.138 with
# LPIPS v0.1 alex; five digits as ../shared/weights/README.md records them.
REFERENCE = {"ex_p0": 0.72188, "ex_p1": 0.13757}
TRUNK_SHA256 = "9f97fd313f4da83dbe6bbfbe6effca1241de9edfcd7c53386261ed9697286dd9"


def _image(shared: Path, name: str) -> torch.Tensor:
    """uint8 (H, W, 3)."""
    return torch.from_numpy(np.array(Image.open(shared / "testdata/lpips" / f"{name}.png").convert("RGB")))


_SHARED = Path(__file__).resolve().parents[3].parent / "shared"


@pytest.fixture(scope="module")
def _lpips_alex_built() -> LPIPS:
    """Built once per module (lpips initialises a full AlexNet before our trunk replaces it)."""
    if not (_SHARED / "weights/alexnet_imagenet_features.safetensors").is_file():
        pytest.skip(f"../shared weights absent (looked in {_SHARED / 'weights'})")
    return LPIPS("alex", weights_dir=_SHARED / "weights")


@pytest.fixture
def lpips_alex(shared_lpips: Path, _lpips_alex_built: LPIPS) -> LPIPS:
    """A fresh (cloned) LPIPS v0.1 alex metric with the shared trunk."""
    return _lpips_alex_built.clone()


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reproduces_reference_distances(shared_lpips: Path, lpips_alex: LPIPS, name: str) -> None:
    ref, other = _image(shared_lpips, "ex_ref"), _image(shared_lpips, name)
    lpips_alex.update(other[None], ref[None])  # (1, H, W, 3) images
    assert float(lpips_alex.compute()) == pytest.approx(REFERENCE[name], abs=1e-4)
    label = lpips_alex.label()
    assert label.title == "LPIPS v0.1 alex"
    assert label.weights_sha256 == TRUNK_SHA256 and label.weights_verified is True
    assert label.resolution == (64, 64) and label.num_clips == 1


def test_per_frame_curve_and_float_input(shared_lpips: Path, lpips_alex: LPIPS) -> None:
    ref, p0, p1 = (_image(shared_lpips, n) for n in ("ex_ref", "ex_p0", "ex_p1"))
    generated = torch.stack([torch.stack([p0, p1, ref]), torch.stack([p1, p1, ref])])  # (2, 3, H, W, 3)
    real = torch.stack([ref, ref, ref])[None].expand(2, -1, -1, -1, -1)
    curve = PerFrameLPIPS(3, weights_dir=shared_lpips / "weights")
    curve.update(generated.float() / 255, real.float() / 255)  # float [0, 1] gives the same numbers
    expected = [(REFERENCE["ex_p0"] + REFERENCE["ex_p1"]) / 2, REFERENCE["ex_p1"], 0.0]
    np.testing.assert_allclose(curve.compute().numpy(), expected, atol=1e-4)
    assert curve.label().title == "per-frame LPIPS v0.1 alex" and curve.label().per_frame
    lpips_alex.update(generated, real)
    assert float(lpips_alex.compute()) == pytest.approx(float(curve.compute().mean()), abs=1e-6)


def test_torchvision_checkpoint_layout(shared_lpips: Path, tmp_path: Path) -> None:
    """A torchvision-style .pth (features.* plus classifier.*) loads into the same network."""
    state = load_file(str(shared_lpips / "weights/alexnet_imagenet_features.safetensors"))
    state["classifier.1.weight"] = torch.zeros(4, 4)  # ignored, as torchvision's classifier is
    path = tmp_path / "my_alexnet.pth"
    torch.save(state, path)
    with pytest.warns(UserWarning, match="matches no registered digest"):
        metric = LPIPS(weights_path=path)
    ref, p1 = _image(shared_lpips, "ex_ref"), _image(shared_lpips, "ex_p1")
    metric.update(p1[None], ref[None])
    assert float(metric.compute()) == pytest.approx(REFERENCE["ex_p1"], abs=1e-4)
    assert metric.label().weights_verified is False


def test_wrong_digest_under_a_registered_name_is_an_error(no_weights: Path) -> None:
    directory = no_weights / "weights"
    directory.mkdir()
    torch.save({"features.0.weight": torch.zeros(1)}, directory / "alexnet-owt-7be5be79.pth")
    with pytest.raises(ValueError, match="registered digest is 7be5be79"):
        LPIPS(weights_dir=directory)


def test_missing_trunk_is_unavailable(no_weights: Path) -> None:
    with pytest.raises(MetricUnavailable, match="LPIPS unavailable: AlexNet trunk weights not found") as info:
        LPIPS()
    assert any("alexnet_imagenet_features.safetensors" in p for p in info.value.searched)
    result = info.value.as_result()
    assert not result.available and result.value is None and "SIMWORLD_WEIGHTS_DIR" in result.fix
    with pytest.raises(MetricUnavailable, match="VGG16 trunk weights not found"):
        LPIPS("vgg")


def test_unknown_net_lists_options() -> None:
    with pytest.raises(ValueError, match="valid options: alex, vgg"):
        LPIPS("squeeze")


def test_network_stays_in_eval_mode(lpips_alex: LPIPS) -> None:
    lpips_alex.train()
    assert not lpips_alex.net.training
    assert not any(p.requires_grad for p in lpips_alex.net.parameters())
