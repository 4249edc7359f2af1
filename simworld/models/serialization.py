"""Saving and strictly loading one model component: ``config.json`` + ``model.safetensors``.

No pickle: ``config.json`` is ``{"class_name", "format_version", "config": {dataclass fields}}``
(the layout ``VideoVAE.save_pretrained`` uses too), weights are safetensors. Loading is strict:
another class or format version, unknown or missing config keys, missing or unexpected weight
names and shape mismatches raise ``CheckpointError`` naming the file they came from.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
COMPONENT_FORMAT_VERSION = 1

C = TypeVar("C")


class CheckpointError(ValueError):
    """A checkpoint folder or file that cannot be loaded as asked (names the file and the problem)."""


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``.

    Raises:
        CheckpointError: missing file, invalid JSON or not an object.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: invalid JSON ({err})") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def config_from_dict(cls: type[C], data: dict[str, Any], source: Path | str) -> C:
    """Build the dataclass ``cls`` from ``data``, refusing unknown and missing keys.

    Keys named in ``cls.ADDED_LATER`` (fields added after checkpoints were first written) may be
    missing: such a checkpoint predates the field and gets its default, which is the old behaviour.

    Args:
        cls: a dataclass type whose fields are JSON values.
        data: the loaded JSON object.
        source: the file it came from (for errors).

    Raises:
        CheckpointError: unknown keys, missing keys, or values the dataclass rejects.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    # fields added after checkpoints were written: their absence means the default's behaviour
    later = set(getattr(cls, "ADDED_LATER", ()))
    unknown, missing = sorted(set(data) - fields), sorted(fields - set(data) - later)
    if unknown or missing:
        raise CheckpointError(
            f"{source}: {cls.__name__} keys do not match; unknown: {unknown}, missing: {missing}"
        )
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: invalid {cls.__name__}: {err}") from err


def write_component_config(folder: Path, class_name: str, config: Any) -> None:
    """Write ``folder/config.json`` for the dataclass ``config`` of class ``class_name``."""
    write_json(
        folder / CONFIG_NAME,
        {
            "class_name": class_name,
            "format_version": COMPONENT_FORMAT_VERSION,
            "config": dataclasses.asdict(config),
        },
    )


def read_component_config(folder: Path, class_name: str, config_cls: type[C]) -> C:
    """Read ``folder/config.json`` written by ``write_component_config``, strictly.

    Raises:
        CheckpointError: missing file, another class or format version, or bad config keys/values.
    """
    path = folder / CONFIG_NAME
    data = read_json(path)
    if set(data) != {"class_name", "format_version", "config"}:
        raise CheckpointError(
            f"{path}: expected keys ['class_name', 'config', 'format_version'], got {sorted(data)}"
        )
    if data["class_name"] != class_name or data["format_version"] != COMPONENT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: expected class_name {class_name!r} and format_version "
            f"{COMPONENT_FORMAT_VERSION}, got {data['class_name']!r} and {data['format_version']!r}"
        )
    if not isinstance(data["config"], dict):
        raise CheckpointError(f"{path}: 'config' must be a JSON object")
    return config_from_dict(config_cls, data["config"], path)


def save_component(folder: str | Path, config: Any, module: nn.Module) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (state dict) of ``module`` into ``folder``.

    Returns:
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_component_config(folder, type(module).__name__, config)
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
    return folder


def load_state_strict(module: nn.Module, path: Path) -> None:
    """Load safetensors weights from ``path`` into ``module``; every name and shape must match.

    Raises:
        CheckpointError: missing file, missing/unexpected keys or shape mismatches, all listed.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    state = load_file(str(path))
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{path}: weights do not match {type(module).__name__}; missing keys: {missing}; "
            f"unexpected keys: {unexpected}; shape mismatches: {shapes}"
        )
    module.load_state_dict(state, strict=True)


def load_component(
    folder: str | Path,
    module_cls: type[nn.Module],
    config_cls: type[C],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Rebuild a component saved by ``save_component``.

    Args:
        folder: the component folder.
        module_cls: its class, built as ``module_cls(config)``.
        config_cls: its config dataclass.
        device: device to move it to.
        dtype: floating dtype to cast it to.

    Returns:
        The module, in eval mode.

    Raises:
        CheckpointError: a bad config or weights (names the file).
    """
    folder = Path(folder)
    config = read_component_config(folder, module_cls.__name__, config_cls)
    module = module_cls(config)
    load_state_strict(module, folder / WEIGHTS_NAME)
    return module.to(device=device, dtype=dtype).eval()
