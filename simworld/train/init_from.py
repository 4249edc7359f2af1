"""Start a training run from the weights of an existing checkpoint (``trainer.init_from``).

The source is a world-model checkpoint folder (``<out>/checkpoint`` of a training run, or a
``simworld export``; a run folder holding ``checkpoint/`` is accepted too). Its latent space must
be the run's (kind, spatial/temporal factor, channels), and its DiT and reward/termination head
must have exactly the tensors of the configured model (every name and shape): loading is strict.
Weights stored in float16/bfloat16 (exports) are cast to the model's dtype. Settings that change
no tensor shape may differ from the source's (``model.temporal``, the objective, the noise
schedule, data sizes, learning rate, ...); ``model.attention`` changes the blocks' sub-layers, so
it must match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from simworld.checkpoint import MANIFEST_NAME, latent_kind, load_checkpoint, read_manifest
from simworld.data.shards import sha256_file
from simworld.models.dit import PRESETS, DiTConfig
from simworld.models.serialization import WEIGHTS_NAME
from simworld.train.components import Denoiser

_LATENT_KEYS = ("kind", "spatial_factor", "temporal_factor", "latent_channels")
_SHOWN = 3  # mismatching tensors named per kind of mismatch


def resolve_init_from(path: str | Path) -> Path:
    """The checkpoint folder of ``path``: itself, or ``path/checkpoint`` for a training run folder.

    Raises:
        ValueError: neither holds a checkpoint manifest.
    """
    folder = Path(path)
    if not (folder / MANIFEST_NAME).is_file() and (folder / "checkpoint" / MANIFEST_NAME).is_file():
        folder = folder / "checkpoint"
    if not (folder / MANIFEST_NAME).is_file():
        raise ValueError(
            f"trainer.init_from={str(path)!r}: no {MANIFEST_NAME} there (nor in its checkpoint/); "
            f"pass a checkpoint folder written by simworld train or simworld export"
        )
    return folder.resolve()


def check_latent_space(folder: Path, latent_space: Any) -> None:
    """Raise ValueError unless the checkpoint in ``folder`` uses the run's kind of latent space.

    Args:
        folder: the checkpoint folder (see :func:`resolve_init_from`).
        latent_space: the run's ``VideoVAE`` or ``PixelSpace``.
    """
    source = {k: read_manifest(folder).latent_space[k] for k in _LATENT_KEYS}
    config = latent_space.config
    run = {"kind": latent_kind(latent_space), **{k: getattr(config, k) for k in _LATENT_KEYS[1:]}}
    if source != run:
        raise ValueError(
            f"trainer.init_from={folder}: its latent space {source} differs from the run's {run} "
            f"(configure vae to match it, e.g. vae.pretrained={folder / 'vae'} for a VAE checkpoint)"
        )


def _settings(config: DiTConfig, preset: str | None = None) -> str:
    """The model settings that decide tensor shapes, for error messages."""
    if preset is None:
        size = {"hidden_size": config.hidden_size, "depth": config.depth, "num_heads": config.num_heads}
        preset = next((name for name, p in PRESETS.items() if p == size), "custom")
    return (
        f"preset {preset}, width {config.hidden_size}, depth {config.depth}, patch_size "
        f"{config.patch_size}, latent channels {config.in_channels}, attention {config.attention}"
    )


def _mismatches(source: dict[str, torch.Tensor], model: dict[str, torch.Tensor]) -> list[str]:
    """The first missing, unexpected and wrongly shaped tensor names of ``source`` against ``model``."""
    missing = sorted(set(model) - set(source))
    unexpected = sorted(set(source) - set(model))
    shapes = [
        f"{k}: checkpoint {tuple(source[k].shape)} vs model {tuple(model[k].shape)}"
        for k in sorted(set(source) & set(model))
        if source[k].shape != model[k].shape
    ]
    problems = []
    for label, names in (("missing in checkpoint", missing), ("not in model", unexpected), ("shape", shapes)):
        if names:
            more = f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
            problems.append(f"{label}: {names[:_SHOWN]}{more}")
    return problems


def load_init_weights(denoiser: Denoiser, folder: Path, preset: str) -> dict[str, Any]:
    """Load the checkpoint's DiT and head weights into ``denoiser``, strictly.

    Args:
        denoiser: the freshly built DiT + head (before the optimizer and EMA copy are made).
        folder: the checkpoint folder (see :func:`resolve_init_from`).
        preset: the configured DiT preset (``model.preset``), named in errors.

    Returns:
        The model card's ``init_from`` record: ``path``, ``steps`` (the source's training steps
        when its manifest records them, else None) and ``dit_sha256`` (its DiT weights file).

    Raises:
        ValueError: a tensor name or shape differs (the first few are named, with the
            checkpoint's and the configured model settings).
    """
    dtype = next(denoiser.parameters()).dtype
    source = load_checkpoint(folder, dtype=dtype)
    state = {f"dit.{k}": v for k, v in source.dit.state_dict().items()}
    state.update({f"head.{k}": v for k, v in source.head.state_dict().items()})
    problems = _mismatches(state, denoiser.state_dict())
    if problems:
        raise ValueError(
            f"trainer.init_from={folder}: its weights do not fit the configured model; "
            + "; ".join(problems)
            + f". Checkpoint: {_settings(source.dit.config)}, head hidden {source.head.config.hidden}; "
            f"configured: {_settings(denoiser.dit.config, preset)}, head hidden "
            f"{denoiser.head.config.hidden}"
        )
    denoiser.load_state_dict(state, strict=True)
    return {
        "path": str(folder),
        "steps": source.manifest.training.get("steps"),
        "dit_sha256": sha256_file(folder / "dit" / WEIGHTS_NAME),
    }
