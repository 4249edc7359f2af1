"""simworld.lpips_net: one LPIPS builder for the VAE loss and the metric."""

from __future__ import annotations

import pytest
import torch

from simworld.lpips_net import build_lpips, load_trunk
from simworld.weights import find_weight


def test_loss_and_metric_share_the_same_network() -> None:
    lookup = find_weight("lpips_alexnet_trunk")
    if lookup.path is None:
        pytest.skip("the AlexNet trunk (../shared/weights) is not available")
    from evals.metrics.lpips import build_lpips_network
    from simworld.models.vae_loss import load_lpips

    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    metric_net, _ = build_lpips_network("alex")
    loss_net = load_lpips().net
    assert torch.equal(metric_net(x, y), loss_net(x, y))
    assert not any(p.requires_grad for p in loss_net.parameters())


def test_trunk_with_missing_or_misshapen_keys_is_named() -> None:
    lookup = find_weight("lpips_alexnet_trunk")
    if lookup.path is None:
        pytest.skip("the AlexNet trunk (../shared/weights) is not available")
    model = build_lpips("alex", lookup.path, lookup.file.format)
    with pytest.raises(ValueError, match=r"missing \['features.0.weight'"):
        load_trunk(model, {})
    zeros = {f"features.{i}.{p}": torch.zeros(1) for i in (0, 3, 6, 8, 10) for p in ("weight", "bias")}
    with pytest.raises(ValueError, match="wrong shape"):
        load_trunk(model, zeros)


def test_unknown_net_lists_valid_options() -> None:
    with pytest.raises(ValueError, match="valid options: alex, vgg"):
        build_lpips("squeeze", "unused", "safetensors")
