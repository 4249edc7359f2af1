"""PSNR and SSIM: against torchmetrics and hand computation; per-video and per-frame aggregation."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from evals.metrics import PSNR, SSIM, PerFramePSNR, PerFrameSSIM


def _clips(seed: int, shape: tuple[int, ...] = (3, 5, 24, 24, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(shape, generator=g)
    generated = (real + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)
    return generated, real


def test_psnr_matches_hand_computation() -> None:
    generated, real = _clips(0)
    mse = ((generated.double() - real.double()) ** 2).mean(dim=(2, 3, 4))  # (B, T)
    frame_psnr = 10 * torch.log10(1.0 / mse)
    metric = PSNR()
    metric.update(generated, real)
    # torchmetrics multiplies by 10 / log(10) computed in float32: agreement to ~1e-7 relative.
    assert float(metric.compute()) == pytest.approx(float(frame_psnr.mean()), rel=1e-7)
    curve = PerFramePSNR(5)
    curve.update(generated, real)
    torch.testing.assert_close(curve.compute(), frame_psnr.mean(dim=0), atol=0, rtol=1e-7)


def test_psnr_uint8_equals_data_range_255() -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.randint(0, 256, (2, 3, 16, 16, 3), generator=g, dtype=torch.uint8)
    generated = torch.randint(0, 256, (2, 3, 16, 16, 3), generator=g, dtype=torch.uint8)
    reference = PeakSignalNoiseRatio(data_range=255.0, reduction="none", dim=(1, 2, 3))
    frames = lambda x: x.flatten(0, 1).permute(0, 3, 1, 2).double()  # noqa: E731
    expected = reference(frames(generated), frames(real)).mean()
    metric = PSNR()
    metric.update(generated, real)
    assert float(metric.compute()) == pytest.approx(float(expected), rel=1e-7)


def test_ssim_matches_torchmetrics_per_frame() -> None:
    generated, real = _clips(2)
    reference = StructuralSimilarityIndexMeasure(data_range=1.0, reduction="none")
    per_frame = reference(generated.flatten(0, 1).permute(0, 3, 1, 2), real.flatten(0, 1).permute(0, 3, 1, 2))
    per_frame = per_frame.double().reshape(3, 5)
    metric = SSIM()
    metric.update(generated, real)
    assert float(metric.compute()) == pytest.approx(float(per_frame.mean()), abs=1e-6)
    curve = PerFrameSSIM(5)
    curve.update(generated, real)
    assert curve.compute().shape == (5,)
    torch.testing.assert_close(curve.compute(), per_frame.mean(dim=0), atol=1e-6, rtol=0)


def test_ssim_identical_is_one_and_small_frames_rejected() -> None:
    _, real = _clips(3)
    metric = SSIM()
    metric.update(real, real)
    assert float(metric.compute()) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 11"):
        SSIM().update(torch.zeros(1, 2, 8, 8, 3), torch.zeros(1, 2, 8, 8, 3))


def test_per_frame_curve_follows_the_time_axis() -> None:
    """Noise growing with t gives a PSNR curve that falls with t, exactly as computed by hand."""
    g = torch.Generator().manual_seed(4)
    real = torch.full((4, 6, 16, 16, 3), 0.5)
    sigma = torch.linspace(0.01, 0.2, 6).view(1, 6, 1, 1, 1)
    generated = (real + sigma * torch.randn(real.shape, generator=g)).clamp(0, 1)
    curve = PerFramePSNR(6)
    curve.update(generated[:2], real[:2])
    curve.update(generated[2:], real[2:])
    values = curve.compute()
    assert values.shape == (6,) and values.dtype == torch.float64
    assert torch.all(values[1:] < values[:-1])
    mse = ((generated.double() - real.double()) ** 2).mean(dim=(2, 3, 4))
    torch.testing.assert_close(values, (10 * torch.log10(1 / mse)).mean(dim=0), atol=0, rtol=1e-7)
    video = PSNR()
    video.update(generated, real)
    assert float(video.compute()) == pytest.approx(float(values.mean()), abs=1e-9)


def test_images_batches_and_labels() -> None:
    generated, real = _clips(5, (4, 2, 16, 16, 3))
    one = PSNR()
    one.update(generated, real)
    split = PSNR()
    split.update(generated[:1], real[:1])
    split.update(generated[1:], real[1:])
    assert float(one.compute()) == pytest.approx(float(split.compute()), abs=1e-12)
    images = SSIM()
    images.update(generated[:, 0], real[:, 0])
    label = images.label()
    assert label.clip_length == 1 and label.resolution == (16, 16) and label.num_clips == 4
    result = split.result()
    assert result.label.metric == "PSNR" and result.label.num_clips == 4
    assert "data_range=1.0" in result.label.protocol and str(result).startswith(f"{result.value:.6g}")
    identical = PSNR()
    identical.update(real, real)
    assert math.isinf(float(identical.compute()))


@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_compute_before_update_is_an_error() -> None:
    with pytest.raises(ValueError, match="no videos were added"):
        PSNR().compute()
