"""PixelSpace (lossless latent space), the reward/termination head, and component serialization."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from simworld.models.heads import RewardHeadConfig, RewardTerminationHead
from simworld.models.pixel_space import PixelSpace, PixelSpaceConfig
from simworld.models.serialization import CheckpointError, load_component, save_component


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_pixel_space_is_lossless(factor, tmp_path):
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 16, 8, 3), dtype=np.uint8))
    space = PixelSpace(PixelSpaceConfig(factor))
    latents = space.encode(frames)
    assert latents.shape == (2, 3, 3 * factor**2, 16 // factor, 8 // factor)
    assert latents.min() >= -1 and latents.max() <= 1
    assert torch.equal(space.decode(latents), frames)
    space.save_pretrained(tmp_path / "pixel")
    loaded = PixelSpace.from_pretrained(tmp_path / "pixel", dtype=torch.float64)
    assert loaded.config == space.config and loaded.encode(frames).dtype == torch.float64
    assert space.config.temporal_factor == 1 and space.config.latent_channels == 3 * factor**2


def test_pixel_space_errors(tmp_path):
    with pytest.raises(ValueError, match="spatial_factor must be one of"):
        PixelSpaceConfig(3)
    space = PixelSpace(PixelSpaceConfig(2))
    with pytest.raises(ValueError, match="expected uint8"):
        space.encode(torch.zeros(1, 1, 8, 8, 3))
    with pytest.raises(ValueError, match="divisible by 2"):
        space.encode(torch.zeros(1, 1, 7, 8, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="expected latents"):
        space.decode(torch.zeros(1, 1, 3, 4, 4))
    with pytest.raises(CheckpointError, match="not found"):
        PixelSpace.from_pretrained(tmp_path)


def test_head_shapes():
    head = RewardTerminationHead(RewardHeadConfig(in_dim=16, hidden=8))
    out = head(torch.randn(2, 5, 9, 16))
    assert out.reward.shape == (2, 5) and out.termination_logit.shape == (2, 5)


def test_component_strict_loading(tmp_path):
    head = RewardTerminationHead(RewardHeadConfig(in_dim=16, hidden=8))
    folder = save_component(tmp_path / "heads", head.config, head)
    loaded = load_component(folder, RewardTerminationHead, RewardHeadConfig)
    x = torch.randn(1, 2, 3, 16)
    torch.testing.assert_close(loaded(x).reward, head.eval()(x).reward)
    # A config that describes another shape: the weights no longer fit.
    data = json.loads((folder / "config.json").read_text())
    data["config"]["hidden"] = 4
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"model.safetensors.*shape mismatches"):
        load_component(folder, RewardTerminationHead, RewardHeadConfig)
    data["config"]["hiddn"] = 4
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"config.json.*unknown: \['hiddn'\]"):
        load_component(folder, RewardTerminationHead, RewardHeadConfig)
    data["config"].pop("hiddn")
    data["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="format_version"):
        load_component(folder, RewardTerminationHead, RewardHeadConfig)
