"""LPIPS v0.1 networks with their ImageNet trunks loaded from local files (no download).

The ``lpips`` package ships the v0.1 linear heads but fetches the trunk (AlexNet or VGG16) from
pytorch.org, which offline machines cannot reach. Here the trunk comes from a file found by
:func:`simworld.weights.find_weight` (torchvision's checkpoint or our safetensors copy), loaded by
key name into the package's ``net.slice*`` modules. Used by the VAE's perceptual loss and by the
LPIPS metric (``evals.metrics.lpips``), so both compute exactly the same network.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

import simworld  # noqa: F401  (applies the torchvision CPU fix before lpips imports torchvision)

VERSION = "0.1"
NETS = ("alex", "vgg")
MIN_SIDE = {"alex": 31, "vgg": 16}
"""Smallest frame side each trunk accepts: AlexNet's stride-4 conv and two 3×3/2 max-pools leave no
pixel below 31; VGG16's four 2×2 pools need 16."""
#: Registered weight names (``simworld.weights``) of each trunk.
TRUNK_WEIGHTS = {"alex": "lpips_alexnet_trunk", "vgg": "lpips_vgg16_trunk"}


def load_trunk_state_dict(path: str | Path, file_format: str) -> dict[str, torch.Tensor]:
    """Read a trunk checkpoint (``safetensors`` or a torch state dict) on the CPU, without pickle."""
    if file_format == "safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def load_trunk(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy torchvision ``features.N.*`` tensors into lpips' ``net.slice*.N.*`` modules.

    Every parameter of every slice must be provided with the right shape; other keys (torchvision's
    ``classifier.*``) are ignored.

    Raises:
        ValueError: missing keys or wrong shapes, named.
    """
    targets: dict[str, torch.nn.Parameter] = {}
    for slice_name, block in model.net.named_children():
        if slice_name.startswith("slice"):
            for child_name, child in block.named_children():
                for param_name, param in child.named_parameters(recurse=False):
                    targets[f"features.{child_name}.{param_name}"] = param
    missing = [key for key in targets if key not in state]
    wrong = [
        f"{key}: expected {tuple(p.shape)}, got {tuple(state[key].shape)}"
        for key, p in targets.items()
        if key in state and tuple(state[key].shape) != tuple(p.shape)
    ]
    if missing or wrong:
        raise ValueError(f"trunk checkpoint does not fit lpips: missing {missing}, wrong shape {wrong}")
    with torch.no_grad():
        for key, param in targets.items():
            param.copy_(state[key].to(param.dtype))


def build_lpips(net: str, trunk_path: str | Path, trunk_format: str) -> torch.nn.Module:
    """LPIPS v0.1 (``net`` = "alex" or "vgg") with the v0.1 heads and the trunk from ``trunk_path``.

    The network takes float (N, 3, H, W) in [-1, 1], is in eval mode and has no trainable parameters.

    Raises:
        ValueError: unknown ``net``, or a trunk file that does not fit.
    """
    if net not in NETS:
        raise ValueError(f"unknown LPIPS net {net!r}; valid options: {', '.join(NETS)}")
    import lpips

    with warnings.catch_warnings():
        # lpips asks torchvision for an untrained trunk with the deprecated `pretrained=False`.
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version=VERSION, pretrained=True, pnet_rand=True, verbose=False)
    load_trunk(model, load_trunk_state_dict(trunk_path, trunk_format))
    return model.eval().requires_grad_(False)
