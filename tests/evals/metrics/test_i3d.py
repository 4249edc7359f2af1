"""InceptionI3d: VideoGPT's published key layout, strict loading, SAME padding, forward shape."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from evals.metrics.i3d import MIN_FRAMES, InceptionI3d, init_random_i3d, load_i3d_state_dict, same_padding

# The module names of VideoGPT's videogpt/fvd/pytorch_i3d.py (InceptionI3d end points, Unit3D's
# conv3d/bn, InceptionModule's b0, b1a, b1b, b2a, b2b, b3b), restated here independently.
UNITS = ["Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3"]
MIXED = [
    "Mixed_3b",
    "Mixed_3c",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "Mixed_5b",
    "Mixed_5c",
]
BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def published_keys() -> set[str]:
    units = UNITS + [f"{m}.{b}" for m in MIXED for b in ("b0", "b1a", "b1b", "b2a", "b2b", "b3b")]
    keys = {f"{u}.conv3d.weight" for u in units} | {f"{u}.bn.{p}" for u in units for p in BN}
    return keys | {"logits.conv3d.weight", "logits.conv3d.bias"}


def test_key_names_are_the_published_ones() -> None:
    model = InceptionI3d()
    assert set(model.state_dict()) == published_keys()
    assert model.state_dict()["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    assert model.state_dict()["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert model.state_dict()["Mixed_5c.b1b.conv3d.weight"].shape == (384, 192, 3, 3, 3)


def test_loads_a_saved_state_dict_by_key_name(tmp_path: Path) -> None:
    torch.manual_seed(3)
    state = {k: v.clone() for k, v in InceptionI3d().state_dict().items()}  # random weights
    for key in state:
        if key.endswith(("running_mean", "running_var")):
            state[key] = torch.rand(state[key].shape) + 0.5  # non-default buffers must load too
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(state, path)
    target = InceptionI3d()
    load_i3d_state_dict(target, torch.load(path, weights_only=True))
    for key, value in target.state_dict().items():
        assert torch.equal(value, state[key]), key
    # Files from old PyTorch have no num_batches_tracked: still a strict load otherwise.
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    load_i3d_state_dict(InceptionI3d(), old)


def test_strict_loading_names_bad_keys() -> None:
    state = InceptionI3d().state_dict()
    missing = dict(state)
    del missing["Mixed_4d.b2b.conv3d.weight"]
    with pytest.raises(ValueError, match=r"missing \(1\): Mixed_4d.b2b.conv3d.weight"):
        load_i3d_state_dict(InceptionI3d(), missing)
    prefixed = {f"module.{k}": v for k, v in state.items()}
    with pytest.raises(ValueError, match="unexpected .*module.Conv3d_1a_7x7.conv3d.weight"):
        load_i3d_state_dict(InceptionI3d(), prefixed)
    reshaped = dict(state)
    reshaped["logits.conv3d.bias"] = torch.zeros(600)
    with pytest.raises(ValueError, match=r"logits.conv3d.bias: expected \(400,\), got \(600,\)"):
        load_i3d_state_dict(InceptionI3d(), reshaped)


@pytest.mark.parametrize("size", [7, 8, 9, 16, 224])
@pytest.mark.parametrize(("kernel", "stride"), [(7, 2), (3, 1), (3, 2), (2, 2), (1, 1)])
def test_same_padding_is_tensorflows(size: int, kernel: int, stride: int) -> None:
    front, back = same_padding((size,), (kernel,), (stride,))
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)  # TF's SAME rule
    assert (front, back) == (total // 2, total - total // 2)
    assert (size + front + back - kernel) // stride + 1 == math.ceil(size / stride)


def test_forward_shape_and_minimum_frames() -> None:
    model = init_random_i3d(seed=0)
    with torch.no_grad():
        out = model(torch.rand(1, 3, MIN_FRAMES, 224, 224) * 2 - 1)
        assert out.shape == (1, 400) and torch.isfinite(out).all()
        assert 0.01 < float(out.std()) < 100  # the test initialisation keeps features O(1)
        with pytest.raises(ValueError, match="at least 9 frames"):
            model(torch.zeros(1, 3, MIN_FRAMES - 1, 224, 224))
