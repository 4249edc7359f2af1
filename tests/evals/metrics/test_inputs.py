"""The shared input convention: accepted forms, and clear errors for everything else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evals.metrics import PSNR, PerFramePSNR
from evals.metrics.inputs import as_frame_pair, as_frames, to_float01, to_uint8


def test_accepts_uint8_float_numpy_and_images() -> None:
    u8 = torch.randint(0, 256, (2, 3, 8, 8, 3), dtype=torch.uint8)
    assert as_frames(u8).shape == (2, 3, 8, 8, 3)
    assert as_frames(u8.numpy()).dtype == torch.uint8
    assert as_frames(u8.float() / 255).dtype == torch.float32
    assert as_frames(u8[:, 0], allow_images=True).shape == (2, 1, 8, 8, 3)


def test_uint8_and_float_agree() -> None:
    u8 = torch.randint(0, 256, (2, 3, 8, 8, 3), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float01(u8)), u8)
    assert torch.allclose(to_float01(u8), u8.float() / 255)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (torch.zeros(2, 3, 8, 8, 3, dtype=torch.int64), TypeError, "valid dtypes: uint8"),
        ([[0.0]], TypeError, "torch.Tensor or numpy.ndarray"),
        (torch.full((2, 3, 8, 8, 3), 1.5), ValueError, r"must lie in \[0, 1\]"),
        (torch.full((2, 3, 8, 8, 3), -0.5), ValueError, r"\(x \+ 1\) / 2"),
        (torch.full((2, 3, 8, 8, 3), float("nan")), ValueError, "NaN"),
        (torch.zeros(2, 3, 3, 8, 8), ValueError, "channels-first"),
        (torch.zeros(2, 8, 8, 3), ValueError, "needs videos"),
        (torch.zeros(2, 3, 8, 8), ValueError, r"\(B, T, H, W, 3\)"),
        (torch.zeros(0, 3, 8, 8, 3), ValueError, "empty axis"),
    ],
)
def test_bad_input_errors(bad: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        as_frames(bad)


@pytest.mark.parametrize(
    ("gen_shape", "axis"),
    [
        ((3, 4, 8, 8, 3), "videos"),
        ((2, 5, 8, 8, 3), "frames"),
        ((2, 4, 9, 8, 3), "height"),
        ((2, 4, 8, 7, 3), "width"),
    ],
)
def test_generated_real_mismatch_names_the_axis(gen_shape: tuple[int, ...], axis: str) -> None:
    with pytest.raises(ValueError, match=f"differ in {axis}"):
        as_frame_pair(torch.zeros(gen_shape), torch.zeros(2, 4, 8, 8, 3))


def test_metrics_reject_bad_input_through_update() -> None:
    metric = PSNR()
    with pytest.raises(ValueError, match="differ in frames"):
        metric.update(torch.zeros(2, 4, 16, 16, 3), torch.zeros(2, 5, 16, 16, 3))
    with pytest.raises(TypeError, match="valid dtypes"):
        metric.update(torch.zeros(2, 4, 16, 16, 3, dtype=torch.int32), torch.zeros(2, 4, 16, 16, 3))
    metric.update(torch.zeros(2, 4, 16, 16, 3), torch.ones(2, 4, 16, 16, 3))
    with pytest.raises(ValueError, match="one metric instance accumulates one protocol"):
        metric.update(torch.zeros(2, 4, 32, 32, 3), torch.ones(2, 4, 32, 32, 3))
    with pytest.raises(ValueError, match=r"num_frames=4\) got clips of 3 frames"):
        PerFramePSNR(4).update(torch.zeros(1, 3, 16, 16, 3), torch.zeros(1, 3, 16, 16, 3))
    with pytest.raises(ValueError, match="needs videos"):
        PerFramePSNR(1).update(torch.zeros(1, 16, 16, 3), torch.zeros(1, 16, 16, 3))
    with pytest.raises(ValueError, match="positive int"):
        PerFramePSNR(0)
    assert np.isfinite(float(metric.compute()))
